package fleet

import (
	"math/rand/v2"
	"time"
)

// Pacer plans one client's periodic work as a pure function, like vegeta's pacer: cycle
// k is due at Base + k·Interval + jitter(k), with jitter uniform in ±Jitter·Interval and
// drawn from (Seed, Client, Stream, Epoch, k) alone. Nothing depends on when anything
// actually ran, so the schedule is fixed in advance (open model), testable without
// sleeping, and the same seed gives the same schedule. Jitter below half an interval
// keeps the times strictly increasing.
type Pacer struct {
	Base     time.Duration // offset of cycle 0 from the run's start
	Interval time.Duration
	Jitter   float64 // fraction of Interval, [0, 0.5)
	Seed     int64
	Client   int    // global client index
	Stream   uint32 // what is paced: streamPolicy, streamHeartbeat
	Epoch    uint32 // bumped when the client's schedule restarts (wake-up)
}

// Streams a client paces.
const (
	streamPolicy    = 1
	streamHeartbeat = 2
)

// Due returns cycle k's planned offset from the run's start.
func (p Pacer) Due(k int) time.Duration {
	t := p.Base + time.Duration(k)*p.Interval
	if p.Jitter > 0 {
		r := rand.New(rand.NewPCG(uint64(p.Seed)^uint64(p.Client)<<20^uint64(p.Stream)<<52, uint64(p.Epoch)<<40^uint64(k)))
		t += time.Duration((r.Float64()*2 - 1) * p.Jitter * float64(p.Interval))
	}
	// Never before the base: a client woken (or started) at Base cannot have planned a
	// cycle earlier, and such a cycle would only count as a late start.
	return max(t, p.Base)
}

// Next returns the first cycle index due at or after offset at.
func (p Pacer) Next(at time.Duration) int {
	if at <= p.Base {
		return 0
	}
	k := int((at - p.Base) / p.Interval)
	for k > 0 && p.Due(k-1) >= at {
		k--
	}
	for p.Due(k) < at {
		k++
	}
	return k
}

// groupRampOffset is where a client's first cycle falls in the ramp: every group is
// spread over the whole ramp, the groups interleaved, so no group starts before
// another because of where it stands in the file (side-by-side groups, as in
// notification-cost, then cost the same start-up and are online as long). j is the
// client's index in its whole group of n; phase in [0,1) shifts each group's starts a
// little (the group's first global index over the scenario's clients) so that groups of
// equal size do not start a client each at the same instant. With one group the i-th
// of n starts at i·ramp/n.
func groupRampOffset(ramp time.Duration, j, n int, phase float64) time.Duration {
	return time.Duration(float64(ramp) * (float64(j) + phase) / float64(n))
}

// unitFloat is a seeded number in [0,1) for (seed, client, what).
func unitFloat(seed int64, client int, what uint64) float64 {
	return rand.New(rand.NewPCG(uint64(seed)^what<<56, uint64(client))).Float64()
}

// PlanPolicy returns the first n planned policy cycle offsets of every client of a
// normalized config, in fleet order: the schedule the fleet will follow (before any
// wake-up restarts it).
func PlanPolicy(cfg Config, n int) [][]time.Duration {
	var out [][]time.Duration
	total := 0
	for _, g := range cfg.Groups {
		total += g.Count
	}
	ord := 0
	for gi := range cfg.Groups {
		g := &cfg.Groups[gi]
		for j := range g.Count {
			p := policyPacer(cfg, g, g.First+j, ord, total, 0, 0)
			row := make([]time.Duration, n)
			for k := range row {
				row[k] = p.Due(k)
			}
			out = append(out, row)
			ord++
		}
	}
	return out
}

// policyPacer is the pacer of a client's policy cycles; base is where its schedule
// (re)starts, as an offset from the run's start (0: the ramp decides).
//
// The ramp spreads the clients by their global index over cfg.RampOf clients (the whole
// scenario's, when the orchestrator says so), so a client's schedule does not depend on
// which fleet process runs it: a segment split over several processes plans exactly
// what one process would.
func policyPacer(cfg Config, g *Group, index, ord, total int, base time.Duration, epoch uint32) Pacer {
	if epoch == 0 {
		// The group's first client: by global index when the orchestrator gives the
		// scenario's total (every fleet process then plans the same schedule), else in
		// this fleet's order.
		first := ord - (index - g.First)
		if cfg.RampOf > 0 {
			first, total = g.First-g.GroupOffset, cfg.RampOf
		}
		// (Normalize has set GroupCount; total counts this client, so it is not 0.)
		base = groupRampOffset(cfg.Ramp.D(), g.GroupOffset+index-g.First, g.GroupCount, float64(first)/float64(total))
	}
	return Pacer{Base: base, Interval: g.PolicyInterval.D(), Jitter: g.Jitter, Seed: cfg.Seed,
		Client: index, Stream: streamPolicy, Epoch: epoch}
}

// heartbeatPacer: the first heartbeat falls at a seeded point of the first interval.
func heartbeatPacer(cfg Config, g *Group, index int, base time.Duration, epoch uint32) Pacer {
	first := time.Duration(unitFloat(cfg.Seed, index, streamHeartbeat) * float64(g.HeartbeatInterval))
	return Pacer{Base: base + first, Interval: g.HeartbeatInterval.D(), Seed: cfg.Seed, Client: index,
		Stream: streamHeartbeat, Epoch: epoch}
}
