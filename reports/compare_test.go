package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCompareIdentical(t *testing.T) {
	c, err := Compare(richSample(t), richSample(t), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Metrics) < 20 {
		t.Fatalf("only %d metrics compared", len(c.Metrics))
	}
	if reg := c.Regressions(); len(reg) > 0 {
		t.Fatalf("identical results regressed: %+v", reg)
	}
	for _, fam := range []string{"latency_p99", "service_time_p99", "error_rate", "mp_cpu_us_per_request", "mp_rss", "managed_fraction",
		"push_latency_p99", "fallback_delay_p99"} {
		found := false
		for _, m := range c.Metrics {
			found = found || m.Family == fam
		}
		if !found {
			t.Errorf("metric family %s not compared", fam)
		}
	}
	if !bytes.Contains(c.Markdown(), []byte("no regression")) {
		t.Errorf("markdown:\n%s", c.Markdown())
	}
}

func TestCompareRegression(t *testing.T) {
	base, head := richSample(t), richSample(t)
	head.Requests[0].Latency.P99 *= 1.25 // policy http:8080 p99 15.3ms -> 19.1ms
	head.Groups[2].Managed -= 10         // fallback: 0.95 -> 0.90 managed
	head.Cost[2].RSSPeak += 1 << 20      // mp-http +1MiB: within 10%
	c, err := Compare(base, head, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range c.Regressions() {
		got[m.Name] = m.Threshold
	}
	want := map[string]string{
		"latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}": "10%",
		"managed_fraction{group=fallback}": "0.01",
	}
	if len(got) != len(want) {
		t.Errorf("regressions %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("regression %s: threshold %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	md := string(c.Markdown())
	if !strings.Contains(md, "REGRESSED: 2 of") || !strings.Contains(md, "`latency_p99{operation=policy") || !strings.Contains(md, "+25.0%") {
		t.Errorf("markdown lacks the regression:\n%s", md)
	}
	// A looser threshold on the family, and the suffix form, let it pass.
	for _, th := range []Thresholds{{"latency_p99": {30, true}, "managed_fraction": {0.1, false}}, {"p99": {30, true}, "managed_fraction": {Value: 0.2}, "*": {20, true}}} {
		c, err := Compare(base, head, th, false)
		if err != nil {
			t.Fatal(err)
		}
		if reg := c.Regressions(); len(reg) > 0 {
			t.Errorf("thresholds %v: still regressed %+v", th, reg)
		}
	}
	// A tighter one on one metric catches the 1 MiB RSS growth.
	c, _ = Compare(base, head, Thresholds{"mp_rss{mp=mp-http}": {Value: 512 << 10}}, false)
	if !strings.Contains(string(c.Text()), "regressed  mp_rss{mp=mp-http}") {
		t.Errorf("text:\n%s", c.Text())
	}
	// Better is improved, not regressed.
	c, _ = Compare(head, base, nil, false)
	if len(c.Regressions()) != 0 || len(c.Improvements()) != 2 {
		t.Errorf("reverse: regressions %v improvements %v", c.Regressions(), c.Improvements())
	}
}

func TestCompareRefusesDifferentScenarios(t *testing.T) {
	base, head := richSample(t), richSample(t)
	head.ScenarioName = "blocked-443"
	_, err := Compare(base, head, nil, false)
	if !errors.Is(err, ErrDifferentScenarios) || !strings.Contains(err.Error(), `base is scenario "port-change", head is scenario "blocked-443"`) {
		t.Fatalf("err = %v", err)
	}
	c, err := Compare(base, head, nil, true)
	if err != nil || len(c.Warnings) == 0 {
		t.Fatalf("forced: %v %v", err, c)
	}
	// Same name, changed definition.
	head = richSample(t)
	head.Scenario = json.RawMessage(strings.Replace(string(head.Scenario), `"count":300`, `"count":3000`, 1))
	_, err = Compare(base, head, nil, false)
	if !errors.Is(err, ErrDifferentScenarios) || !strings.Contains(err.Error(), "clients[0].count: 300 -> 3000") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Threshold{
		"latency_p99=10%": {10, true}, "p99=2.5%": {2.5, true}, "error_rate=0.01": {Value: 0.01},
		"latency_p99=5ms": {Value: 0.005}, "mp_rss=8MiB": {Value: 8 << 20}, "mp_rss=512KiB": {Value: 512 << 10},
	} {
		_, got, err := ParseThreshold(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"latency_p99", "=10%", "p99=", "p99=-5%", "p99=ten", "p99=-3ms"} {
		if _, _, err := ParseThreshold(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
