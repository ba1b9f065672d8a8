package harness

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// The merge judges gates on the scenario as the shards ran it, read back from
// scenario_as_run: that must be the very scenario (every field), for every built-in and
// the sharding fixtures.
func TestScenarioAsRunRoundTrip(t *testing.T) {
	var all []*scenarios.Scenario
	bs, err := scenarios.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		s, err := scenarios.LoadBuiltin(b.Name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	for _, f := range []string{"testdata/e2e-shard.yaml", "../plan/testdata/shard-site.yaml"} {
		s, err := scenarios.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	for _, s := range all {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := scenarioAsRun(b)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(b) {
			t.Errorf("%s: scenario_as_run does not read back as itself:\n was %s\n got %s", s.Name, b, again)
		}
		for i := range s.Gates {
			if back.Gates[i].Value.Num != s.Gates[i].Value.Num {
				t.Errorf("%s: gate %d threshold %v, was %v", s.Name, i, back.Gates[i].Value.Num, s.Gates[i].Value.Num)
			}
		}
	}
	if _, err := scenarioAsRun(json.RawMessage(`{"version":1,"name":"x"}`)); !errors.Is(err, reports.ErrCorrupt) {
		t.Errorf("an invalid scenario_as_run: %v, want ErrCorrupt", err)
	}
}

// JudgeMerged judges from the merged data: percentiles from the histograms, fractions
// from the groups, late_fraction from the shards' counters, per MP cost from its row.
func TestJudgeMerged(t *testing.T) {
	src := `version: 1
name: judged
duration: 30s
site: {code: PS1}
network:
  segments: [{name: lan, clients: 198.18.16.0/24}, {name: dc}]
  routers: [{name: core, links: [lan, dc]}]
management_points: [{name: mp1, segment: dc}, {name: mp2, segment: dc}]
clients: [{group: a, count: 10, segment: lan, mp: mp1}, {group: b, count: 10, segment: lan, mp: mp2}]
gates:
  - {metric: managed_fraction, group: a, op: ">=", value: 1}
  - {metric: latency_p99, operation: policy, op: "<", value: 50ms}
  - {metric: service_time_p50, operation: policy, group: b, op: "<", value: 5ms}
  - {metric: late_fraction, group: b, op: "<", value: 10%}
  - {metric: request_count, mp: mp2, op: "==", value: 100}
  - {metric: mp_cpu_seconds, mp: mp2, op: "<", value: 1}
`
	s, err := scenarios.Parse("judged.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	asRun, _ := json.Marshal(s)
	merged := func(late int64, slow time.Duration) *reports.Result {
		r := &reports.Result{SchemaVersion: reports.SchemaVersion, ScenarioName: "judged", Scenario: asRun, Elapsed: 30,
			Groups: []reports.GroupOutcome{{Group: "a", Count: 10, Managed: 10}, {Group: "b", Count: 10, Managed: 9, Unmanaged: 1}},
			Cost:   []reports.ProcessCost{{Role: "mp", Name: "mp1", CPUUser: 5}, {Role: "mp", Name: "mp2", CPUUser: 0.5}},
			Shard: &reports.Shard{Index: -1, Count: 2, Counters: []reports.ShardCounter{
				{Name: metrics.CPlanned, Group: "b", Value: 100}, {Name: metrics.CLateStarts, Group: "b", Value: late}}}}
		for _, g := range []struct {
			group, mp string
			lat       time.Duration
		}{{"a", "mp1", slow}, {"b", "mp2", 10 * time.Millisecond}} {
			lat, svc := metrics.NewRecorder(), metrics.NewRecorder()
			k := metrics.Key{Metric: metrics.Latency, Op: metrics.OpPolicy, Transport: "http", Port: 80, Outcome: metrics.OK, Group: g.group, MP: g.mp}
			for range 100 {
				lat.Record(k, g.lat)
				svc.Record(k, 2*time.Millisecond)
			}
			tags := reports.HistTags{Operation: k.Op, Transport: k.Transport, Port: k.Port, Outcome: k.Outcome, Group: k.Group, MP: k.MP}
			for _, h := range []struct {
				kind string
				rec  *metrics.Recorder
			}{{reports.KindLatency, lat}, {reports.KindServiceTime, svc}} {
				e, err := reports.EncodeHist(h.kind, tags, h.rec.Histogram(k))
				if err != nil {
					t.Fatal(err)
				}
				r.Hists = append(r.Hists, e)
			}
		}
		return r
	}
	good := merged(3, 20*time.Millisecond)
	if err := JudgeMerged(good); err != nil {
		t.Fatal(err)
	}
	if good.Status != reports.StatusPassed || len(good.Gates) != len(s.Gates) {
		t.Fatalf("status %s, %d verdicts: %+v", good.Status, len(good.Gates), good.Gates)
	}
	// One group slow (p99 over both groups crosses 50 ms) and late starts over 10%.
	bad := merged(20, 80*time.Millisecond)
	if err := JudgeMerged(bad); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, g := range bad.Failed() {
		failed = append(failed, g.Name)
	}
	if bad.Status != reports.StatusFailed || strings.Join(failed, " ") != "latency_p99{operation=policy} late_fraction{group=b}" {
		t.Errorf("status %s, failed %v", bad.Status, failed)
	}
	// A shard that failed keeps the merge failed, whatever the gates say.
	broken := merged(0, time.Millisecond)
	broken.Status = reports.StatusError
	if err := JudgeMerged(broken); err != nil || broken.Status != reports.StatusError {
		t.Errorf("status %s, err %v", broken.Status, err)
	}
	if err := JudgeMerged(&reports.Result{}); err == nil {
		t.Error("judged a result that is not a merge")
	}
}

// waitStart: no common start, a little ahead; a common start kept when it has just
// passed (within the tolerance), refused when it passed longer ago; a wait for a start
// ahead ends with the context.
func TestWaitStart(t *testing.T) {
	r := &runner{con: NewConsole(io.Discard, ConsoleQuiet, false)}
	before := time.Now()
	if got, err := r.waitStart(context.Background(), 0); err != nil || got.Before(before) {
		t.Errorf("no start: %v, %v", got, err)
	}
	at := time.Now().Add(-reports.StartTolerance / 2)
	r.opt.StartAt = at
	if got, err := r.waitStart(context.Background(), time.Second); err != nil || !got.Equal(at) {
		t.Errorf("start just passed: %v, %v; want it kept", got, err)
	}
	r.opt.StartAt = time.Now().Add(-2 * reports.StartTolerance)
	if _, err := r.waitStart(context.Background(), 3*time.Second); !errors.Is(err, ErrStartMissed) || !strings.Contains(err.Error(), "took 3s") {
		t.Errorf("start long passed: %v, want ErrStartMissed saying how long the set-up took", err)
	}
	r.opt.StartAt = time.Now().Add(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.waitStart(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted wait: %v", err)
	}
}
