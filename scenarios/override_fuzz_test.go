package scenarios

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzOverride feeds arbitrary --set and --vary arguments to the path parser and applies
// what parses to base.yaml: nothing may panic, every refusal is an invalid-scenario
// error, an error the override causes names its flag and no file line, and a report
// holds no character a terminal would act on. Arguments are bounded by MaxOverrideLen
// (longer ones must be refused, which is checked too).
func FuzzOverride(f *testing.F) {
	base, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"site.ports.https.default=8443", "clients[stale].count=7", "clients[0].count=abc",
		"network.routers[core].firewall.rules[no-8443].port=9443", "management_points[mp1].tls={key: ecdsa-p256}",
		"timeline[1].reconfigure={group: stale, method: push}", "clients[pushed].count=5000", "site=", "a.b[c]",
		"clients[stale]=[1, 2]", "site.ports={http: {default: 80}, https: {default: 80}}", "gates[0].value=5%",
		"network.segments[lan].clients=198.18.0.0/15", "site.ports.https.default=[[[[[[[[", "site.code=*x",
		"clients[x.y-z_1].count=1", "network.routers[core].links[lan]=dc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if len(arg) > 2*MaxOverrideLen {
			return
		}
		o, err := ParseOverride("--set #1", arg)
		if len(arg) > MaxOverrideLen && err == nil {
			t.Fatalf("an argument of %d bytes was accepted", len(arg))
		}
		if v, verr := ParseVary("--vary #1", arg); verr == nil {
			if len(v.Values) < 2 || len(v.Values) > MaxVaryValues {
				t.Fatalf("vary with %d values", len(v.Values))
			}
		} else if !errors.Is(verr, ErrInvalid) {
			t.Fatalf("vary error is not ErrInvalid: %v", verr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "--set #1") {
				t.Fatalf("refusal %v: not ErrInvalid or not naming the flag", err)
			}
			return
		}
		s, err := ParseWith("base.yaml", base, []Override{o})
		if err == nil {
			if _, err := s.Marshal(); err != nil {
				t.Fatalf("valid scenario does not marshal: %v", err)
			}
			return
		}
		var el ErrorList
		if !errors.As(err, &el) {
			t.Fatalf("error %T is not an ErrorList: %v", err, err)
		}
		for _, e := range el {
			if strings.HasPrefix(e.File, "--set") && (e.Line != 0 || e.Source != "") {
				t.Fatalf("a flag's error shows a file line: %s", e.Verbose())
			}
			if e.File != "base.yaml" && !strings.HasPrefix(e.File, "--set") {
				t.Fatalf("error names %q", e.File)
			}
			if v := e.Verbose(); strings.ContainsAny(v, "\x1b\r\x00") {
				t.Fatalf("report holds a control character: %q", v)
			}
		}
	})
}
