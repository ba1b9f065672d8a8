package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portlab/portlab/reports"
)

// --set on show, validate and run: merged scenarios, errors naming the flag (never a
// line of the file), exit 2 before anything is built.
func TestSetFlag(t *testing.T) {
	base := "../scenarios/testdata/base.yaml"
	out := filepath.Join(t.TempDir(), "never")
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // in stdout+stderr
		not  []string
	}{
		{"show merged", []string{"show", "blocked-443", "--set", "site.ports.https.default=10443", "--set", "clients[internet].count=50"}, 0,
			[]string{"# --set site.ports.https.default=10443", "default: 10443", "count: 50", "group: internet"}, []string{"count: 100"}},
		{"show raw refuses", []string{"show", "--raw", "blocked-443", "--set", "seed=2"}, 2, []string{"--raw prints the file as written"}, nil},
		{"validate ok", []string{"validate", base, "--set", "clients[stale].count=7"}, 0, []string{"base.yaml: ok"}, nil},
		{"validate builtin", []string{"validate", "blocked-443", "--set", "clients[internet].count=7"}, 0, []string{"blocked-443: ok"}, nil},
		{"validate type error", []string{"validate", base, "--set", "seed=1", "--set", "clients[stale].count=many"}, 2,
			[]string{`--set #2: clients[stale].count: want an integer, got the string "many"`}, []string{"base.yaml:"}},
		{"validate unknown path", []string{"validate", base, "--set", "site.prots.https.default=8443"}, 2,
			[]string{"--set #1: site.prots: unknown field `prots` in site", "did you mean `ports`?"}, nil},
		{"validate unknown name", []string{"validate", base, "--set", "clients[internet].count=5"}, 2,
			[]string{`--set #1: clients[internet]: no client group named "internet" in clients`, "clients holds: pushed, stale"}, nil},
		{"run invalid value", []string{"run", "blocked-443", "--set", "site.ports.https.default=80", "--out", out}, 2,
			[]string{"--set #1: site.ports.https.default: port 80 is already used by ports.http.default", "blocked-443 is not a valid scenario with these --set flags"},
			[]string{"blocked-443.yaml:"}},
		{"run caused elsewhere", []string{"run", "blocked-443", "--set", "clients[internet].count=5000", "--out", out}, 2,
			[]string{"--set #1: network.segments[1].clients: 5000 clients on segment \"internet\"", "this follows from --set #1 (clients[internet].count=5000)"}, nil},
		{"run malformed", []string{"run", "blocked-443", "--set", "site.ports.https.default", "--out", out}, 2,
			[]string{"--set #1: want PATH=VALUE"}, nil},
		{"predict", []string{"predict", "blocked-443"}, 0,
			[]string{"internet  100      unmanaged  firewall-path  installed https 8443 (by ccmsetup at 9s): edge drops tcp/8443 from internet (rule internet-rest)"}, nil},
		{"predict with set", []string{"predict", "blocked-443", "--set", "network.routers[edge].firewall.rules[internet-rest].port=1-442"}, 0,
			[]string{"internet  100      managed    installed-port"}, nil},
		{"predict verbose", []string{"predict", "fallback-alternate", "-v"}, 0,
			[]string{"dropped   150      managed    alternate", "core drops tcp/80 from lan-drop (rule drop-80)", "6s  firewall core:"}, nil},
		{"predict bad format", []string{"predict", "blocked-443", "--format", "xml"}, 2, []string{"want table, md or json"}, nil},
		{"predict invalid", []string{"predict", "blocked-443", "--set", "clients[x].count=1"}, 2, []string{`no client group named "x"`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", c.args...)
			all := r.stdout + r.err
			if r.code != c.code {
				t.Errorf("exit %d, want %d\n%s", r.code, c.code, all)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q\n%s", w, all)
				}
			}
			for _, w := range c.not {
				if strings.Contains(all, w) {
					t.Errorf("output has %q\n%s", w, all)
				}
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused run made its results directory")
	}
}

func TestPredictJSON(t *testing.T) {
	r := run(t, "", "predict", "wake-up", "--format", "json", "--clients", "50")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var doc struct {
		Scenario string                    `json:"scenario"`
		Groups   []reports.GroupPrediction `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	got := map[string]string{}
	total := 0
	for _, g := range doc.Groups {
		got[g.Group] = g.Predicted + "/" + g.Rule
		total += g.Count
	}
	want := map[string]string{"bcast-a": "managed/installed-port", "ucast-a": "managed/installed-port",
		"bcast-b": "asleep/wake-delivery", "ucast-b": "asleep/wake-delivery", "bcast-c": "asleep/wake-firewall"}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("%s: %s, want %s", g, got[g], w)
		}
	}
	if doc.Scenario != "wake-up" || total != 50 {
		t.Errorf("scenario %q, %d clients (want wake-up, 50: --clients rescales)", doc.Scenario, total)
	}
}
