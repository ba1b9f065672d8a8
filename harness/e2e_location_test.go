package harness_test

// End-to-end checks of service location (issue 14): the built-ins' stories, a variant
// with the publication off that must fail its gate, and ldapsearch and dig reading
// what a run's site server publishes, from inside the run's client namespace.

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

func init() {
	builtinStories["ad-port-change"] = func(t *testing.T, res *reports.Result) {
		d := group(t, res, "domain")
		if l := d.Location; l == nil || l.Learned["ad"] != d.Count || l.Followed != d.Count || d.PortsUsed[8080] != d.Count {
			t.Errorf("domain: location %+v, ports used %v; want every client on 8080, learned from AD DS", d.Location, d.PortsUsed)
		} else if l.FollowTime.P50 < 10 || l.FollowTime.Max > 20 {
			t.Errorf("domain: follow time p50 %.2fs max %.2fs; want after the 10s publication delay, within a few cycles", l.FollowTime.P50, l.FollowTime.Max)
		}
		for _, name := range []string{"workgroup", "internet", "branch"} {
			g := group(t, res, name)
			if g.Unmanaged != g.Count || g.Location == nil || g.Location.Learned["never"] != g.Count || g.Location.Followed != 0 {
				t.Errorf("%s: unmanaged %d of %d, location %+v; want all unmanaged, none learned", name, g.Unmanaged, g.Count, g.Location)
			}
		}
		// Why: workgroup and internet clients never ask AD DS; the branch asks and fails.
		if wg, in := group(t, res, "workgroup"), group(t, res, "internet"); wg.Location.LDAPQueries != 0 || in.Location.LDAPQueries != 0 || in.Location.DNSQueries != 0 {
			t.Errorf("workgroup %+v / internet %+v: a client without AD DS asked it", wg.Location, in.Location)
		}
		if b := group(t, res, "branch").Location; b.LDAPQueries == 0 || b.LDAPFailures != b.LDAPQueries {
			t.Errorf("branch: %d LDAP queries, %d failed; want every global catalog lookup to fail", b.LDAPQueries, b.LDAPFailures)
		}
		if c := ruleCounter(t, res, "wan", "no-gc"); c.Packets == 0 {
			t.Error("the no-gc rule dropped nothing")
		}
		if l := res.Location; l == nil || l.HTTP != 8080 || !l.PublishAD || l.PublishDNS || len(l.LDAP) != 2 {
			t.Errorf("site publication at the end %+v; want AD DS with 8080, no DNS, two LDAP listeners", res.Location)
		}
	}
	builtinStories["stale-dns-srv"] = func(t *testing.T, res *reports.Result) {
		wg, d := group(t, res, "workgroup"), group(t, res, "domain")
		if wg.Location == nil || wg.Location.Learned["dns"] != wg.Count || wg.PortsUsed[8080] != wg.Count {
			t.Errorf("workgroup: location %+v, ports used %v; want all on 8080 from the fixed record", wg.Location, wg.PortsUsed)
		}
		// Nobody followed before the record was fixed at 22s (14s after the change).
		if l := wg.Location; l != nil && l.FollowTime.P50 < 14 {
			t.Errorf("workgroup: follow time p50 %.2fs: clients followed before the record was fixed", l.FollowTime.P50)
		}
		for _, tr := range wg.Transitions {
			if tr.To == "followed" && tr.T < 21.5 {
				t.Errorf("workgroup: %d clients followed at %gs, before the fix at 22s", tr.Count, tr.T)
			}
		}
		// The stale record made them unmanaged in between.
		unmanaged := 0
		for _, tr := range wg.Transitions {
			if tr.To == "unmanaged" {
				unmanaged += tr.Count
			}
		}
		if unmanaged != wg.Count {
			t.Errorf("workgroup: %d went unmanaged while the record was stale, want all %d", unmanaged, wg.Count)
		}
		if d.Location == nil || d.Location.Learned["ad"] != d.Count || d.Location.FollowTime.P99 > 10 {
			t.Errorf("domain: location %+v; want all from AD DS within 10s of the change", d.Location)
		}
		if l := res.Location; l == nil || len(l.Records) != 1 || !strings.Contains(l.Records[0], "8080") {
			t.Errorf("hand-made records at the end %+v; want the one fixed record with 8080", res.Location)
		}
	}
	builtinStories["custom-website"] = func(t *testing.T, res *reports.Result) {
		for name, port := range map[string]int{"domain": 8080, "domain-https": 8443, "secondary": 8080} {
			g := group(t, res, name)
			if g.Managed != g.Count || g.PortsUsed[port] != g.Count || g.Location == nil || g.Location.Learned["ad"] != g.Count {
				t.Errorf("%s: managed %d of %d, ports used %v, location %+v; want all on %d from AD DS", name, g.Managed, g.Count, g.PortsUsed, g.Location, port)
			}
		}
		if wg := group(t, res, "workgroup"); wg.Unmanaged != wg.Count || wg.PortsUsed[8080] != 0 {
			t.Errorf("workgroup: unmanaged %d of %d, ports used %v; want all unmanaged, never on 8080", wg.Unmanaged, wg.Count, wg.PortsUsed)
		}
		var ev bool
		for _, e := range res.Events {
			ev = ev || (e.Kind == "site_ports" && strings.Contains(e.Detail, "custom website on") && strings.Contains(e.Detail, "http 80 -> 8080") && strings.Contains(e.Detail, "https 443 -> 8443"))
		}
		if !ev {
			t.Errorf("no site change event saying the custom website moved 80/443 to 8080/8443: %+v", res.Events)
		}
	}
	builtinStories["notification-blocked"] = func(t *testing.T, res *reports.Result) {
		open, blocked := group(t, res, "open"), group(t, res, "blocked")
		if open.Notification["tcp"] != open.Count || blocked.Notification["tcp"] != 0 || blocked.Notification["http"] != blocked.Count {
			t.Errorf("notification channels at the end: open %v, blocked %v; want open all on TCP, blocked all long polling over HTTP", open.Notification, blocked.Notification)
		}
		push := map[string]reports.PushStats{}
		for _, p := range res.Push {
			push[p.Group] = p
		}
		if po, pb := push["open"], push["blocked"]; po.Delivered != po.Targeted || pb.Delivered != pb.Targeted || pb.Latency.P50 <= po.Latency.P50 {
			t.Errorf("pushes open %+v, blocked %+v; want all delivered, slower to the blocked group", po, pb)
		}
		if co, cb := mpCost(t, res, "mp-open"), mpCost(t, res, "mp-blocked"); cb.CPUPerClientMinuteUS <= co.CPUPerClientMinuteUS {
			t.Errorf("MP CPU per client-minute: open %.0fµs, blocked %.0fµs; want long polling to cost the MP more", co.CPUPerClientMinuteUS, cb.CPUPerClientMinuteUS)
		}
	}
}

// The gate can fail: ad-port-change with the AD DS publication turned off leaves the
// domain group on port 80, unmanaged, and the run exits 1.
func TestE2EADUnpublishedFails(t *testing.T) {
	t.Parallel()
	needBinary(t)
	src, err := scenarios.BuiltinSource("ad-port-change")
	if err != nil {
		t.Fatal(err)
	}
	const on = "publish: {ad: true, dns: false, delay: 10s}"
	if !bytes.Contains(src, []byte(on)) {
		t.Fatalf("ad-port-change no longer says %q", on)
	}
	path := filepath.Join(t.TempDir(), "unpublished.yaml")
	if err := os.WriteFile(path, bytes.Replace(src, []byte(on), []byte("publish: {ad: false, dns: false, delay: 10s}"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, path)
	code := r.wait(90 * time.Second)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (the domain group's gate failed)", code)
	}
	res := r.result()
	for _, g := range res.Gates {
		domain := strings.Contains(g.Name, "group=domain")
		if g.Passed == domain {
			t.Errorf("gate %s passed=%v: %s (want the domain gates failed, the others passed)", g.Name, g.Passed, g.Message)
		}
	}
	if d := group(t, res, "domain"); d.Location == nil || d.Location.Learned["never"] != d.Count || d.Location.LDAPFailures == 0 {
		t.Errorf("domain: location %+v; want none learned, failed AD DS lookups (nothing published)", d.Location)
	}
	r.noLeftovers()
}

// ldapsearch and dig read what a run's site server publishes, from inside the client
// segment's namespace (through the router), while the run goes on.
func TestE2ELocationInterop(t *testing.T) {
	t.Parallel()
	needBinary(t)
	for _, tool := range []string{"ldapsearch", "dig", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test-tools)", tool)
		}
	}
	r := startRun(t, "testdata/e2e-location.yaml", "--keep")
	r.waitLine("load running", 60*time.Second)
	r.noteNamespaces()
	id := r.runID()
	cleaned := false
	t.Cleanup(func() { // a test that failed early still removes the pinned namespaces
		if !cleaned {
			exec.Command(r.bin, "clean", "--run", id).Run()
		}
	})
	r.waitLine("publish at 5s", 30*time.Second)
	siteNS, clientNS := "portlab-"+id+"-site", "portlab-"+id+"-client-lan"
	out, err := exec.Command("ip", "-n", siteNS, "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s addr: %v\n%s", siteNS, err, out)
	}
	var addr string
	for _, m := range regexp.MustCompile(`inet (198\.1[89]\.[0-9.]+)/`).FindAllStringSubmatch(string(out), -1) {
		addr = m[1]
	}
	if addr == "" {
		t.Fatalf("no address of the site server in:\n%s", out)
	}
	inClient := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", clientNS}, args...)...)
		cmd.Env = append(os.Environ(), "LDAPNOINIT=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("%s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	for _, port := range []string{"389", "3268"} {
		ldif := inClient("ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=5", "-H", "ldap://"+addr+":"+port,
			"-b", "CN=System Management,CN=System,DC=corp,DC=example", "(objectClass=mSSMSManagementPoint)", "dNSHostName", "mSSMSCapabilities")
		if !strings.Contains(ldif, "dNSHostName: mp1.corp.example") {
			t.Errorf("port %s: no MP object for mp1.corp.example", port)
		}
		var caps string
		for _, line := range strings.Split(ldif, "\n") {
			if v, ok := strings.CutPrefix(line, "mSSMSCapabilities:: "); ok {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("mSSMSCapabilities: %v", err)
				}
				caps = string(b)
			}
		}
		if !strings.Contains(caps, `<IISPorts HTTP="8080"`) {
			t.Errorf("port %s: mSSMSCapabilities %q does not publish the new HTTP port 8080", port, caps)
		}
	}
	srv := inClient("dig", "@"+addr, "+time=2", "+tries=1", "+short", "SRV", "_mssms_mp_ps1._tcp.corp.example")
	if strings.TrimSpace(srv) != "0 0 8080 mp1.corp.example." {
		t.Errorf("dig SRV: %q, want 0 0 8080 mp1.corp.example.", srv)
	}
	if a := inClient("dig", "@"+addr, "+tcp", "+time=2", "+tries=1", "+short", "A", "mp1.corp.example"); !regexp.MustCompile(`^198\.1[89]\.`).MatchString(strings.TrimSpace(a)) {
		t.Errorf("dig +tcp A mp1: %q", a)
	}
	code := r.wait(60 * time.Second)
	checkPassedRun(t, r, code)
	out, err = exec.Command(r.bin, "clean", "--run", id).CombinedOutput()
	cleaned = true
	if err != nil {
		t.Errorf("portlab clean --run %s: %v\n%s", id, err, out)
	}
	r.noLeftovers()
}
