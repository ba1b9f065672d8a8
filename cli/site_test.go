package cli

import (
	"encoding/base64"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// portlab site serve, read by the real clients of Debian's ldap-utils and bind9-dnsutils.

func startSiteServe(t *testing.T, args ...string) (*proc, map[string]string) {
	t.Helper()
	p := start(t, nil, append([]string{"site", "serve"}, args...)...)
	re := regexp.MustCompile(`(?m)^(ldap|gc|dns)\s+(?:ldap|dns)://(\S+)\s*$`)
	got := map[string]string{}
	if !poll(20*time.Second, func() bool {
		for _, m := range re.FindAllStringSubmatch(p.out.String(), -1) {
			got[m[1]] = m[2]
		}
		return strings.Contains(p.out.String(), "try: ")
	}) {
		p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		t.Fatalf("site serve printed no addresses in time: %s", p)
	}
	return p, got
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (make test-tools installs ldap-utils and bind9-dnsutils)", name)
	}
	return bin
}

// capabilities runs ldapsearch for the MP objects and returns dNSHostName -> decoded
// mSSMSCapabilities.
func capabilities(t *testing.T, addr string) map[string]string {
	t.Helper()
	cmd := exec.Command(needTool(t, "ldapsearch"), "-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=5", "-H", "ldap://"+addr,
		"-b", "CN=System Management,CN=System,DC=corp,DC=example", "(objectClass=mSSMSManagementPoint)", "dNSHostName", "mSSMSCapabilities")
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch %s: %v\n%s", addr, err, out)
	}
	got := map[string]string{}
	for block := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n\n") {
		var host, caps string
		for line := range strings.SplitSeq(block, "\n") {
			if v, ok := strings.CutPrefix(line, "dNSHostName: "); ok {
				host = v
			}
			if v, ok := strings.CutPrefix(line, "mSSMSCapabilities:: "); ok {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatalf("mSSMSCapabilities %q: %v", v, err)
				}
				caps = string(b)
			}
		}
		if host != "" {
			got[host] = caps
		}
	}
	return got
}

func digShort(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	full := append([]string{"@" + host, "-p", port, "+time=2", "+tries=1", "+short"}, args...)
	out, err := exec.Command(needTool(t, "dig"), full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", full, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestSiteServeInterop(t *testing.T) {
	needTool(t, "ldapsearch")
	needTool(t, "dig")
	p, addrs := startSiteServe(t, "--ldap", "127.0.0.1:0", "--gc", "127.0.0.1:0", "--dns", "127.0.0.1:0",
		"--mp", "mp1=127.0.0.11", "--mp", "mp2=127.0.0.12", "--http", "8080", "--record", "_mssms_mp_ps1._tcp:80:mp1")
	for _, k := range []string{"ldap", "gc", "dns"} {
		if !strings.HasPrefix(addrs[k], "127.0.0.1:") || strings.HasSuffix(addrs[k], ":0") {
			t.Fatalf("%s address %q: want 127.0.0.1:<picked port> (%s)", k, addrs[k], p)
		}
	}
	for _, k := range []string{"ldap", "gc"} {
		caps := capabilities(t, addrs[k])
		for _, mp := range []string{"mp1.corp.example", "mp2.corp.example"} {
			if !strings.Contains(caps[mp], `<IISPorts HTTP="8080" HTTPS="443">`) {
				t.Errorf("%s: %s capabilities %q: want the published ports 8080/443 in <IISPorts>", k, mp, caps[mp])
			}
		}
	}
	// The published SRV records carry 8080; the hand-made one, beside them, 80.
	srv := strings.Split(digShort(t, addrs["dns"], "SRV", "_mssms_mp_ps1._tcp.corp.example"), "\n")
	want := map[string]bool{"0 0 8080 mp1.corp.example.": true, "0 0 8080 mp2.corp.example.": true, "0 0 80 mp1.corp.example.": true}
	for _, l := range srv {
		delete(want, l)
	}
	if len(srv) != 3 || len(want) != 0 {
		t.Errorf("dig SRV: %q; missing %v", srv, want)
	}
	if a := digShort(t, addrs["dns"], "+tcp", "A", "mp2.corp.example"); a != "127.0.0.12" {
		t.Errorf("dig +tcp A mp2: %q", a)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, ok := p.wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("site serve after SIGINT: exit %d (exited %v), want 0: %s", code, ok, p)
	}
	if !strings.Contains(p.out.String(), "stopped: LDAP 2 connections, 2 searches, 0 errors") || !strings.Contains(p.out.String(), "DNS 2 queries (1 UDP, 1 TCP; 1 SRV, 1 A)") {
		t.Errorf("site serve summary does not count what was asked: %s", p)
	}
}

// With --scenario the publication is the scenario's: ad-port-change publishes to AD DS
// only, so DNS has the MP's A record and no SRV record.
func TestSiteServeScenario(t *testing.T) {
	needTool(t, "ldapsearch")
	needTool(t, "dig")
	p, addrs := startSiteServe(t, "--ldap", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--scenario", "ad-port-change", "--duration", "20s")
	defer p.cmd.Process.Signal(os.Interrupt)
	caps := capabilities(t, addrs["ldap"])
	if len(caps) != 1 || !strings.Contains(caps["mp1.corp.example"], `HTTP="80"`) {
		t.Errorf("ad-port-change at its start: %v; want mp1 with HTTP 80", caps)
	}
	if srv := digShort(t, addrs["dns"], "SRV", "_mssms_mp_ps1._tcp.corp.example"); srv != "" {
		t.Errorf("dig SRV: %q; want none (publish.dns is false)", srv)
	}
	if a := digShort(t, addrs["dns"], "A", "mp1.corp.example"); !strings.HasPrefix(a, "198.19.") {
		t.Errorf("dig A mp1: %q; want its lab address", a)
	}
}

func TestSiteServeInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing to serve", nil, "nothing to serve"},
		{"not loopback", []string{"--ldap", "198.18.0.1:389"}, "loopback"},
		{"bad mp", []string{"--dns", "127.0.0.1:0", "--mp", "mp1"}, "NAME=IPv4"},
		{"bad record", []string{"--dns", "127.0.0.1:0", "--record", "x:99999:mp1"}, "--record"},
		{"same ports", []string{"--dns", "127.0.0.1:0", "--http", "443"}, "cannot share"},
		{"scenario and flags", []string{"--dns", "127.0.0.1:0", "--scenario", "port-change", "--domain", "x.example"}, "--domain"},
		{"bad domain", []string{"--ldap", "127.0.0.1:0", "--domain", "bad..name"}, "domain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"site", "serve"}, c.args...)
			r, _ := runFor(t, 10*time.Second, "", args...)
			if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
				t.Errorf("%v: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", args, r.code, c.want, r.stdout, r.err)
			}
			if strings.Contains(r.stdout, "Ctrl-C stops") {
				t.Errorf("%v started serving: %s", args, r.stdout)
			}
		})
	}
}
