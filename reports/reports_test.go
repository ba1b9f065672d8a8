package reports

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sample() *Result {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	return &Result{
		SchemaVersion: SchemaVersion, Tool: "portlab test", RunID: "r1", ScenarioName: "port-change",
		Status: StatusFailed, Started: t0, Ended: t0.Add(31 * time.Second), Elapsed: 30.2,
		Environment: Environment{Hostname: "h", Kernel: "6.1", GoVersion: "go1.26", CPUs: 2, Clients: 400},
		Groups: []GroupOutcome{
			{Group: "pushed", Count: 300, Managed: 300, PortsUsed: map[int]int{8080: 300}},
			{Group: "stale", Count: 100, Unmanaged: 100, PortsUsed: map[int]int{80: 0}},
		},
		Requests: []RequestStats{{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed", MP: "mp1", Count: 4000,
			Latency:     Percentiles{Count: 4000, P50: 0.0021, P99: 0.0153, Max: 0.09},
			ServiceTime: Percentiles{Count: 4000, P50: 0.002, P99: 0.011, Max: 0.05}}},
		Push:     []PushStats{{Group: "pushed", Transport: "tcp", Targeted: 300, Delivered: 300, Latency: Percentiles{Count: 300, P50: 0.0004, P99: 0.002}}},
		Firewall: []RuleCounter{{Router: "core", Rule: "drop-80", Action: "drop", Packets: 120, Bytes: 7200}},
		Cost:     []ProcessCost{{Role: "mp", Name: "mp1", CPUUser: 1.2, CPUSystem: 0.8, RSSPeak: 30 << 20, Requests: 8000, CPUPerRequestUS: 250}},
		Load:     LoadStats{Planned: 8000, Late: 3, LateFraction: 0.000375},
		Events:   []EventRecord{{At: 8, Applied: 8.01, Kind: "site_ports", Detail: "http 80 -> 8080"}},
		Gates: []GateVerdict{
			{Name: "unmanaged_fraction{group=stale}", Metric: "unmanaged_fraction", Op: ">=", Value: "0.99", Threshold: 0.99, Measured: 1, Unit: "fraction", Passed: true, Message: "measured 1 >= 0.99"},
			{Name: "latency_p99{operation=policy}", Metric: "latency_p99", Op: "<", Value: "10ms", Threshold: 0.01, Measured: 0.0153, Unit: "seconds", Passed: false, Message: "measured 15.3ms, want < 10ms"},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestMarkdownGolden(t *testing.T) {
	b, err := Markdown(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.md.golden", b)
}

func TestJUnitGolden(t *testing.T) {
	b, err := JUnit(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml.golden", b)
	var doc junitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit is not XML: %v", err)
	}
	if doc.Tests != 2 || doc.Fails != 1 || !strings.Contains(string(b), "measured 15.3ms, want &lt; 10ms") {
		t.Fatalf("junit: tests=%d failures=%d\n%s", doc.Tests, doc.Fails, b)
	}
}

func TestWriteAndRead(t *testing.T) {
	dir := t.TempDir()
	files, err := Write(filepath.Join(dir, "out"), sample(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || filepath.Base(files[len(files)-1]) != "result.json" {
		t.Fatalf("written %v; result.json must come last", files)
	}
	r, err := Read(filepath.Join(dir, "out", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ScenarioName != "port-change" || len(r.Gates) != 2 || r.Groups[0].PortsUsed[8080] != 300 {
		t.Fatalf("round trip lost data: %+v", r)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "out", ".*tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestReadRefusesOtherVersions(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"v1.json":    `{"schema_version": 1}`,
		"v3.json":    `{"schema_version": 3}`,
		"none.json":  `{"scenario": "x"}`,
		"notjs.json": `garbage`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := Read(p); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	b, _ := json.Marshal(sample())
	p := filepath.Join(dir, "ok.json")
	os.WriteFile(p, b, 0o644)
	if _, err := Read(p); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicWriteNeverPartial: a reader polling the file while it is rewritten sees
// either the old or the new content, never a mix or a truncation.
func TestAtomicWriteNeverPartial(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.json")
	a := []byte(strings.Repeat("a", 1<<20))
	c := []byte(strings.Repeat("c", 1<<20))
	if err := WriteFileAtomic(p, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			w := a
			if i%2 == 0 {
				w = c
			}
			if err := WriteFileAtomic(p, w, 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 1<<20 || (b[0] != b[len(b)-1]) {
			t.Fatalf("partial read: %d bytes", len(b))
		}
	}
}
