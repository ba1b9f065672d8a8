package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/reports"
)

// resultFile writes a small result.json; p99 is the policy request latency p99.
func resultFile(t *testing.T, dir, name, scenario string, p99 float64) string {
	t.Helper()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	r := &reports.Result{SchemaVersion: reports.SchemaVersion, Tool: "portlab test", RunID: name, ScenarioName: scenario,
		Status: reports.StatusPassed, Started: t0, Ended: t0.Add(30 * time.Second), Elapsed: 30,
		Environment: reports.Environment{Hostname: "h", CPUs: 2, Clients: 100},
		Groups:      []reports.GroupOutcome{{Group: "pushed", Count: 100, Managed: 100}},
		Requests: []reports.RequestStats{{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed", MP: "mp1", Count: 1000,
			Latency: reports.Percentiles{Count: 1000, P50: 0.002, P90: 0.004, P99: p99, Max: 0.05}}},
		Cost:     []reports.ProcessCost{{Role: "mp", Name: "mp1", CPUUser: 1, RSSPeak: 30 << 20, Requests: 1000, Clients: 100, CPUPerRequestUS: 1000}},
		Scenario: json.RawMessage(`{"name":"` + scenario + `"}`),
		Gates:    []reports.GateVerdict{{Name: "latency_p99{operation=policy}", Metric: "latency_p99", Op: "<", Value: "250ms", Unit: "seconds", Measured: p99, Passed: true}},
	}
	b, err := reports.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportFormats(t *testing.T) {
	dir := t.TempDir()
	res := resultFile(t, dir, "base", "port-change", 0.010)
	for format, want := range map[string]string{
		"md":    "# portlab: port-change — PASSED",
		"junit": `<testsuites name="portlab" tests="1"`,
		"json":  fmt.Sprintf(`"schema_version": %d`, reports.SchemaVersion),
		"html":  "<svg",
	} {
		r := run(t, "", "report", res, "--format", format)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("report --format %s: exit %d, stdout lacks %q\n%s\n%s", format, r.code, want, r.stdout, r.err)
		}
	}
	out := filepath.Join(dir, "report.html")
	if r := run(t, "", "report", res, "--format", "html", "-o", out); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "Request latency") {
		t.Fatalf("report.html: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", res, "--format", "pdf"}, "want one of hlog|html|json|junit|md"},
		{[]string{"report", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"report"}, "accepts 1 arg"},
	} {
		if r := run(t, "", c.args...); r.code != 2 || !strings.Contains(r.err, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", c.args, r.code, c.want, r.err)
		}
	}
}

func TestCompareExitCodes(t *testing.T) {
	dir := t.TempDir()
	base := resultFile(t, dir, "base", "port-change", 0.010)
	same := resultFile(t, dir, "same", "port-change", 0.010)
	worse := resultFile(t, dir, "worse", "port-change", 0.0125) // +25%
	other := resultFile(t, dir, "other", "blocked-443", 0.010)
	const metric = "latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}"
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"identical", []string{base, same}, 0, "no regression", ""},
		{"worse p99", []string{base, worse}, 1, "regressed  " + metric, "regression in 1 metric(s): " + metric + " +25.0% (max 10%)"},
		{"worse p99 markdown", []string{base, worse, "--format", "md"}, 1, "| `" + metric + "` | 10.0ms | 12.5ms | +2.5ms (+25.0%) | 10% |", metric},
		{"within a looser threshold", []string{base, worse, "--max-regression", "p99=30%"}, 0, "no regression", ""},
		{"family threshold", []string{base, worse, "--max-regression", "latency_p99=20%"}, 1, "20%", "max 20%"},
		{"absolute threshold", []string{base, worse, "--max-regression", "latency_p99=5ms"}, 0, "0.005", ""},
		{"improvement", []string{worse, base}, 0, "improved", ""},
		{"different scenarios", []string{base, other}, 2, "", `base is scenario "port-change", head is scenario "blocked-443"`},
		{"different scenarios forced", []string{base, other, "--force"}, 0, "warning: compared although", ""},
		{"bad threshold", []string{base, same, "--max-regression", "p99"}, 2, "", "want METRIC=VALUE"},
		{"bad format", []string{base, same, "--format", "html"}, 2, "", "want text or md"},
		{"missing file", []string{base, filepath.Join(dir, "nope.json")}, 2, "", "read head result"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", append([]string{"compare"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.err, c.stderr) {
				t.Errorf("exit %d (want %d)\nstdout (want %q):\n%s\nstderr (want %q):\n%s", r.code, c.code, c.stdout, r.stdout, c.stderr, r.err)
			}
		})
	}
}
