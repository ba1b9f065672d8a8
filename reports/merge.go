package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ErrMerge is matched (errors.Is) when shard results cannot be merged: not shards,
// different scenarios, a shard given twice or missing, data that contradicts itself.
// For `portlab merge` it is bad input (exit 2); the message names the file(s).
var ErrMerge = errors.New("cannot merge")

// MergeInput is one shard's result and what to call it in errors (its file).
type MergeInput struct {
	Name   string
	Result *Result
}

// MaxShards bounds a shard result's count (plan.MaxShards: a hostile file's count must
// not size the merge's tables).
const MaxShards = 1000

// StartTolerance is how far apart shards' starts may be and still count as one common
// start (the nodes' clocks agree to milliseconds under NTP; the rest is scheduling).
const StartTolerance = time.Second

// Merge combines the results of every shard of one sharded run into the result of the
// whole, losslessly:
//   - histograms merge from their HdrHistogram data (same kind and tags: one
//     histogram), and every percentile is read from the merged histograms, never
//     averaged; request rows are rebuilt from them (counts are histogram counts);
//   - counters are summed: load, firewall rule counters, per-second series (aligned on
//     second 0, the common start: each shard counts its seconds from it), the engine's
//     per-group counters;
//   - groups, their pushes and wake-ups, and MP costs are kept as each shard measured
//     them (every group and MP is in exactly one shard); fleet processes are named
//     shard-I/NAME; site-wide timeline events, which every shard applied, appear once,
//     with the latest moment any shard applied them.
//
// It refuses (ErrMerge, naming the files): a result that is not a shard's or is already
// a merge, different scenarios or digests or shard counts, a shard twice, a shard
// missing, a scenario_as_run that does not match its digest, groups or MPs in two
// shards; and (ErrCorrupt) histograms that do not decode. Gates are not judged here
// (that needs the scenario's gate metrics; harness.JudgeMerged does it): the result
// has no gate verdicts, and Status "error" or "interrupted" if a shard's was, else "".
func Merge(in []MergeInput) (*Result, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no shard results given", ErrMerge)
	}
	if err := checkShards(in); err != nil {
		return nil, err
	}
	// Shards by index.
	shards := make([]MergeInput, len(in))
	for _, x := range in {
		shards[x.Result.Shard.Index] = x
	}
	first := shards[0].Result
	order, err := scenarioOrder(first.Scenario)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMerge, shards[0].Name, err)
	}
	n := len(shards)
	out := &Result{
		SchemaVersion: SchemaVersion,
		ScenarioName:  first.ScenarioName,
		Scenario:      first.Scenario,
		Started:       first.Started,
		Ended:         first.Ended,
		Shard: &Shard{Index: -1, Count: n, ScenarioDigest: first.Shard.ScenarioDigest, Start: first.Shard.Start,
			StartGiven: true},
	}
	hosts, kernels, gos := []string{}, []string{}, []string{}
	var errs []string
	var interrupted, failed bool
	for i, x := range shards {
		r := x.Result
		label := fmt.Sprintf("shard %d/%d", i, n)
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Ended.After(out.Ended) {
			out.Ended = r.Ended
		}
		out.Elapsed = max(out.Elapsed, r.Elapsed)
		e := r.Environment
		hosts, kernels, gos = addDistinct(hosts, e.Hostname), addDistinct(kernels, e.Kernel), addDistinct(gos, e.GoVersion)
		out.Environment.CPUs += e.CPUs
		out.Environment.MemBytes += e.MemBytes
		out.Environment.Clients += e.Clients
		out.Environment.Rootless = out.Environment.Rootless || e.Rootless
		sh := r.Shard
		if sh.Start.Before(out.Shard.Start) {
			out.Shard.Start = sh.Start
		}
		out.Shard.StartGiven = out.Shard.StartGiven && sh.StartGiven && sh.Start.Equal(first.Shard.Start)
		out.Shard.Merged = append(out.Shard.Merged, MergedShard{Index: i, File: x.Name, RunID: r.RunID, Status: r.Status,
			Hostname: e.Hostname, Start: sh.Start, Clients: e.Clients})
		switch r.Status {
		case StatusError:
			failed = true
		case StatusInterrupted:
			interrupted = true
		}
		if r.Error != "" {
			errs = append(errs, label+": "+r.Error)
		}
		for _, note := range r.Notes {
			out.Notes = append(out.Notes, label+": "+note)
		}
		for k, v := range r.Extra {
			if out.Extra == nil {
				out.Extra = map[string]any{}
			}
			out.Extra[fmt.Sprintf("shard-%d.%s", i, k)] = v
		}
	}
	out.Environment.Hostname = strings.Join(hosts, ", ")
	out.Environment.Kernel = strings.Join(kernels, ", ")
	out.Environment.GoVersion = strings.Join(gos, ", ")
	out.Error = strings.Join(errs, "; ")
	switch {
	case failed:
		out.Status = StatusError
	case interrupted:
		out.Status = StatusInterrupted
	}
	if lo, hi := startSpan(shards); hi.Sub(lo) > StartTolerance {
		out.Notes = append(out.Notes, fmt.Sprintf("the shards did not start together (their starts span %s, from %s to %s): "+
			"every series and event is aligned on each shard's own start, so on the scenario's timeline, but the shards ran at different moments",
			hi.Sub(lo).Round(time.Millisecond), lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339)))
	}

	if err := mergeHists(out, shards); err != nil {
		return nil, err
	}
	if err := mergeIntervals(out, shards); err != nil {
		return nil, err
	}
	if d := out.Shard.Start.Sub(out.Started).Seconds(); d > 0 {
		out.LoadStart = d // the common start, from the earliest shard's Started
	}
	out.Overrides = first.Overrides // part of the scenario as run, so the same in every shard
	for _, x := range shards {
		out.Prediction = append(out.Prediction, x.Result.Prediction...) // each shard's own groups
	}
	sort.SliceStable(out.Prediction, func(i, j int) bool {
		return slices.Index(order.groups, out.Prediction[i].Group) < slices.Index(order.groups, out.Prediction[j].Group)
	})
	mergeGroups(out, shards, order)
	mergeLocation(out, shards)
	mergeSeries(out, shards)
	mergeFirewall(out, shards)
	mergeCost(out, shards, order)
	mergeLoad(out, shards)
	mergeEvents(out, shards)
	out.Shard.MPs = inOrder(order.mps, func(yield func(string)) {
		for _, x := range shards {
			for _, m := range x.Result.Shard.MPs {
				yield(m)
			}
		}
	})
	out.Shard.Groups = inOrder(order.groups, func(yield func(string)) {
		for _, x := range shards {
			for _, g := range x.Result.Shard.Groups {
				yield(g)
			}
		}
	})
	return out, nil
}

// checkShards refuses what cannot be merged, naming the files.
func checkShards(in []MergeInput) error {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var ref *MergeInput
	for i := range in {
		x := &in[i]
		r := x.Result
		switch {
		case r == nil:
			bad("%s: no result", x.Name)
			continue
		case r.Shard == nil:
			bad("%s: not a shard's result (portlab run SCENARIO --shard I/N writes one)", x.Name)
			continue
		case r.IsMerged():
			bad("%s: already a merged result; merge the shards' own results", x.Name)
			continue
		case r.Shard.Count < 1 || r.Shard.Count > MaxShards || r.Shard.Index >= r.Shard.Count:
			bad("%s: shard %d/%d is not a shard index and count", x.Name, r.Shard.Index, r.Shard.Count)
			continue
		}
		d, err := ScenarioDigest(r.Scenario)
		if err != nil {
			bad("%s: %v", x.Name, err)
			continue
		}
		if d != r.Shard.ScenarioDigest {
			bad("%s: its scenario_as_run has digest %s but the shard records %s: the file was changed after the run", x.Name, d, r.Shard.ScenarioDigest)
			continue
		}
		if ref == nil {
			ref = x
			continue
		}
		a, b := ref.Result, r
		switch {
		case a.ScenarioName != b.ScenarioName || a.Shard.ScenarioDigest != b.Shard.ScenarioDigest:
			bad("%s is scenario %s (%s) but %s is scenario %s (%s): results of different scenarios, or of different versions or --clients of one, cannot be merged",
				ref.Name, a.ScenarioName, short12(a.Shard.ScenarioDigest), x.Name, b.ScenarioName, short12(b.Shard.ScenarioDigest))
		case a.Shard.Count != b.Shard.Count:
			bad("%s is shard %d of %d but %s is shard %d of %d: results of different splits cannot be merged",
				ref.Name, a.Shard.Index, a.Shard.Count, x.Name, b.Shard.Index, b.Shard.Count)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrMerge, strings.Join(problems, "; "))
	}
	n := ref.Result.Shard.Count
	byIndex := make([][]string, n)
	for _, x := range in {
		byIndex[x.Result.Shard.Index] = append(byIndex[x.Result.Shard.Index], x.Name)
	}
	var missing []string
	for i, names := range byIndex {
		switch {
		case len(names) == 0:
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		case len(names) > 1:
			bad("shard %d/%d given %d times: %s", i, n, len(names), strings.Join(names, ", "))
		}
	}
	if len(missing) > 0 {
		bad("shard %s missing (%d of %d given): every shard of the run is needed", strings.Join(missing, ", "), len(in), n)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrMerge, strings.Join(problems, "; "))
	}
	// Every group and MP in exactly one shard.
	groupAt, mpAt := map[string]string{}, map[string]string{}
	for _, x := range in {
		sh := x.Result.Shard
		for _, g := range sh.Groups {
			if other, ok := groupAt[g]; ok {
				bad("group %s is in %s and in %s", g, other, x.Name)
			}
			groupAt[g] = x.Name
		}
		for _, m := range sh.MPs {
			if other, ok := mpAt[m]; ok {
				bad("management point %s is in %s and in %s", m, other, x.Name)
			}
			mpAt[m] = x.Name
		}
		for _, g := range x.Result.Groups {
			if !slices.Contains(sh.Groups, g.Group) {
				bad("%s: group %s is in the result but not in the shard's groups", x.Name, g.Group)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrMerge, strings.Join(problems, "; "))
	}
	return nil
}

func short12(digest string) string {
	if len(digest) > 7+12 {
		return digest[:7+12]
	}
	return digest
}

func addDistinct(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func startSpan(shards []MergeInput) (lo, hi time.Time) {
	for i, x := range shards {
		s := x.Result.Shard.Start
		if i == 0 || s.Before(lo) {
			lo = s
		}
		if i == 0 || s.After(hi) {
			hi = s
		}
	}
	return lo, hi
}

// order is the scenario's order of groups and MPs (from scenario_as_run).
type order struct{ groups, mps []string }

func scenarioOrder(asRun json.RawMessage) (order, error) {
	var s struct {
		Clients []struct {
			Group string `json:"group"`
		} `json:"clients"`
		MPs []struct {
			Name string `json:"name"`
		} `json:"management_points"`
	}
	if err := json.Unmarshal(asRun, &s); err != nil {
		return order{}, fmt.Errorf("scenario_as_run: %w", err)
	}
	var o order
	for _, g := range s.Clients {
		o.groups = append(o.groups, g.Group)
	}
	for _, m := range s.MPs {
		o.mps = append(o.mps, m.Name)
	}
	return o, nil
}

// inOrder lists the names seq yields, in the order of ref first, then any others in the
// order they came.
func inOrder(ref []string, seq func(yield func(string))) []string {
	seen := map[string]bool{}
	var rest []string
	seq(func(s string) {
		if !seen[s] {
			seen[s] = true
			if !slices.Contains(ref, s) {
				rest = append(rest, s)
			}
		}
	})
	var out []string
	for _, s := range ref {
		if seen[s] {
			out = append(out, s)
		}
	}
	return append(out, rest...)
}

// histKey identifies one histogram: its kind and tags.
type histKey struct {
	kind string
	tags HistTags
}

func (k histKey) sortKey() string {
	t := k.tags
	return fmt.Sprintf("%s/%s/%s/%d/%s/%s/%s", k.kind, t.Operation, t.Transport, t.Port, t.Outcome, t.Group, t.MP)
}

// mergeHists merges every histogram of the shards by kind and tags, and rebuilds the
// request rows from them.
func mergeHists(out *Result, shards []MergeInput) error {
	merged := map[histKey]*hdrhistogram.Histogram{}
	var kept int64
	for _, x := range shards {
		for _, e := range x.Result.Hists {
			k := histKey{e.Kind, e.Tags}
			b, err := e.countsBytes()
			if err != nil {
				return fmt.Errorf("%s: %w", x.Name, err)
			}
			h, err := e.Histogram()
			if err != nil {
				return fmt.Errorf("%s: %w", x.Name, err)
			}
			m, ok := merged[k]
			if !ok {
				if kept += b; kept > maxMergedBytes {
					return fmt.Errorf("%s: %w: the histograms take more than %d MiB decoded", x.Name, ErrCorrupt, maxMergedBytes>>20)
				}
				merged[k] = h
				continue
			}
			if dropped := m.Merge(h); dropped > 0 {
				return fmt.Errorf("%s: %w: merge histogram %s %s: %d values out of range", x.Name, ErrCorrupt, e.Kind, e.Tags, dropped)
			}
		}
	}
	keys := make([]histKey, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].sortKey() < keys[j].sortKey() })
	// Request rows a shard has without a service-time histogram keep that shard's
	// service-time figures (one shard per group, so one row per key).
	rowService := map[HistTags]Percentiles{}
	for _, x := range shards {
		for _, q := range x.Result.Requests {
			rowService[HistTags{q.Operation, q.Transport, q.Port, q.Outcome, q.Group, q.MP}] = q.ServiceTime
		}
	}
	for _, k := range keys {
		h := merged[k]
		e, err := EncodeHist(k.kind, k.tags, h)
		if err != nil {
			return fmt.Errorf("%w: encode merged histogram %s %s: %w", ErrCorrupt, k.kind, k.tags, err)
		}
		out.Hists = append(out.Hists, e)
		if k.kind != KindLatency {
			continue
		}
		t := k.tags
		st, ok := merged[histKey{KindServiceTime, t}]
		service := rowService[t]
		if ok {
			service = Summarize(st)
		}
		out.Requests = append(out.Requests, RequestStats{Operation: t.Operation, Transport: t.Transport, Port: t.Port,
			Outcome: t.Outcome, Group: t.Group, MP: t.MP, Count: uint64(h.TotalCount()), Latency: Summarize(h), ServiceTime: service})
	}
	return nil
}

// mergeGroups keeps each group, its pushes and its wake-ups as its shard measured them,
// in the scenario's order.
func mergeGroups(out *Result, shards []MergeInput, o order) {
	pos := func(g string) int {
		if i := slices.Index(o.groups, g); i >= 0 {
			return i
		}
		return len(o.groups)
	}
	for _, x := range shards {
		out.Groups = append(out.Groups, x.Result.Groups...)
		out.Push = append(out.Push, x.Result.Push...)
		out.Wake = append(out.Wake, x.Result.Wake...)
	}
	sort.SliceStable(out.Groups, func(i, j int) bool { return pos(out.Groups[i].Group) < pos(out.Groups[j].Group) })
	sort.SliceStable(out.Push, func(i, j int) bool { return pos(out.Push[i].Group) < pos(out.Push[j].Group) })
	sort.SliceStable(out.Wake, func(i, j int) bool { return pos(out.Wake[i].Group) < pos(out.Wake[j].Group) })
	counters := map[[2]string]int64{}
	var names [][2]string
	for _, x := range shards {
		for _, c := range x.Result.Shard.Counters {
			k := [2]string{c.Name, c.Group}
			if _, ok := counters[k]; !ok {
				names = append(names, k)
			}
			counters[k] += c.Value
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return names[i][0] < names[j][0] || names[i][0] == names[j][0] && names[i][1] < names[j][1]
	})
	for _, k := range names {
		out.Shard.Counters = append(out.Shard.Counters, ShardCounter{Name: k[0], Group: k[1], Value: counters[k]})
	}
}

// mergeSeries sums the per-second series second by second: each shard counts its
// seconds from the common start.
func mergeSeries(out *Result, shards []MergeInput) {
	by := map[float64]*SecondPoint{}
	for _, x := range shards {
		for _, p := range x.Result.Series {
			m := by[p.T]
			if m == nil {
				m = &SecondPoint{T: p.T}
				by[p.T] = m
			}
			m.Attempts += p.Attempts
			m.OK += p.OK
			m.Failures = addCounts(m.Failures, p.Failures)
			m.Managed = addCounts(m.Managed, p.Managed)
			m.Unmanaged = addCounts(m.Unmanaged, p.Unmanaged)
			m.Planned += p.Planned
			m.Late += p.Late
			m.Deferred += p.Deferred
		}
	}
	for _, p := range by {
		out.Series = append(out.Series, *p)
	}
	sort.Slice(out.Series, func(i, j int) bool { return out.Series[i].T < out.Series[j].T })
}

func addCounts(dst, src map[string]int) map[string]int {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string]int{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// mergeFirewall sums each rule's counters over the shards (every shard has every router).
func mergeFirewall(out *Result, shards []MergeInput) {
	type key struct{ router, rule string }
	idx := map[key]int{}
	for _, x := range shards {
		for _, c := range x.Result.Firewall {
			k := key{c.Router, c.Rule}
			if i, ok := idx[k]; ok {
				out.Firewall[i].Packets += c.Packets
				out.Firewall[i].Bytes += c.Bytes
				continue
			}
			idx[k] = len(out.Firewall)
			out.Firewall = append(out.Firewall, c)
		}
	}
}

// mergeCost keeps every MP's cost as its shard measured it (with its web garden's
// workers after it), in the scenario's order, then every fleet process, named
// shard-I/NAME, and any other process the same way.
func mergeCost(out *Result, shards []MergeInput, o order) {
	var mps, others []ProcessCost
	for i, x := range shards {
		for _, c := range x.Result.Cost {
			switch c.Role {
			case "mp", "mp-worker":
				mps = append(mps, c)
			default:
				c.Name = fmt.Sprintf("shard-%d/%s", i, c.Name)
				others = append(others, c)
			}
		}
	}
	pos := func(c ProcessCost) int {
		name, _, _ := strings.Cut(c.Name, "#")
		if i := slices.Index(o.mps, name); i >= 0 {
			return i
		}
		return len(o.mps)
	}
	sort.SliceStable(mps, func(i, j int) bool { return pos(mps[i]) < pos(mps[j]) })
	out.Cost = append(mps, others...)
}

func mergeLoad(out *Result, shards []MergeInput) {
	for _, x := range shards {
		l := x.Result.Load
		out.Load.Planned += l.Planned
		out.Load.Late += l.Late
		out.Load.Deferred += l.Deferred
		out.Load.Skipped += l.Skipped
	}
	if out.Load.Planned > 0 {
		out.Load.LateFraction = float64(out.Load.Late) / float64(out.Load.Planned)
		out.Load.DeferredFraction = float64(out.Load.Deferred) / float64(out.Load.Planned)
	}
}

// mergeIntervals merges each series' interval histograms interval by interval (each
// shard counts its intervals from the common start, as its series), losslessly from
// their HdrHistogram data.
func mergeIntervals(out *Result, shards []MergeInput) error {
	type key struct {
		t   float64
		tag string
	}
	by := map[key]*HistInterval{}
	hs := map[key]*hdrhistogram.Histogram{}
	var keys []key
	for _, x := range shards {
		for _, iv := range x.Result.Intervals {
			h, err := iv.Histogram()
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMerge, x.Name, err)
			}
			k := key{iv.T, HlogTag(iv.EncodedHist)}
			if m, ok := hs[k]; ok {
				if dropped := m.Merge(h); dropped > 0 {
					return fmt.Errorf("%w: %s: interval %s at %vs: %d values out of range", ErrMerge, x.Name, k.tag, k.t, dropped)
				}
				by[k].Max = max(by[k].Max, iv.Max)
				continue
			}
			c := iv
			by[k], hs[k] = &c, h
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].t < keys[j].t || keys[i].t == keys[j].t && keys[i].tag < keys[j].tag
	})
	for _, k := range keys {
		e, err := EncodeHist(by[k].Kind, by[k].Tags, hs[k])
		if err != nil {
			return err
		}
		iv := *by[k]
		iv.EncodedHist = e
		out.Intervals = append(out.Intervals, iv)
	}
	return nil
}

// mergeEvents lists each timeline event once: a site-wide one, which every shard applied
// at the same offset, with the latest moment any shard applied it and every shard's
// error; the timeline marks likewise.
func mergeEvents(out *Result, shards []MergeInput) {
	type key struct {
		at           float64
		kind, detail string
	}
	idx := map[key]int{}
	for i, x := range shards {
		for _, e := range x.Result.Events {
			k := key{e.At, e.Kind, e.Detail}
			if e.Error != "" {
				e.Error = fmt.Sprintf("shard %d/%d: %s", i, len(shards), e.Error)
			}
			j, ok := idx[k]
			if !ok {
				idx[k] = len(out.Events)
				out.Events = append(out.Events, e)
				continue
			}
			m := &out.Events[j]
			m.Applied = max(m.Applied, e.Applied)
			if e.Error != "" {
				m.Error = strings.TrimPrefix(m.Error+"; "+e.Error, "; ")
			}
		}
	}
	sort.SliceStable(out.Events, func(i, j int) bool { return out.Events[i].At < out.Events[j].At })
	type mk struct {
		t     float64
		label string
	}
	seen := map[mk]bool{}
	for _, x := range shards {
		for _, m := range x.Result.Timeline {
			if k := (mk{m.T, m.Label}); !seen[k] {
				seen[k] = true
				out.Timeline = append(out.Timeline, m)
			}
		}
	}
	sort.SliceStable(out.Timeline, func(i, j int) bool { return out.Timeline[i].T < out.Timeline[j].T })
}

// mergeLocation sums what each shard's own site server served (every shard publishes
// the same site, so the publication itself is the first shard's): LDAP counters by
// listener kind, DNS counters.
func mergeLocation(out *Result, shards []MergeInput) {
	for _, x := range shards {
		l := x.Result.Location
		if l == nil {
			continue
		}
		if out.Location == nil {
			c := *l
			c.LDAP = append([]LDAPListener(nil), l.LDAP...)
			out.Location = &c
			continue
		}
		for _, ln := range l.LDAP {
			i := slices.IndexFunc(out.Location.LDAP, func(o LDAPListener) bool { return o.Kind == ln.Kind })
			if i < 0 {
				out.Location.LDAP = append(out.Location.LDAP, ln)
				continue
			}
			o := &out.Location.LDAP[i]
			o.Conns += ln.Conns
			o.Searches += ln.Searches
			o.Entries += ln.Entries
			o.NoSuchObject += ln.NoSuchObject
			o.Errors += ln.Errors
		}
		d, s := &out.Location.DNS, l.DNS
		d.Queries += s.Queries
		d.SRV += s.SRV
		d.A += s.A
		d.Answers += s.Answers
		d.NXDomain += s.NXDomain
		d.Refused += s.Refused
		d.TCP += s.TCP
	}
}
