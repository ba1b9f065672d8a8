package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
)

func TestLocationGates(t *testing.T) {
	rec := metrics.NewRecorder()
	for i := range 10 {
		rec.Record(metrics.Key{Metric: metrics.FollowTime, Op: metrics.OpFollow, Group: "a"}, time.Duration(10+i)*time.Second)
	}
	rec.Add(metrics.CLDAPQueries, "a", 40)
	rec.Add(metrics.CLDAPFailures, "a", 3)
	rec.Add(metrics.CDNSQueries, "b", 7)
	res := &reports.Result{Groups: []reports.GroupOutcome{
		{Group: "a", Count: 10, Notification: map[string]int{"tcp": 8, "http": 2},
			Location: &reports.LocationOutcome{Membership: "domain", Learned: map[string]int{"ad": 8, "install": 1, "never": 1}}},
		{Group: "b", Count: 10, Location: &reports.LocationOutcome{Membership: "workgroup", Learned: map[string]int{"never": 10}}},
	}}
	for _, c := range []struct {
		gate string
		pass bool
		want string
	}{
		{`{metric: learned_fraction, group: a, source: ad, op: ">=", value: 0.8}`, true, "measured 0.8"},
		{`{metric: learned_fraction, group: a, op: ">=", value: 0.9}`, true, "measured 0.9"}, // any source but never
		{`{metric: learned_fraction, group: a, source: never, op: "<=", value: 0}`, false, "measured 0.1"},
		{`{metric: learned_fraction, group: b, source: never, op: ">=", value: 1}`, true, "measured 1"},
		{`{metric: learned_fraction, source: ad, op: ">=", value: 0.5}`, false, "measured 0.4"}, // 8 of the 20 clients
		{`{metric: follow_time_p50, group: a, op: ">=", value: 14s}`, true, "14."},
		{`{metric: follow_time_max, group: b, op: "<", value: 1s}`, false, "no data"},
		{`{metric: ldap_query_count, group: a, op: "==", value: 40}`, true, ""},
		{`{metric: ldap_failure_count, op: "==", value: 3}`, true, ""},
		{`{metric: dns_query_count, group: a, op: ">", value: 0}`, false, "measured 0"},
		{`{metric: online_fraction, group: a, op: ">=", value: 0.9}`, false, "measured 0.8"},
		{`{metric: online_fraction, group: b, op: "<=", value: 0}`, true, "measured 0"},
	} {
		v := evaluateGate(gate(t, c.gate), res, rec)
		if v.Passed != c.pass || !strings.Contains(v.Message, c.want) {
			t.Errorf("%s: passed=%v (want %v), message %q (want %q in it)", c.gate, v.Passed, c.pass, v.Message, c.want)
		}
	}
	// Without a site server there is no location data: no verdict by default.
	v := evaluateGate(gate(t, `{metric: learned_fraction, group: a, op: ">=", value: 0}`), &reports.Result{Groups: []reports.GroupOutcome{{Group: "a", Count: 3}}}, rec)
	if v.Passed || !strings.Contains(v.Message, "no service location") {
		t.Errorf("learned_fraction without location data: %+v", v)
	}
}
