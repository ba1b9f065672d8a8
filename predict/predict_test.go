package predict

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

func lower(t *testing.T, s *scenarios.Scenario) *plan.Plan {
	t.Helper()
	p, err := plan.Lower(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fromYAML(t *testing.T, src string, sets ...string) *plan.Plan {
	t.Helper()
	ovs, err := scenarios.ParseOverrides(sets)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.ParseWith("test.yaml", []byte(src), ovs)
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return lower(t, s)
}

// outcomes is group -> "predicted/rule/learned".
func outcomes(pr *Prediction) map[string]string {
	m := map[string]string{}
	for _, g := range pr.Groups {
		m[g.Group] = g.Predicted + "/" + g.Rule + "/" + g.Learned
	}
	return m
}

func checkOutcomes(t *testing.T, pr *Prediction, want map[string]string) {
	t.Helper()
	got := outcomes(pr)
	for g, w := range want {
		if got[g] != w {
			var b bytes.Buffer
			pr.Table(&b, true)
			t.Errorf("%s: predicted %s, want %s\n%s", g, got[g], w, b.String())
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d groups predicted, want %d", len(got), len(want))
	}
}

// The built-ins tell their stories; the prediction tells the same ones, from the
// scenario alone. (The end-to-end tests check the same predictions against real runs.)
func TestBuiltins(t *testing.T) {
	// Measured by `portlab run NAME` (the end-to-end tests check each run agrees): every
	// group's outcome, and where its clients had their port from at the end.
	for name, want := range map[string]map[string]string{
		"ad-port-change": {"domain": "managed/ad-published/ad", "workgroup": "unmanaged/publish-off/never",
			"internet": "unmanaged/mp-listens/never", "branch": "unmanaged/gc-blocked/never"},
		"stale-dns-srv": {"workgroup": "managed/dns-srv/dns", "domain": "managed/ad-published/ad"},
		"custom-website": {"domain": "managed/ad-published/ad", "domain-https": "managed/ad-published/ad",
			"workgroup": "unmanaged/publish-off/never", "secondary": "managed/ad-published/ad"},
		"notification-blocked": {"open": "managed/installed-port/install", "blocked": "managed/installed-port/install"},
		"port-change": {"pushed": "managed/installed-port/push", "stale": "unmanaged/publish-off/never",
			"domain": "managed/ad-published/ad"},
		// The intranet's domain clients read AD DS after their first failure, and take
		// its 443 over the 8443 ccmsetup installs, until the site republishes at 18s.
		"blocked-443":        {"intranet": "managed/ad-published/ad", "internet": "unmanaged/firewall-path/install"},
		"fallback-alternate": {"dropped": "managed/alternate/install", "rejected": "managed/alternate/install"},
		"wake-up": {"bcast-a": "managed/installed-port/install", "ucast-a": "managed/installed-port/install",
			"bcast-b": "asleep/wake-delivery/install", "ucast-b": "asleep/wake-delivery/install", "bcast-c": "asleep/wake-firewall/install"},
		"notification-cost": {"tcp": "managed/installed-port/install", "http-poll": "managed/installed-port/install",
			"https-poll": "managed/installed-port/install", "port80": "managed/installed-port/install",
			// A workgroup client keeps the 8080 it was installed with: not the site's default.
			"port8080": "managed/installed-port/never"},
		"mp-capacity": {"clients": "managed/installed-port/install"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := scenarios.LoadBuiltin(name)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcomes(t, Predict(lower(t, s)), want)
		})
	}
	bs, err := scenarios.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 10 {
		t.Errorf("%d built-ins; TestBuiltins has the expectations of 10", len(bs))
	}
}

func TestBuiltinNotification(t *testing.T) {
	s, err := scenarios.LoadBuiltin("notification-cost")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range Predict(lower(t, s)).Groups {
		want := map[string]string{"tcp": "tcp 10123", "http-poll": "long polling http:80", "https-poll": "long polling https:443"}[g.Group]
		if g.Notification != want {
			t.Errorf("%s: notification %q, want %q", g.Group, g.Notification, want)
		}
		if (want != "") != (g.PushDelivered != nil && *g.PushDelivered) {
			t.Errorf("%s: pushes delivered %v", g.Group, g.PushDelivered)
		}
	}
}

// small is a one-segment scenario the cases below change with --set. Its clients locate
// by the MP list alone (membership internet: no AD DS, no DNS), so only their installed
// ports and the site's alternate count; the location cases set a membership.
const small = `version: 1
name: small
duration: 30s
ramp: 1s
site:
  code: PS1
  ports:
    http: {default: 80, alternate: 8080}
    https: {default: 443}
network:
  segments:
    - {name: lan, clients: 198.18.16.0/24}
    - {name: dc}
    - {name: dc2}
  routers:
    - name: core
      links: [lan, dc, dc2]
      firewall:
        default: accept
        rules:
          - {name: to-dc2, proto: tcp, port: 80, to: dc2, action: drop}
management_points:
  - {name: mp1, segment: dc}
clients:
  - {group: g, count: 100, segment: lan, mp: mp1, membership: internet, knows_alternate: true, policy_interval: 2s, connect_timeout: 1s, retries: 0, notification: off}
`

func TestRules(t *testing.T) {
	for _, c := range []struct {
		name string
		sets []string
		want string // predicted/rule
		why  string // in the why
	}{
		{"healthy", nil, "managed/installed-port", "installed http 80 (at install) reaches mp1 through the firewall of core"},
		{"mp stopped", []string{"timeline=[{at: 5s, mp: {name: mp1, action: stop}}]"}, "unmanaged/mp-running", "mp1 is stopped"},
		{"mp stopped, started again", []string{"timeline=[{at: 5s, mp: {name: mp1, action: stop}}, {at: 15s, mp: {name: mp1, action: start}}]"}, "managed/installed-port", ""},
		{"mp errors", []string{"management_points[mp1].error_rate=1"}, "unmanaged/mp-errors", "answers every request with 5xx"},
		{"mp some errors", []string{"management_points[mp1].error_rate=0.5"}, "uncertain/mp-errors", "of the clients may be unmanaged"},
		{"rare errors", []string{"management_points[mp1].error_rate=0.001"}, "managed/installed-port", ""},
		{"http client on the https port", []string{"clients[g].http_port=443", "clients[g].https_port=4443"}, "unmanaged/mp-listens", "answered 400"},
		{"https client on the http port falls back", []string{"clients[g].scheme=https", "clients[g].https_port=8080", "site.ports.https.alternate=4443"},
			"managed/alternate", "no TLS there"},
		{"dropped late: no time to go unmanaged", []string{"timeline=[{at: 27s, firewall: {router: core, rules: [{proto: tcp, port: 80, action: drop}, {proto: tcp, port: 8080, action: drop}]}}]"},
			"managed/time-to-unmanaged", "3 failed cycles take until at least"},
		{"dropped at the edge of time", []string{"timeline=[{at: 22s, firewall: {router: core, rules: [{proto: tcp, port: 80, action: drop}, {proto: tcp, port: 8080, action: drop}]}}]"},
			"uncertain/time-to-unmanaged", "too close to the end"},
		{"dropped in time", []string{"timeline=[{at: 10s, firewall: {router: core, rules: [{proto: tcp, port: 80, action: drop}, {proto: tcp, port: 8080, action: drop}]}}]"},
			"unmanaged/firewall-path", "core drops tcp/8080 from lan (rule rule2)"},
		{"fixed late", []string{"timeline=[{at: 1s, site_ports: {http: {default: 81, alternate: 0}}}, {at: 29s, site_ports: {http: {default: 80}}}]"},
			"uncertain/time-to-managed", "less than a cycle"},
		{"split by a fraction", []string{"site.ports.http.alternate=0", "timeline=[{at: 5s, site_ports: {http: {default: 81}}}, {at: 6s, reconfigure: {group: g, method: push, fraction: 0.3}}]"},
			"split/installed-port, mp-listens", "clients 1-30: managed"},
		{"unpinned, one MP blocked", []string{"management_points=[{name: mp1, segment: dc}, {name: mp2, segment: dc2}]", "clients[g].mp=", "site.ports.http.alternate=0"},
			"uncertain/mp-choice", "clients pick an MP at random"},
		{"unpinned, both fine", []string{"management_points=[{name: mp1, segment: dc}, {name: mp2, segment: dc2}]", "clients[g].mp="},
			"managed/installed-port", "at every MP the clients may pick: mp1, mp2"},
		{"asleep, never woken", []string{"clients[g].asleep=true"}, "asleep/asleep", "no wake-up event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := Predict(fromYAML(t, small, c.sets...))
			g := pr.Groups[0]
			if got := g.Predicted + "/" + g.Rule; got != c.want || !strings.Contains(g.Why, c.why) {
				var b bytes.Buffer
				pr.Table(&b, true)
				t.Errorf("predicted %s (%s), want %s with %q\n%s", got, g.Why, c.want, c.why, b.String())
			}
			if c.want == "split/installed-port, mp-listens" && (g.Managed != 30 || g.Unmanaged != 70) {
				t.Errorf("split %d/%d, want 30/70 (ceil of 0.3 of 100 reconfigured)", g.Managed, g.Unmanaged)
			}
		})
	}
}

// A TCP notification session, once up, survives a firewall change (the tables pass
// established flows); a client that sets up its channel after the change long-polls.
func TestNotificationChannel(t *testing.T) {
	block := "{at: 10s, firewall: {router: core, rules: [{proto: tcp, port: 10123, action: drop}]}}"
	for _, c := range []struct {
		name string
		sets []string
		want string
		push bool
	}{
		{"tcp", []string{"clients[g].notification=tcp", "timeline=[{at: 20s, notify: {}}]"}, "tcp 10123", true},
		{"tcp survives the block", []string{"clients[g].notification=tcp", "timeline=[" + block + ", {at: 20s, notify: {}}]"}, "tcp 10123", true},
		{"blocked from the start", []string{"clients[g].notification=tcp", "network.routers[core].firewall.rules=[{proto: tcp, port: 10123, action: drop}]", "timeline=[{at: 20s, notify: {}}]"},
			"long polling http:80 (tcp 10123: core drops tcp/10123 from lan (rule rule1))", true},
		{"reconfigured after the block", []string{"clients[g].notification=tcp", "timeline=[" + block + ", {at: 12s, reconfigure: {group: g, http_port: 80}}, {at: 20s, notify: {}}]"},
			"long polling http:80", true},
		{"https long polling", []string{"clients[g].notification=https", "timeline=[{at: 20s, notify: {}}]"}, "long polling https:443", true},
		{"no channel", []string{"clients[g].notification=https", "network.routers[core].firewall.default=reject", "network.routers[core].firewall.rules=[{proto: tcp, port: 80, action: accept}]", "timeline=[{at: 20s, notify: {}}]"},
			"none (https:443: core rejects tcp/443 from lan (the firewall's default))", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := Predict(fromYAML(t, small, c.sets...)).Groups[0]
			if !strings.HasPrefix(g.Notification, c.want) {
				t.Errorf("notification %q, want %q", g.Notification, c.want)
			}
			if g.PushDelivered == nil || *g.PushDelivered != c.push {
				t.Errorf("pushes delivered %v, want %v", g.PushDelivered, c.push)
			}
		})
	}
}

// Rules are a list: a new one takes part, and the prediction names it.
func TestRulesExtend(t *testing.T) {
	p := fromYAML(t, small)
	rules := DefaultRules()
	rules.Conn = append([]ConnRule{{Name: "test-blackhole", Judge: func(w *World, c *Client, mp plan.MP, tr Try) *Verdict {
		return &Verdict{Outcome: "timeout", Why: "everything vanishes", Cost: c.Group.ConnectTimeout.D()}
	}}}, rules.Conn...)
	g := PredictWith(p, rules).Groups[0]
	if g.Predicted != reports.OutcomeUnmanaged || g.Rule != "test-blackhole" || !strings.Contains(g.Why, "everything vanishes") {
		t.Errorf("predicted %s by %s: %s", g.Predicted, g.Rule, g.Why)
	}
}

func TestCompare(t *testing.T) {
	yes := true
	pred := []reports.GroupPrediction{
		{Group: "a", Count: 10, Predicted: "managed", Managed: 10, Rule: "installed-port"},
		{Group: "b", Count: 10, Predicted: "unmanaged", Unmanaged: 10, Rule: "firewall-path"},
		{Group: "c", Count: 100, Predicted: "split", Managed: 30, Unmanaged: 70, Rule: "installed-port, mp-listens"},
		{Group: "d", Count: 10, Predicted: "uncertain", Rule: "mp-choice"},
		{Group: "e", Count: 10, Predicted: "managed", Managed: 10, Rule: "installed-port", PushDelivered: &yes, Notification: "tcp 10123"},
	}
	res := &reports.Result{Status: reports.StatusPassed,
		Groups: []reports.GroupOutcome{
			{Group: "a", Count: 10, Managed: 10},
			{Group: "b", Count: 10, Managed: 4, Unmanaged: 6},
			{Group: "c", Count: 100, Managed: 31, Unmanaged: 69},
			{Group: "d", Count: 10, Managed: 10},
			{Group: "e", Count: 10, Managed: 10},
		},
		Push: []reports.PushStats{{Group: "e", Transport: "tcp", Targeted: 20, Delivered: 3}},
	}
	Compare(pred, res)
	byName := map[string]reports.GroupPrediction{}
	for _, p := range res.Prediction {
		byName[p.Group] = p
	}
	if p := byName["a"]; !p.Compared || !p.Agrees || p.Measured != "managed" {
		t.Errorf("a: %+v", p)
	}
	if p := byName["b"]; p.Agrees || p.Measured != "mixed" || !strings.Contains(p.Disagreement, "predicted unmanaged (rule firewall-path), measured mixed: 4 managed, 6 unmanaged") {
		t.Errorf("b: %+v", p)
	}
	if p := byName["c"]; !p.Agrees {
		t.Errorf("c: a split within 2%% disagrees: %+v", p)
	}
	if p := byName["d"]; p.Compared || p.Measured != "managed" {
		t.Errorf("d: an uncertain prediction was compared: %+v", p)
	}
	if p := byName["e"]; p.Agrees || !strings.Contains(p.Disagreement, "pushes: predicted delivered over tcp 10123, measured 3 of 20 acknowledged") {
		t.Errorf("e: %+v", p)
	}
	if d := res.Disagreements(); len(d) != 2 {
		t.Errorf("%d disagreements, want 2 (b, e)", len(d))
	}
	res.Status = reports.StatusInterrupted
	Compare(pred, res)
	if len(res.Disagreements()) != 0 {
		t.Errorf("an interrupted run was judged against the prediction")
	}
}

// A timeline step of a kind no rule models makes the prediction uncertain, naming it,
// rather than silently wrong.
func TestUnmodelledStep(t *testing.T) {
	p := fromYAML(t, small)
	p.Steps = append(p.Steps, plan.Step{At: 5e9, Kind: "publish", Detail: "ad off", Action: struct{}{}})
	g := Predict(p).Groups[0]
	if g.Predicted != reports.OutcomeUncertain || g.Rule != "unmodelled-step" || !strings.Contains(g.Why, `"publish ad off" at 5s`) {
		t.Errorf("predicted %s by %s: %s", g.Predicted, g.Rule, g.Why)
	}
}

// located is a site with a directory and DNS server (the site server on dc) that the
// location cases below change with --set: the HTTP port moves 80 -> 8080 at 5s and
// the site republishes 5s later.
const located = `version: 1
name: located
duration: 30s
ramp: 1s
site:
  code: PS1
  segment: dc
  ports:
    http: {default: 80}
    https: {default: 443}
  publish: {ad: true, dns: false, delay: 5s}
network:
  segments:
    - {name: lan, clients: 198.18.16.0/24}
    - {name: internet, clients: 198.18.17.0/24, internet: true}
    - {name: dc}
    - {name: dmz}
  routers:
    - name: core
      links: [lan, dc, dmz]
      firewall: {default: accept}
    - name: edge
      links: [internet, dmz]
      firewall: {default: accept}
management_points:
  - {name: mp1, segment: dc}
clients:
  - {group: g, count: 100, segment: lan, membership: domain, policy_interval: 2s, connect_timeout: 1s, retries: 0, notification: off}
timeline:
  - {at: 5s, site_ports: {http: {default: 8080}}}
`

func TestLocationRules(t *testing.T) {
	gcDrop := "network.routers[core].firewall.rules=[{name: no-gc, proto: tcp, port: 3268, action: drop}]"
	dnsDrop := "network.routers[core].firewall.rules=[{name: no-dns, proto: udp, port: 53, action: drop}]"
	wg := "clients[g].membership=workgroup"
	for _, c := range []struct {
		name    string
		sets    []string
		want    string // predicted/rule/learned
		why     string
		learned string
	}{
		{"domain follows from AD DS", nil, "managed/ad-published", "http 8080 (from AD DS at 10s)", "ad"},
		{"domain, AD DS off, DNS on: from the SRV record", []string{"site.publish.ad=false", "site.publish.dns=true"},
			"managed/dns-srv", "the SRV record's http 8080 (published by the site at 10s)", "dns"},
		{"domain, nothing published", []string{"site.publish.ad=false"}, "unmanaged/publish-off", "the site does not publish there (publish ad off): AD DS would give http 8080", "never"},
		{"domain, publication switched off before the change", []string{"timeline=[{at: 2s, publish: {ad: off}}, {at: 5s, site_ports: {http: {default: 8080}}}]"},
			"unmanaged/publish-off", "publish ad off", "never"},
		{"domain, global catalog dropped", []string{gcDrop}, "unmanaged/gc-blocked", "core drops tcp/3268 from lan (rule no-gc): AD DS would give http 8080", "never"},
		{"domain, global catalog dropped, DNS on", []string{gcDrop, "site.publish.dns=true"}, "managed/dns-srv", "the SRV record's http 8080", "dns"},
		{"domain reads AD DS at its start, over its installed port", []string{"clients[g].http_port=8081", "timeline=[]"}, "managed/ad-published", "http 80 (from AD DS at 0s)", "ad"},
		{"workgroup, DNS off", []string{wg}, "unmanaged/publish-off", "no SRV record: the site does not publish to DNS", "never"},
		{"workgroup, DNS on", []string{wg, "site.publish.dns=true"}, "managed/dns-srv", "they look it up when they locate again", "dns"},
		{"workgroup, DNS dropped", []string{wg, "site.publish.dns=true", dnsDrop}, "unmanaged/dns-blocked", "core drops udp/53 from lan (rule no-dns)", "never"},
		{"workgroup, wrong port at install, DNS on: from DNS at the start", []string{wg, "site.publish.dns=true", "clients[g].http_port=8081", "timeline=[]"},
			"managed/dns-srv", "the SRV record's http 80", "dns"},
		{"workgroup, stale hand-made record", []string{wg, "timeline=[{at: 0s, dns_record: {port: 80, target: mp1}}, {at: 5s, site_ports: {http: {default: 8080}}}]"},
			"unmanaged/mp-listens", "the SRV record still gives http 80", "never"},
		{"workgroup, hand-made record fixed", []string{wg, "timeline=[{at: 0s, dns_record: {port: 80, target: mp1}}, {at: 5s, site_ports: {http: {default: 8080}}}, {at: 15s, dns_record: {port: 8080, target: mp1}}]"},
			"managed/dns-srv", "made by hand at 15s", "dns"},
		{"workgroup, the site's record and a stale hand-made one", []string{wg, "site.publish.dns=true", "timeline=[{at: 0s, dns_record: {port: 80, target: mp1}}, {at: 5s, site_ports: {http: {default: 8080}}}]"},
			"uncertain/dns-srv", "the SRV records disagree", ""},
		// The publication comes at once, but a workgroup client looks it up only after
		// going unmanaged: three failed cycles, too many before the end; a domain client
		// reads AD DS at its next cycle.
		{"workgroup, late change: no time to locate again", []string{wg, "site.publish.dns=true", "site.publish.delay=0s", "timeline=[{at: 24s, site_ports: {http: {default: 8080}}}]"},
			"uncertain/time-to-managed", "they get there only by about", ""},
		{"domain, late change", []string{"site.publish.delay=0s", "timeline=[{at: 24s, site_ports: {http: {default: 8080}}}]"},
			"managed/ad-published", "from AD DS at 24s", "ad"},
		{"https client keeps its port over the SRV record", []string{wg, "clients[g].scheme=https", "site.publish.dns=true", "timeline=[{at: 5s, site_ports: {https: {default: 8443}}}]"},
			"unmanaged/mp-listens", "an HTTPS client keeps its own", "never"},
		// Reconfigured while failing, a domain client reads AD DS at its next cycle and
		// takes its 80 over the 8080 just installed, until the site republishes.
		{"domain: AD DS overrides a reconfiguration", []string{"site.publish.delay=20s", "timeline=[{at: 5s, site_ports: {http: {default: 8080}}}, {at: 7s, reconfigure: {group: g, method: ccmsetup, http_port: 8080}}]"},
			"managed/ad-published", "from AD DS at 25s", "ad"},
		{"workgroup keeps a reconfiguration", []string{wg, "site.publish.delay=20s", "timeline=[{at: 5s, site_ports: {http: {default: 8080}}}, {at: 7s, reconfigure: {group: g, method: ccmsetup, http_port: 8080}}]"},
			"managed/installed-port", "installed http 8080 (by ccmsetup at 7s)", "install"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := Predict(fromYAML(t, located, c.sets...))
			g := pr.Groups[0]
			if got := g.Predicted + "/" + g.Rule; got != c.want || !strings.Contains(g.Why, c.why) || g.Learned != c.learned {
				var b bytes.Buffer
				pr.Table(&b, true)
				t.Errorf("predicted %s (%s), port from %q; want %s with %q, port from %q\n%s", got, g.Why, g.Learned, c.want, c.why, c.learned, b.String())
			}
		})
	}
}

// Internet clients use internet-facing MPs only: with one, the random choice between a
// reachable and an unreachable MP is settled.
func TestInternetMP(t *testing.T) {
	base := []string{
		"clients=[{group: roam, count: 50, segment: internet, policy_interval: 2s, connect_timeout: 1s, retries: 0, notification: off}]",
		"network.routers[edge].firewall.rules=[{name: dmz-only, proto: tcp, port: 80, to: dc, action: drop}]",
		"timeline=[]",
	}
	two := "management_points=[{name: mp1, segment: dc}, {name: mp2, segment: dmz, internet_facing: true}]"
	for _, c := range []struct {
		name string
		sets []string
		want string
		why  string
	}{
		{"one internet-facing MP", []string{two}, "managed/installed-port", "reaches mp2 through the firewall of edge"},
		{"none internet-facing: any MP", []string{"management_points=[{name: mp1, segment: dc}, {name: mp2, segment: dmz}]"}, "uncertain/mp-choice", "clients pick an MP at random"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := Predict(fromYAML(t, located, append(base, c.sets...)...))
			g := pr.Groups[0]
			if got := g.Predicted + "/" + g.Rule; got != c.want || !strings.Contains(g.Why, c.why) {
				var b bytes.Buffer
				pr.Table(&b, true)
				t.Errorf("predicted %s (%s), want %s with %q\n%s", got, g.Why, c.want, c.why, b.String())
			}
		})
	}
}

// The channel a managed group keeps, and where its clients had their port from, are
// compared with the run's counts at the end.
func TestCompareChannelAndSource(t *testing.T) {
	pred := []reports.GroupPrediction{
		{Group: "online", Count: 100, Predicted: "managed", Managed: 100, Rule: "installed-port", Notification: "tcp 10123", Learned: "install"},
		{Group: "polling", Count: 100, Predicted: "managed", Managed: 100, Rule: "installed-port", Notification: "long polling http:80 (tcp 10123: core drops tcp/10123)", Learned: "ad"},
		{Group: "offline", Count: 100, Predicted: "managed", Managed: 100, Rule: "installed-port", Notification: "tcp 10123"},
		{Group: "source", Count: 100, Predicted: "managed", Managed: 100, Rule: "ad-published", Learned: "ad"},
	}
	res := &reports.Result{Status: reports.StatusPassed, Groups: []reports.GroupOutcome{
		{Group: "online", Count: 100, Managed: 100, Notification: map[string]int{"tcp": 100},
			Location: &reports.LocationOutcome{Learned: map[string]int{"install": 100}}},
		{Group: "polling", Count: 100, Managed: 100, Notification: map[string]int{"http": 95, "tcp": 5},
			Location: &reports.LocationOutcome{Learned: map[string]int{"ad": 95, "install": 5}}},
		{Group: "offline", Count: 100, Managed: 100, Notification: map[string]int{"http": 100}},
		{Group: "source", Count: 100, Managed: 100, Location: &reports.LocationOutcome{Learned: map[string]int{"ad": 50, "never": 50}}},
	}}
	Compare(pred, res)
	by := map[string]reports.GroupPrediction{}
	for _, p := range res.Prediction {
		by[p.Group] = p
	}
	for g, want := range map[string]string{"online": "", "polling": "", "offline": "notification: predicted tcp 10123, measured 100 on http of 100",
		"source": "port source: predicted ad, measured ad 50, never 50"} {
		p := by[g]
		if p.Agrees != (want == "") || !strings.Contains(p.Disagreement, want) {
			t.Errorf("%s: agrees %v (%s), want %q", g, p.Agrees, p.Disagreement, want)
		}
	}
}
