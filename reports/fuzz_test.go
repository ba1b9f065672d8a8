package reports

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzParse decodes arbitrary bytes as a result.json, as `portlab report`, `compare`
// and `merge` read one: it must never panic; whatever it refuses matches ErrNotResult;
// whatever it reads renders as JSON again (and reads back), as Markdown, JUnit and an
// HdrHistogram log without panicking (a corrupt histogram is an error matching
// ErrCorrupt), and compares with itself without a regression. Inputs are capped at
// 64 KiB; HTML, slow with its charts, only below 8 KiB.
func FuzzParse(f *testing.F) {
	for _, r := range []*Result{sample(), richSample(f)} {
		b, err := JSON(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema_version":2,"histograms":[{"kind":"latency","data":"HISTFAAAACl4nJNpmSzMwMDAzQABTBCKEUzOmNZg/wEiAEEpBWg="}]}`))
	f.Add([]byte(`{"schema_version":2,"gates":[{"measured":1e308}],"groups":[{"count":-1,"managed":5}]}`))
	f.Add([]byte(`{"schema_version":2,"status":"\u001b[31mpassed","run_id":"\u202e"}`))
	f.Add([]byte(`{"schema_version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		r, err := Parse("fuzz.json", data)
		if err != nil {
			if !errors.Is(err, ErrNotResult) {
				t.Fatalf("refusal does not match ErrNotResult: %v", err)
			}
			return
		}
		b, err := JSON(r)
		if err != nil {
			t.Fatalf("a result read does not write: %v", err)
		}
		if _, err := Parse("again.json", b); err != nil {
			t.Fatalf("a result written does not read back: %v", err)
		}
		renderers := []Renderer{Markdown, JUnit, Hlog}
		if len(data) < 8<<10 {
			renderers = append(renderers, HTML)
		}
		for _, render := range renderers {
			if _, err := render(r); err != nil && strings.Contains(err.Error(), "histogram") && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a histogram error that is not ErrCorrupt: %v", err)
			}
		}
		c, err := Compare(r, r, nil, false)
		if err != nil {
			t.Fatalf("a result does not compare with itself: %v", err)
		}
		if len(c.Regressions()) > 0 {
			t.Fatalf("a result regressed against itself: %v", c.Regressions())
		}
		c.Text()
		c.Markdown()
	})
}

// FuzzThresholds parses arbitrary --max-regression arguments: never a panic, and
// every threshold accepted has a name with balanced braces and a finite, non-negative
// value.
func FuzzThresholds(f *testing.F) {
	for _, s := range []string{"latency_p99=10%", "error_rate=0.01", "mp_rss=8MiB", "p99=5ms",
		"latency_p99{operation=policy,transport=http}=5%,mp_rss=20%", "*=1e308GiB", "x={", "{=}=1", "a=NaN%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if len(arg) > 4<<10 {
			return
		}
		for _, one := range SplitThresholds(arg) {
			name, th, err := ParseThreshold(one)
			if err != nil {
				continue
			}
			if name == "" || strings.Count(name, "{") != strings.Count(name, "}") {
				t.Fatalf("%q: accepted name %q", one, name)
			}
			if math.IsNaN(th.Value) || math.IsInf(th.Value, 0) || th.Value < 0 {
				t.Fatalf("%q: accepted value %v", one, th.Value)
			}
		}
	})
}
