package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

func gate(t *testing.T, yaml string) scenarios.Gate {
	t.Helper()
	src := `version: 1
name: g
duration: 30s
site: {code: PS1}
network:
  segments: [{name: lan, clients: 198.18.16.0/24}, {name: dc}]
  routers: [{name: core, links: [lan, dc], firewall: {rules: [{name: r1, proto: tcp, port: 80, action: drop}]}}]
management_points: [{name: mp1, segment: dc}, {name: mp2, segment: dc}]
clients: [{group: a, count: 10, segment: lan}, {group: b, count: 10, segment: lan}]
gates:
  - ` + yaml + "\n"
	s, err := scenarios.Parse("gate.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v", err)
	}
	return s.Gates[0]
}

func TestGates(t *testing.T) {
	rec := metrics.NewRecorder()
	// group a: 100 ok policy requests at 10ms..109ms intended latency, 1ms service
	for i := range 100 {
		rec.RecordRequest(metrics.Key{Metric: metrics.Latency, Op: metrics.OpPolicy, Transport: "http", Port: 80, Outcome: metrics.OK, Group: "a", MP: "mp1"},
			time.Duration(10+i)*time.Millisecond, time.Millisecond)
	}
	// group b: 30 refused, 70 ok
	for i := range 100 {
		out := metrics.OK
		if i < 30 {
			out = metrics.Refused
		}
		rec.RecordRequest(metrics.Key{Metric: metrics.Latency, Op: metrics.OpPolicy, Transport: "http", Port: 8080, Outcome: out, Group: "b", MP: "mp1"},
			time.Millisecond, time.Millisecond)
	}
	rec.Record(metrics.Key{Metric: metrics.FallbackDelay, Group: "b"}, 2*time.Second)
	rec.Add(metrics.CCycles, "a", 200)
	rec.Add(metrics.CPlanned, "a", 200) // late_fraction is late starts per planned cycle
	rec.Add(metrics.CLateStarts, "a", 2)
	rec.Add(metrics.CDeferred, "a", 10)
	res := &reports.Result{
		Elapsed: 30,
		Groups: []reports.GroupOutcome{
			{Group: "a", Count: 10, Managed: 10},
			{Group: "b", Count: 10, Managed: 4, Unmanaged: 6, Fallbacks: 4},
		},
		Push:     []reports.PushStats{{Group: "a", Transport: "tcp", Targeted: 10, Delivered: 9}},
		Firewall: []reports.RuleCounter{{Router: "core", Rule: "r1", Packets: 12, Bytes: 720}},
		Cost: []reports.ProcessCost{{Role: "mp", Name: "mp1", CPUUser: 1, CPUSystem: 1, Requests: 200, RSSPeak: 50 << 20, Clients: 20},
			{Role: "mp", Name: "mp2", CPUUser: 2, CPUSystem: 2, Requests: 200, RSSPeak: 50 << 20, Clients: 20}},
	}
	cases := []struct {
		gate string
		pass bool
		want string // in the message
	}{
		{`{metric: unmanaged_fraction, group: b, op: ">=", value: 0.6}`, true, "0.6"},
		{`{metric: unmanaged_fraction, group: b, op: ">", value: 0.6}`, false, "want > 0.6"},
		{`{metric: unmanaged_fraction, op: "<=", value: 30%}`, true, "0.3"},
		{`{metric: managed_count, group: a, op: "==", value: 10}`, true, ""},
		{`{metric: fallback_count, group: b, op: ">=", value: 4}`, true, ""},
		{`{metric: latency_p50, group: a, operation: policy, op: "<", value: 65ms}`, true, "59."}, // 1% resolution: 60ms lands in the 59.x bucket
		{`{metric: latency_p99, group: a, op: "<", value: 100ms}`, false, "108"},
		{`{metric: service_time_p99, group: a, op: "<", value: 2ms}`, true, ""},
		{`{metric: latency_max, port: 9999, op: "<", value: 1s}`, false, "no data"},
		{`{metric: error_rate, group: b, op: "<=", value: 0.3}`, true, "0.3"},
		{`{metric: error_rate, group: b, outcome: refused, op: "<", value: 0.29}`, false, "0.3"},
		{`{metric: request_count, port: 8080, outcome: ok, op: "==", value: 70}`, true, ""},
		{`{metric: fallback_delay_p50, group: b, op: ">=", value: 1.5s}`, true, "2"},
		{`{metric: push_delivered_fraction, group: a, op: ">=", value: 0.99}`, false, "0.9"},
		{`{metric: wake_fraction, group: a, op: ">=", value: 0.99}`, false, "no wake-up"},
		{`{metric: late_fraction, group: a, op: "<", value: 1%}`, false, "0.01"},
		{`{metric: late_fraction, group: a, op: "<=", value: 1%}`, true, "0.01"},
		{`{metric: deferred_fraction, group: a, op: "<", value: 5%}`, false, "0.05"},
		{`{metric: deferred_fraction, group: a, op: "<", value: 6%}`, true, "0.05"},
		// Relative: mp1 costs half of mp2 per request, measured in the same run.
		{`{metric: mp_cpu_us_per_request, mp: mp1, relative_to: {mp: mp2}, op: "<", value: 0.6}`, true, "mp_cpu_us_per_request{mp=mp1} / mp_cpu_us_per_request{mp=mp2} measured 0.5"},
		{`{metric: mp_cpu_us_per_request, mp: mp1, relative_to: {mp: mp2}, op: ">=", value: 90%}`, false, "0.5"},
		{`{metric: mp_cpu_us_per_request, mp: mp2, relative_to: {mp: mp1}, op: "<=", value: 200%}`, true, "2"},
		{`{metric: push_delivered_fraction, group: a, relative_to: {group: b}, op: ">", value: 1}`, false, "reference: no notification"},
		{`{metric: rule_packets, router: core, rule: r1, op: ">", value: 0}`, true, "12"},
		{`{metric: mp_cpu_us_per_request, mp: mp1, op: "<", value: 20000}`, true, "10000"},
		{`{metric: mp_rss, op: "<", value: 40MiB}`, false, "50.0MiB"},
	}
	for _, c := range cases {
		g := gate(t, c.gate)
		v := evaluateGate(g, res, rec)
		if v.Passed != c.pass || !strings.Contains(v.Message, c.want) {
			t.Errorf("%s: passed=%v (want %v), message %q (want %q in it)", c.gate, v.Passed, c.pass, v.Message, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a  float64
		op scenarios.Comparison
		b  float64
		ok bool
	}{{1, "<", 2, true}, {2, "<", 2, false}, {2, "<=", 2, true}, {0.1 + 0.2, "==", 0.3, true}, {3, ">", 2, true}, {2, ">=", 2.0000000001, true}, {1, "!=", 1, false}, {1, "~", 1, false}} {
		if got := compare(c.a, c.op, c.b); got != c.ok {
			t.Errorf("%v %s %v = %v", c.a, c.op, c.b, got)
		}
	}
}
