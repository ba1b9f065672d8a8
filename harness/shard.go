package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// ErrStartMissed is matched (errors.Is) when a run given a common start (Options.StartAt)
// could not begin its load by then: the shard would be out of step with the others.
var ErrStartMissed = errors.New("missed the common start")

// waitStart returns the load's start: now and a little (every fleet begins at the same
// instant), or Options.StartAt, waiting until just before it. A start more than
// reports.StartTolerance in the past is refused (ErrStartMissed); one less in the past
// is kept, so the shards stay on one timeline and the clients due in that moment start
// late (counted as late starts, not hidden).
func (r *runner) waitStart(ctx context.Context, setup time.Duration) (time.Time, error) {
	const lead = 200 * time.Millisecond
	at := r.opt.StartAt
	if at.IsZero() {
		return time.Now().Add(lead), nil
	}
	if late := time.Since(at); late > reports.StartTolerance {
		return time.Time{}, fmt.Errorf("%w: the start %s passed %s ago while the network was built and the agents started (that took %s); give a --start-at further ahead",
			ErrStartMissed, at.UTC().Format(time.RFC3339Nano), late.Round(time.Millisecond), setup.Round(time.Millisecond))
	}
	if wait := time.Until(at) - lead; wait > 0 {
		r.con.Step("waiting for the common start", "start_at", at.UTC().Format(time.RFC3339), "in", wait.Round(time.Second).String())
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
	return at, nil
}

// shardSection finishes a shard's result: the shard block, every gate pending (the
// shard holds part of the site; portlab merge judges the gates on the whole), and what
// the merge needs beyond an ordinary result: the service-time histograms and the load
// engine's counters per group (r.mu held).
func (r *runner) shardSection(res *reports.Result, rec *metrics.Recorder) {
	sh := r.opt.Shard
	block := &reports.Shard{Index: sh.Index, Count: sh.Count, Start: r.t0, StartGiven: !r.opt.StartAt.IsZero(),
		MPs: append([]string(nil), sh.MPs...), Groups: append([]string(nil), sh.Groups...)}
	if d, err := reports.ScenarioDigest(res.Scenario); err == nil {
		block.ScenarioDigest = d
	} else {
		res.Notes = append(res.Notes, "scenario digest: "+err.Error())
	}
	for _, k := range rec.Keys() {
		if k.Metric == metrics.Service {
			res.Hists = append(res.Hists, encodeHist(metrics.Service, k, rec.Histogram(k)))
		}
	}
	snap, err := rec.Snapshot(r.t0, time.Now())
	if err == nil {
		for _, c := range snap.Counters {
			block.Counters = append(block.Counters, reports.ShardCounter{Name: c.Name, Group: c.Group, Value: c.Value})
		}
	} else {
		res.Notes = append(res.Notes, "shard counters: "+err.Error())
	}
	res.Shard = block
	const why = ": pending, judged by portlab merge on the merged result (a shard holds part of the site)"
	for _, g := range r.p.Scenario.Gates {
		spec, _ := scenarios.LookupMetric(g.Metric)
		res.Gates = append(res.Gates, reports.GateVerdict{Name: gateName(g), Metric: g.Metric, Op: string(g.Op), Value: g.Value.Raw,
			Threshold: g.Value.Num, Unit: string(spec.Unit), Pending: true, Message: gateName(g) + why})
	}
}

// JudgeMerged judges the scenario's gates on a merged result (reports.Merge) and sets
// its status, as a run does with its own: the scenario comes from the result's
// scenario_as_run, the histograms and counters from the merged data. A merge that a
// failed or interrupted shard went into keeps that status.
func JudgeMerged(res *reports.Result) error {
	if !res.IsMerged() {
		return errors.New("not a merged result")
	}
	s, err := scenarioAsRun(res.Scenario)
	if err != nil {
		return err
	}
	var snap metrics.Snapshot
	for _, e := range res.Hists {
		h, err := e.Histogram()
		if err != nil {
			return err
		}
		if h.TotalCount() == 0 {
			continue
		}
		t := e.Tags
		snap.Histograms = append(snap.Histograms, metrics.EncodedHistogram{Count: h.TotalCount(), Hist: e.Data,
			Key: metrics.Key{Metric: e.Kind, Op: t.Operation, Transport: t.Transport, Port: t.Port, Outcome: t.Outcome, Group: t.Group, MP: t.MP}})
	}
	for _, c := range res.Shard.Counters {
		snap.Counters = append(snap.Counters, metrics.CounterValue{CounterKey: metrics.CounterKey{Name: c.Name, Group: c.Group}, Value: c.Value})
	}
	rec, err := metrics.Decode(snap)
	if err != nil {
		return fmt.Errorf("%w: %w", reports.ErrCorrupt, err)
	}
	res.Gates = EvaluateGates(s, res, rec)
	if res.Status == "" {
		res.Status = reports.StatusPassed
		if len(res.Failed()) > 0 {
			res.Status = reports.StatusFailed
		}
	}
	if res.Load.LateFraction > 0.01 {
		res.Notes = append(res.Notes, fmt.Sprintf("the load generators fell behind: %.1f%% of cycles started late over all shards; latency figures include their own delay", 100*res.Load.LateFraction))
	}
	return nil
}

// scenarioAsRun reads a result's scenario_as_run (JSON of scenarios.Scenario, defaults
// filled) back into a scenario, validated again (which also reads the gates'
// thresholds). JSON is YAML, so the scenario loader reads it, with the same shorthand
// rules as a file (a service time is a string or an object, which encoding/json cannot
// decode into one type). Absent prefixes and port ranges are written as "", which their
// decoding refuses; every "" is dropped first, leaving the zero value "" stood for.
func scenarioAsRun(raw json.RawMessage) (*scenarios.Scenario, error) {
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, fmt.Errorf("%w: scenario_as_run: %w", reports.ErrCorrupt, err)
	}
	clean, err := json.Marshal(dropEmptyStrings(generic))
	if err != nil {
		return nil, fmt.Errorf("%w: scenario_as_run: %w", reports.ErrCorrupt, err)
	}
	s, err := scenarios.Parse("scenario_as_run", clean)
	if err != nil {
		return nil, fmt.Errorf("%w: scenario_as_run is not a valid scenario: %w", reports.ErrCorrupt, err)
	}
	return s, nil
}

// dropEmptyStrings removes every object member whose value is "".
func dropEmptyStrings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && s == "" {
				delete(x, k)
				continue
			}
			x[k] = dropEmptyStrings(e)
		}
	case []any:
		for i := range x {
			x[i] = dropEmptyStrings(x[i])
		}
	}
	return v
}
