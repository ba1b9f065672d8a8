package scenarios

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func loadBase(t *testing.T, sets ...string) (*Scenario, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ovs, err := ParseOverrides(sets)
	if err != nil {
		return nil, err
	}
	return ParseWith("testdata/base.yaml", data, ovs)
}

func TestOverridesByName(t *testing.T) {
	s, err := loadBase(t,
		"site.ports.https.default=8443",
		"site.ports.https.alternate=9443", // absent in the file: added
		"clients[stale].count=7",
		"clients[0].knows_alternate=false", // by index
		"network.routers[core].firewall.rules[no-8443].port=10443",
		"management_points[mp1].tls={key: ecdsa-p256}", // a whole mapping, absent in the file
		"timeline[1].reconfigure.over=2s",
		"network.routers[core].links[dc]=dc", // a string list item by its value
		"description=overridden",
	)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if s.Site.Ports.HTTPS.Default != 8443 || s.Site.Ports.HTTPS.Alternate != 9443 {
		t.Errorf("https ports %+v, want 8443/9443", s.Site.Ports.HTTPS)
	}
	if s.Site.Ports.HTTP.Default != 80 || s.Site.Ports.HTTP.Alternate != 8080 {
		t.Errorf("http ports changed: %+v", s.Site.Ports.HTTP)
	}
	if g := s.Clients[1]; g.Group != "stale" || g.Count != 7 {
		t.Errorf("clients[1] = %s count %d, want stale 7", g.Group, g.Count)
	}
	if s.Clients[0].Count != 100 || *s.Clients[0].KnowsAlternate {
		t.Errorf("clients[0] count %d knows_alternate %v, want 100 false", s.Clients[0].Count, *s.Clients[0].KnowsAlternate)
	}
	if r := s.Network.Routers[0].Firewall.Rules[0]; r.Port.Lo != 10443 || r.Port.Hi != 10443 || r.Action != "drop" {
		t.Errorf("rule %+v, want port 10443, still drop", r)
	}
	if k := s.ManagementPoints[0].TLS.Key; k != "ecdsa-p256" {
		t.Errorf("tls key %q", k)
	}
	if *s.ManagementPoints[0].TLS.Resumption != true {
		t.Errorf("resumption default lost")
	}
	if o := s.Timeline[1].Reconfigure.Over.D().String(); o != "2s" {
		t.Errorf("over %s", o)
	}
	if s.Description != "overridden" {
		t.Errorf("description %q", s.Description)
	}
}

func TestOverrideLaterWinsAndFixesTheFile(t *testing.T) {
	s, err := loadBase(t, "clients[stale].count=7", "clients[stale].count=9")
	if err != nil {
		t.Fatal(err)
	}
	if s.Clients[1].Count != 9 {
		t.Errorf("count %d, want the later flag's 9", s.Clients[1].Count)
	}
	// A file error the override replaces is gone: the value is not decoded at all.
	bad := []byte(strings.Replace(string(mustRead(t, "testdata/base.yaml")), "count: 50", "count: fifty", 1))
	ovs, _ := ParseOverrides([]string{"clients[stale].count=50"})
	if _, err := ParseWith("bad.yaml", bad, ovs); err != nil {
		t.Errorf("the override replaces the bad value, yet: %v", err)
	}
	if _, err := ParseWith("bad.yaml", bad, nil); err == nil {
		t.Errorf("without the override the file is invalid")
	}
}

// oneError loads base.yaml with sets and returns the single error (failing otherwise).
func overrideErrors(t *testing.T, sets ...string) ErrorList {
	t.Helper()
	_, err := loadBase(t, sets...)
	if err == nil {
		t.Fatalf("%v: loaded without error", sets)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error is not ErrInvalid: %v", err)
	}
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("want an ErrorList, got %T: %v", err, err)
	}
	return el
}

func TestOverrideErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		sets []string
		want string // the whole first line of the error
		hint string // a part of the hint
	}{
		{"type", []string{"site.code=PS1", "clients[stale].count=abc"},
			`--set #2: clients[stale].count: want an integer, got the string "abc"`, ""},
		{"type-quoted-number", []string{`clients[stale].count="5"`},
			`--set #1: clients[stale].count: want an integer, got the string "5"`, "remove the quotes"},
		{"type-in-a-mapping", []string{"site.ports.https={default: x}"},
			`--set #1: site.ports.https.default: want an integer, got the string "x"`, ""},
		{"unknown-field", []string{"site.ports.htps.default=8443"},
			"--set #1: site.ports.htps: unknown field `htps` in site.ports", "did you mean `https`?"},
		{"unknown-field-list-known", []string{"site.zzzzzzzz=1"},
			"--set #1: site.zzzzzzzz: unknown field `zzzzzzzz` in site", "known fields in site: code, custom_website, domain, ports, publish, secondaries, segment"},
		{"unknown-top-field", []string{"clinets[stale].count=1"},
			"--set #1: clinets: unknown field `clinets` at the top level", "did you mean `clients`?"},
		{"unknown-field-in-item", []string{"clients[stale].cuont=1"},
			"--set #1: clients[stale].cuont: unknown field `cuont` in clients[stale]", "did you mean `count`?"},
		{"unknown-name", []string{"clients[stael].count=1"},
			`--set #1: clients[stael]: no client group named "stael" in clients`, "did you mean `stale`? clients holds: pushed, stale"},
		{"unknown-router", []string{"network.routers[edge].firewall.default=drop"},
			`--set #1: network.routers[edge]: no router named "edge" in network.routers`, "network.routers holds: core"},
		{"index-range", []string{"clients[5].count=1"},
			"--set #1: clients[5]: index 5 out of range: clients has 2 item(s), 0 to 1", ""},
		{"timeline-by-name", []string{"timeline[first].at=1s"},
			"--set #1: timeline[first]: the items of timeline have no names: give an index, 0 to 1", ""},
		{"list-without-item", []string{"clients.count=1"},
			"--set #1: clients.count: clients is a list: address one item, as clients[NAME] or clients[0]", ""},
		{"into-a-scalar", []string{"site.code.x=1"},
			"--set #1: site.code.x: site.code is a single value; it has no field `x`", ""},
		{"not-a-list", []string{"site[0].code=1"},
			"--set #1: site[0]: site is not a list", ""},
		{"bad-value", []string{"site.ports.https.default=[8443"},
			"--set #1: site.ports.https.default: the value is not YAML:", ""},
		{"enum", []string{"network.routers[core].firewall.default=allow"},
			`--set #1: network.routers[core].firewall.default: unknown action "allow" (want accept, drop or reject)`, ""},
		// Valid values that make the scenario invalid: the flag, not a file line.
		{"invalid-port-clash", []string{"site.ports.https.default=80"},
			"--set #1: site.ports.https.default: port 80 is already used by ports.http.default", "HTTP and HTTPS cannot share a port"},
		{"invalid-reference", []string{"clients[stale].segment=dmz"},
			`--set #1: clients[stale].segment: no segment named "dmz"`, ""},
		// Reported elsewhere, caused by the flag: the flag is named, the file's line is in the hint.
		{"invalid-elsewhere", []string{"site.code=PS2", "clients[pushed].count=5000"},
			`--set #2: network.segments[0].clients: 5050 clients on segment "lan" but its range 198.18.16.0/20 holds 4094 addresses`,
			"this follows from --set #2 (clients[pushed].count=5000); the other value is the file's, testdata/base.yaml:11; widen the range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			el := overrideErrors(t, c.sets...)
			e := el[0]
			if got := e.Error(); !strings.HasPrefix(got, c.want) {
				t.Errorf("error\n got  %s\n want %s", got, c.want)
			}
			if !strings.Contains(e.Hint, c.hint) {
				t.Errorf("hint %q does not say %q", e.Hint, c.hint)
			}
			if e.Line != 0 || e.Source != "" {
				t.Errorf("an override's error shows a file line: %s", e.Verbose())
			}
			if len(el) != 1 {
				t.Errorf("%d errors, want 1:\n%s", len(el), el.Verbose())
			}
		})
	}
}

// A file error that no override touches keeps its place in the file.
func TestOverrideKeepsFileErrors(t *testing.T) {
	bad := strings.Replace(string(mustRead(t, "testdata/base.yaml")), "duration: 60s", "duration: 60x", 1)
	ovs, err := ParseOverrides([]string{"clients[stale].count=5"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseWith("bad.yaml", []byte(bad), ovs)
	var el ErrorList
	if !errors.As(err, &el) || len(el) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if e := el[0]; e.File != "bad.yaml" || e.Line != 3 {
		t.Errorf("file error moved: %s", e.Verbose())
	}
}

func TestOverrideUnnamedRuleByCounterName(t *testing.T) {
	src := strings.Replace(string(mustRead(t, "testdata/base.yaml")), "{name: no-8443, proto: tcp, port: 8443, action: drop}",
		"{name: first, proto: tcp, port: 8443, action: drop}\n          - {proto: tcp, port: 9000, action: reject}", 1)
	ovs, _ := ParseOverrides([]string{"network.routers[core].firewall.rules[rule2].action=accept"})
	s, err := ParseWith("x.yaml", []byte(src), ovs)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Network.Routers[0].Firewall.Rules[1]; r.Name != "rule2" || r.Action != "accept" {
		t.Errorf("rule %+v", r)
	}
}

func TestParseOverrideSyntax(t *testing.T) {
	for arg, want := range map[string]string{
		"site.ports":                     "want PATH=VALUE",
		"=1":                             "empty path",
		"site..code=1":                   "empty key",
		"site.=1":                        "ends with a dot",
		"clients[x=1":                    "unclosed [",
		"clients[]=1":                    "empty []",
		"[x].count=1":                    "starts with a key",
		"clients[a b]=1":                 `character " " in [a b]`,
		"Site.code=1":                    `character "S" in a key`,
		"clients[x]count=1":              "want . or [ after ]",
		"site.code\x1b[31m=1":            `character "\x1b"`,
		strings.Repeat("a.", 40) + "a=1": "more than 32 steps",
	} {
		_, err := ParseOverride("--set #1", arg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", arg, err, want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "--set #1") {
			t.Errorf("%q: error %q does not name the flag", arg, err)
		}
	}
	if _, err := ParseOverride("--set #1", "a="+strings.Repeat("x", MaxOverrideLen)); err == nil {
		t.Errorf("an override over %d bytes is accepted", MaxOverrideLen)
	}
	if _, err := ParseOverrides(make([]string, MaxOverrides+1)); err == nil {
		t.Errorf("more than %d overrides accepted", MaxOverrides)
	}
	o, err := ParseOverride("--set #1", "a.b[c-d.1].e=x=y")
	if err != nil || o.Value != "x=y" || len(o.steps) != 4 || o.steps[2].sel != "c-d.1" {
		t.Errorf("parsed %+v, %v", o, err)
	}
}

func TestParseVary(t *testing.T) {
	v, err := ParseVary("--vary #1", "site.ports.https={default: 8443, alternate: 9443}, {default: 443},'a,b'")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"{default: 8443, alternate: 9443}", "{default: 443}", "'a,b'"}
	if strings.Join(v.Values, "|") != strings.Join(want, "|") {
		t.Errorf("values %q, want %q", v.Values, want)
	}
	if o := v.Override(1); o.Path != "site.ports.https" || o.Value != "{default: 443}" || o.Flag != "--vary #1 value 2" {
		t.Errorf("override %+v", o)
	}
	for arg, msg := range map[string]string{
		"a=1":     "at least two values",
		"a=1,,2":  "value 2 is empty",
		"a=1,2,1": `value "1" is given twice`,
		"a=[1,2":  "unclosed",
		"a=1],2":  "unbalanced",
		"a='1,2":  "unclosed quote",
		"a[=1,2":  "unclosed [",
		"a=" + strings.Repeat("1,", MaxVaryValues) + "1": "values; at most",
	} {
		if _, err := ParseVary("--vary #1", arg); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", arg, err, msg)
		}
	}
}

func TestResolveWithBuiltin(t *testing.T) {
	ovs, _ := ParseOverrides([]string{"clients[internet].count=50"})
	s, err := ResolveWith("blocked-443", ovs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Clients[1].Count != 50 {
		t.Errorf("count %d", s.Clients[1].Count)
	}
}

// A path that does not resolve leaves out its override only: the others apply and
// every problem shows at once, the flags' in flag order.
func TestOverrideErrorsAllAtOnce(t *testing.T) {
	el := overrideErrors(t, "clients[stale].count=many", "site.prots.x=1", "site.ports.https.default=80")
	var got []string
	for _, e := range el {
		got = append(got, e.File+": "+e.Path)
	}
	want := "--set #1: clients[stale].count|--set #2: site.prots|--set #3: site.ports.https.default"
	if strings.Join(got, "|") != want {
		t.Errorf("errors %q, want %q", got, want)
	}
}
