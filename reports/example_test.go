package reports_test

import (
	"fmt"
	"time"

	"github.com/portlab/portlab/reports"
)

// Compare puts two results of the same scenario side by side and judges every metric
// they share against its threshold (10% for durations by default).
func ExampleCompare() {
	result := func(p99 float64) *reports.Result {
		return &reports.Result{SchemaVersion: reports.SchemaVersion, RunID: "r", ScenarioName: "port-change", Status: reports.StatusPassed,
			Started: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Environment: reports.Environment{Hostname: "h", CPUs: 2},
			Requests: []reports.RequestStats{{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed",
				Count: 1000, Latency: reports.Percentiles{Count: 1000, P50: 0.002, P99: p99}}}}
	}
	base, head := result(0.010), result(0.013)
	c, err := reports.Compare(base, head, reports.Thresholds{"latency_p99": {Value: 20, Relative: true}}, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range c.Regressions() {
		fmt.Println("regressed:", m.Name, m.Threshold)
	}
	c, _ = reports.Compare(base, head, nil, false)
	for _, m := range c.Regressions() {
		fmt.Println("regressed:", m.Name, m.Threshold)
	}
	// Output:
	// regressed: latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed} 20%
	// regressed: latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed} 10%
}
