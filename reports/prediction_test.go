package reports

import (
	"strings"
	"testing"
)

func predicted() *Result {
	return &Result{SchemaVersion: SchemaVersion, ScenarioName: "x", Status: StatusPassed,
		Overrides: []string{"site.ports.https.default=8443"},
		Groups:    []GroupOutcome{{Group: "in", Count: 10, Managed: 10}, {Group: "out", Count: 5, Managed: 2, Unmanaged: 3}},
		Prediction: []GroupPrediction{
			{Group: "in", Count: 10, Predicted: OutcomeManaged, Managed: 10, Rule: "installed-port", Why: "installed https 8443 reaches mp1", Measured: OutcomeManaged, Compared: true, Agrees: true},
			{Group: "out", Count: 5, Predicted: OutcomeUnmanaged, Unmanaged: 5, Rule: "firewall-path", Why: "edge drops tcp/8443 | a pipe", Measured: OutcomeMixed, Compared: true,
				Disagreement: "predicted unmanaged (rule firewall-path), measured mixed"},
		}}
}

func TestPredictionRendered(t *testing.T) {
	r := predicted()
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Overrides: `--set site.ports.https.default=8443`",
		"## Prediction vs measurement",
		"**1 group(s) disagree with the prediction.**",
		"| in | managed | managed | agrees | `installed-port` | installed https 8443 reaches mp1 |",
		"| out | unmanaged | mixed | **DISAGREES**: predicted unmanaged (rule firewall-path), measured mixed | `firewall-path` | edge drops tcp/8443 \\| a pipe |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q\n%s", want, md)
		}
	}
	html, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<a href="#prediction">Prediction</a>`, "1 group(s) disagree with the prediction",
		`<td class="fail">DISAGREES: predicted unmanaged (rule firewall-path), measured mixed</td>`,
		"<code>--set site.ports.https.default=8443</code>",
	} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// Without a prediction (results of earlier versions), no section at all.
	r.Prediction, r.Overrides = nil, nil
	md, _ = Markdown(r)
	html, _ = HTML(r)
	if strings.Contains(string(md), "Prediction") || strings.Contains(string(html), `id="prediction"`) || strings.Contains(string(html), "Overrides") {
		t.Errorf("a result without a prediction shows a prediction section")
	}
}

func sweepOf(cands ...SweepCandidate) *Sweep {
	s := &Sweep{Scenario: "x", Varied: []string{"site.ports.https.default"}, Candidates: cands}
	s.Decide()
	return s
}

func TestSweepDecide(t *testing.T) {
	c := func(n int, v string, broken, gates int, fb, cpu float64) SweepCandidate {
		sc := SweepCandidate{N: n, Values: []string{v}, Status: StatusPassed, Broken: broken, Clients: 30, Gates: 2, FallbackP99: fb, MPCPU: cpu,
			Groups: []SweepGroup{{Group: "g", Count: 30, Managed: 30 - broken}}}
		for range gates {
			sc.GatesFailed = append(sc.GatesFailed, "gate")
			sc.Status = StatusFailed
		}
		return sc
	}
	for _, tc := range []struct {
		name string
		s    *Sweep
		best int
		why  string
	}{
		{"fewest broken", sweepOf(c(1, "443", 10, 1, 0, 1), c(2, "8443", 0, 0, 0, 1)), 2, "candidate 2 (8443) breaks the fewest clients: 0 of 30"},
		{"tie on gates", sweepOf(c(1, "443", 0, 1, 0, 1), c(2, "8443", 0, 0, 0, 1)), 2, "ties with 1 (443) on 0 broken; picked for fewer failed gates (0 vs 1)"},
		{"tie on fallback", sweepOf(c(1, "443", 0, 0, 2, 1), c(2, "8443", 0, 0, 0.01, 1)), 2, "picked for the shorter fallback delay p99 (10.0ms vs 2.00s)"},
		{"tie on CPU", sweepOf(c(1, "443", 0, 0, 0, 2), c(2, "8443", 0, 0, 0, 1)), 2, "picked for less MP CPU (1.00 s vs 2.00 s)"},
		{"CPU noise", sweepOf(c(1, "443", 0, 0, 0, 1.05), c(2, "8443", 0, 0, 0, 1)), 1, "equal on failed gates, fallback delay and MP CPU (within 10%): the one listed first"},
		{"best still fails", sweepOf(c(1, "443", 3, 1, 0, 1), c(2, "8443", 5, 1, 0, 1)), 1, "but it fails 1 gate(s): gate"},
		{"unfinished skipped", sweepOf(SweepCandidate{N: 1, Values: []string{"443"}, Status: StatusError}, c(2, "8443", 5, 1, 0, 1)), 2, "candidate 2 (8443)"},
		{"none finished", sweepOf(SweepCandidate{N: 1, Values: []string{"443"}, Status: "not run"}), 0, "no candidate finished its run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.s.Best != tc.best || !strings.Contains(tc.s.BestWhy, tc.why) {
				t.Errorf("best %d: %s; want %d with %q", tc.s.Best, tc.s.BestWhy, tc.best, tc.why)
			}
			md := string(SweepMarkdown(tc.s))
			if !strings.Contains(md, "## Candidates") || (tc.best != 0 && !strings.Contains(md, "| g |")) {
				t.Errorf("sweep.md:\n%s", md)
			}
			if _, err := SweepHTML(tc.s); err != nil {
				t.Errorf("sweep.html: %v", err)
			}
		})
	}
}
