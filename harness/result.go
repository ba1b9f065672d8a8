package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// percentiles summarises a histogram of microseconds in seconds.
func percentiles(h *hdrhistogram.Histogram) reports.Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return reports.Percentiles{}
	}
	s := func(us int64) float64 { return float64(us) / 1e6 }
	return reports.Percentiles{
		Count: uint64(h.TotalCount()), Mean: h.Mean() / 1e6,
		P50: s(h.ValueAtQuantile(50)), P90: s(h.ValueAtQuantile(90)), P95: s(h.ValueAtQuantile(95)),
		P99: s(h.ValueAtQuantile(99)), P999: s(h.ValueAtQuantile(99.9)), Max: s(h.Max()),
	}
}

// result assembles the run's result, section by section, evaluates the gates and sets
// the status.
func (r *runner) result(started time.Time, interrupted bool) *reports.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.p.Scenario
	res := &reports.Result{
		SchemaVersion: reports.SchemaVersion, Tool: r.opt.Tool, RunID: r.opt.RunID, ScenarioName: s.Name,
		Started: started, Ended: time.Now(), Environment: environment(r.p.Clients()),
		Events: r.events, Timeline: r.marks,
	}
	if b, err := json.Marshal(s); err == nil {
		res.Scenario = b
	}
	if !r.t0.IsZero() {
		end := r.ended
		if end.IsZero() {
			end = time.Now()
		}
		res.Elapsed = max(0, min(end.Sub(r.t0), r.p.Duration)).Seconds()
	}
	rec := r.total()
	if !r.t0.IsZero() {
		res.LoadStart = max(0, r.t0.Sub(started).Seconds())
		r.ivs.seal(-1, 0)
		res.Intervals = r.ivs.sealed
	}
	r.groupsSection(res, rec)
	r.locationSection(res, rec)
	r.requestsSection(res, rec)
	r.notificationSection(res, rec)
	r.wakeSection(res, rec)
	r.seriesSection(res)
	r.firewallSection(res)
	r.costSection(res)
	r.loadSection(res, rec)
	res.Notes = append(res.Notes, r.failures...)

	if r.opt.Shard != nil {
		r.shardSection(res, rec) // gates pending: the merge judges them
	} else {
		res.Gates = EvaluateGates(s, res, rec)
	}
	switch {
	case interrupted:
		res.Status = reports.StatusInterrupted
		res.Error = "interrupted before the end of the run; figures cover what ran"
	case len(r.failures) > 0:
		res.Status = reports.StatusError
		res.Error = strings.Join(r.failures, "; ")
	case len(res.Failed()) > 0:
		res.Status = reports.StatusFailed
	default:
		res.Status = reports.StatusPassed
	}
	return res
}

// groupsSection: each group's end state, from the fleets' final client states when they
// sent them, else their last snapshot.
func (r *runner) groupsSection(res *reports.Result, rec *metrics.Recorder) {
	for _, g := range r.p.Groups {
		out := reports.GroupOutcome{Group: g.Name, Count: g.Count, PortsUsed: map[int]int{}, Installed: map[int]int{}}
		for _, fi := range g.Fleets {
			f := r.fleets[fi]
			rep := f.final
			if rep == nil {
				rep = f.last
			}
			if rep == nil {
				continue
			}
			st := rep.Groups[g.Name]
			out.Managed += st.Managed
			out.Unmanaged += st.Unmanaged
			out.Asleep += st.Asleep
			for k, v := range st.Notification {
				if out.Notification == nil {
					out.Notification = map[string]int{}
				}
				out.Notification[k] += v
			}
			for _, c := range rep.Clients {
				if c.Group != g.Name {
					continue
				}
				if c.Fallbacks > 0 {
					out.Fallbacks++
				}
				if c.LastPort != 0 {
					out.PortsUsed[c.LastPort]++
				}
				if g.Scheme == scenarios.SchemeHTTPS {
					out.Installed[c.HTTPSPort]++
				} else {
					out.Installed[c.HTTPPort]++
				}
			}
		}
		out.Transitions = r.transitions(g.Name)
		out.FallbackDelay = percentiles(rec.Query(metrics.Key{Metric: metrics.FallbackDelay, Group: g.Name}))
		res.Groups = append(res.Groups, out)
	}
}

// requestsSection: one row per latency key, with its service-time twin, and every
// histogram for lossless re-analysis.
func (r *runner) requestsSection(res *reports.Result, rec *metrics.Recorder) {
	for _, k := range rec.Keys() {
		if k.Metric != metrics.Latency {
			continue
		}
		sk := k
		sk.Metric = metrics.Service
		res.Requests = append(res.Requests, reports.RequestStats{
			Operation: k.Op, Transport: k.Transport, Port: k.Port, Outcome: k.Outcome, Group: k.Group, MP: k.MP,
			Count: uint64(rec.Histogram(k).TotalCount()), Latency: percentiles(rec.Histogram(k)), ServiceTime: percentiles(rec.Histogram(sk)),
		})
		res.Hists = append(res.Hists, encodeHist(metrics.Latency, k, rec.Histogram(k)))
	}
	for _, k := range rec.Keys() {
		switch k.Metric {
		case metrics.FallbackDelay, metrics.PushLatency, metrics.TimeToManaged, metrics.FollowTime:
			res.Hists = append(res.Hists, encodeHist(k.Metric, k, rec.Histogram(k)))
		}
	}
}

// notificationSection: pushes sent to each group that has a channel, and their delivery.
func (r *runner) notificationSection(res *reports.Result, rec *metrics.Recorder) {
	for _, g := range r.p.Groups {
		if r.pushes[g.Name] == 0 || g.Notification == scenarios.NotifyOff {
			continue
		}
		h := rec.Query(metrics.Key{Metric: metrics.PushLatency, Op: metrics.OpPushAck, Group: g.Name})
		res.Push = append(res.Push, reports.PushStats{
			Group: g.Name, Transport: string(g.Notification), Targeted: g.Count * r.pushes[g.Name],
			// Distinct pushes received: a push delivered twice (session and long poll) is
			// acknowledged twice but delivered once.
			Delivered: int(rec.Counter(metrics.CPushes, g.Name)), Latency: percentiles(h),
		})
	}
}

// wakeSection: sleeping clients woken per group sent wake-up packets.
func (r *runner) wakeSection(res *reports.Result, rec *metrics.Recorder) {
	for _, g := range r.p.Groups {
		if w := r.wakes[g.Name]; w != nil {
			w.Woken = int(rec.Counter(metrics.CWoken, g.Name))
			w.TimeToManaged = percentiles(rec.Query(metrics.Key{Metric: metrics.TimeToManaged, Group: g.Name}))
			res.Wake = append(res.Wake, *w)
		}
	}
}

// seriesSection: the per-second series, in order.
func (r *runner) seriesSection(res *reports.Result) {
	var secs []int
	for s := range r.series {
		secs = append(secs, s)
	}
	sort.Ints(secs)
	for _, s := range secs {
		res.Series = append(res.Series, *r.series[s])
	}
}

// firewallSection: every rule counter, read now from the routers' tables.
func (r *runner) firewallSection(res *reports.Result) {
	var routers []string
	for name := range r.p.Firewalls {
		routers = append(routers, name)
	}
	sort.Strings(routers)
	for _, rt := range routers {
		cs, err := r.topo.Counters(rt)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("firewall counters of %s: %v", rt, err))
			continue
		}
		var names []string
		for n := range cs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			res.Firewall = append(res.Firewall, reports.RuleCounter{Router: rt, Rule: n, Action: string(r.p.Firewalls[rt][n]),
				Packets: cs[n].Packets, Bytes: cs[n].Bytes})
		}
	}
}

// costSection: every MP's and fleet's CPU and memory.
func (r *runner) costSection(res *reports.Result) {
	for _, pm := range r.p.MPs {
		res.Cost = append(res.Cost, r.mpCost(pm.Name, r.mps[pm.Name], res.Elapsed)...)
	}
	if c, ok := r.siteCostResult(); ok {
		res.Cost = append(res.Cost, c)
	}
	for _, f := range r.fleets {
		c := reports.ProcessCost{Role: "fleet", Name: f.plan.Name(), PID: f.conn.proc.Pid(), Clients: f.plan.Clients, Series: f.cost, RSSPeak: f.peak}
		if n := len(f.cost); n > 0 {
			c.CPUUser = f.cost[n-1].CPU // user+system, cumulative
			c.RSSEnd = f.cost[n-1].RSS
		}
		// The requests this process made: its own whole-run histograms.
		own := f.finalR
		if own == nil {
			own = f.rec
		}
		reqs := uint64(own.Series().Attempts)
		c.Requests = reqs
		if reqs > 0 {
			c.CPUPerRequestUS = c.CPUUser * 1e6 / float64(reqs)
		}
		if res.Elapsed > 0 && f.plan.Clients > 0 {
			c.CPUPerClientMinuteUS = c.CPUUser * 1e6 / (float64(f.plan.Clients) * res.Elapsed / 60)
		}
		res.Cost = append(res.Cost, c)
	}
	// The rest of portlab's own cost, so the whole fake is visible beside what it
	// measures: this orchestrator (collecting every agent's snapshots, the per-second
	// series and intervals, the timeline); the site server's row is above.
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.Cost = append(res.Cost, reports.ProcessCost{Role: "orchestrator", Name: "portlab run", PID: os.Getpid(),
			CPUUser: time.Duration(ru.Utime.Nano()).Seconds(), CPUSystem: time.Duration(ru.Stime.Nano()).Seconds(),
			RSSPeak: uint64(ru.Maxrss) << 10})
	}
}

// loadSection: did the load generator keep its schedule.
func (r *runner) loadSection(res *reports.Result, rec *metrics.Recorder) {
	for _, g := range r.p.Groups {
		res.Load.Planned += uint64(rec.Counter(metrics.CPlanned, g.Name))
		res.Load.Late += uint64(rec.Counter(metrics.CLateStarts, g.Name))
		res.Load.Deferred += uint64(rec.Counter(metrics.CDeferred, g.Name))
		res.Load.Skipped += uint64(rec.Counter(metrics.CSkippedBusy, g.Name))
	}
	if res.Load.Planned > 0 {
		res.Load.LateFraction = float64(res.Load.Late) / float64(res.Load.Planned)
		res.Load.DeferredFraction = float64(res.Load.Deferred) / float64(res.Load.Planned)
	}
	if res.Load.LateFraction > 0.01 {
		res.Notes = append(res.Notes, fmt.Sprintf("the load generator fell behind: %.1f%% of cycles started late by portlab itself; latency figures include its own delay", 100*res.Load.LateFraction))
	}
	if res.Load.DeferredFraction > 0.01 {
		res.Notes = append(res.Notes, fmt.Sprintf("%.1f%% of cycles were deferred because the client was still busy with an earlier one: the MP or the network was slower than the schedule", 100*res.Load.DeferredFraction))
	}
	if d := rec.Dropped(); d > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d values fell outside the histograms' range and were dropped", d))
	}
}

// workerCost is one MP process's cost.
func workerCost(name string, a *mpAgent) reports.ProcessCost {
	c := reports.ProcessCost{Role: "mp", Name: name, PID: a.conn.proc.Pid(), Series: a.cost, RSSPeak: a.peak, Sessions: a.sess}
	if n := len(a.cost); n > 0 {
		c.CPUUser = a.cost[n-1].CPU // cumulative user+system from /proc
		c.RSSEnd = a.cost[n-1].RSS
	}
	if p := a.last.Process; p.CPUUserSeconds+p.CPUSystemSeconds > 0 {
		// The agent's own reading at the end is more recent than the last sample.
		c.CPUUser, c.CPUSystem = p.CPUUserSeconds, p.CPUSystemSeconds
	}
	for _, q := range a.last.Requests {
		c.Requests += q.Count
	}
	return c
}

// mpCost is an MP's cost: the sum of its processes (a web garden's workers are
// reported one by one too, as role mp-worker), per request and per client-minute.
func (r *runner) mpCost(name string, g *mpGroup, elapsed float64) []reports.ProcessCost {
	var c reports.ProcessCost
	var workers []reports.ProcessCost
	var base uint64
	for i, a := range g.workers {
		w := workerCost(name, a)
		if i == 0 {
			c = w
			c.Series = append([]reports.CostPoint(nil), w.Series...)
		} else {
			c.CPUUser += w.CPUUser
			c.CPUSystem += w.CPUSystem
			c.RSSPeak += w.RSSPeak // an upper bound: the workers peaked at different moments
			c.RSSEnd += w.RSSEnd
			c.Requests += w.Requests
			c.Sessions += w.Sessions
			for j := range min(len(c.Series), len(w.Series)) {
				c.Series[j].CPU += w.Series[j].CPU
				c.Series[j].RSS += w.Series[j].RSS
				c.Series[j].Reqs += w.Series[j].Reqs
			}
		}
		base += a.base
		if len(g.workers) > 1 {
			w.Role, w.Name = "mp-worker", fmt.Sprintf("%s#%d", name, i+1)
			workers = append(workers, w)
		}
	}
	if len(g.workers) > 1 {
		c.PID = 0 // several processes
	}
	clients := r.clientsOf(name)
	c.Clients = clients
	cpu := c.CPUUser + c.CPUSystem
	if c.Requests > 0 {
		c.CPUPerRequestUS = cpu * 1e6 / float64(c.Requests)
	}
	if elapsed > 0 && clients > 0 {
		c.CPUPerClientMinuteUS = cpu * 1e6 / (float64(clients) * elapsed / 60)
	}
	if c.Sessions > 0 && base > 0 && c.RSSPeak > base {
		// Growth over the idle MP, per peak session: policy traffic shares it, so this is
		// an upper bound of what one notification client costs.
		c.RSSPerSession = float64(c.RSSPeak-base) / float64(c.Sessions)
	}
	return append([]reports.ProcessCost{c}, workers...)
}

// transitions lists one group's state changes, counted per second of the run (r.mu held).
func (r *runner) transitions(group string) []reports.Transition {
	var out []reports.Transition
	for k, n := range r.trans {
		if k.group == group {
			out = append(out, reports.Transition{T: float64(k.sec), To: k.to, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].T != out[j].T {
			return out[i].T < out[j].T
		}
		return out[i].To < out[j].To
	})
	return out
}

type transKey struct {
	group string
	sec   int
	to    string
}

func encodeHist(kind string, k metrics.Key, h *hdrhistogram.Histogram) reports.EncodedHist {
	tags := reports.HistTags{Operation: k.Op, Transport: k.Transport, Port: k.Port, Outcome: k.Outcome, Group: k.Group, MP: k.MP}
	e, err := reports.EncodeHist(kind, tags, h)
	if err != nil {
		return reports.EncodedHist{Kind: kind, Tags: tags}
	}
	return e
}

// clientsOf counts the clients that used MP name at the end of the run, from the fleets'
// final client states (r.mu held). Without them: the groups pinned to it, plus an even
// share of the unpinned groups of its site.
func (r *runner) clientsOf(name string) int {
	n, have := 0, true
	for _, f := range r.fleets {
		if f.final == nil || len(f.final.Clients) == 0 {
			have = false
			break
		}
		for _, c := range f.final.Clients {
			if c.MP == name {
				n++
			}
		}
	}
	if have {
		return n
	}
	site, peers := "", 0
	for _, m := range r.p.MPs {
		if m.Name == name {
			site = m.Site
		}
	}
	for _, m := range r.p.MPs {
		if m.Site == site {
			peers++
		}
	}
	n = 0
	for _, g := range r.p.Groups {
		switch {
		case g.MP == name:
			n += g.Count
		case g.MP == "" && peers > 0:
			n += g.Count / peers
		}
	}
	return n
}
