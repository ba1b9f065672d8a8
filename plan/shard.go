package plan

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/portlab/portlab/scenarios"
)

// Shard is one part of a scenario cut for a run on several machines: a set of
// management points and the client groups pinned to them. Every shard is a whole
// portlab network of its own (the scenario's segments, routers and site server, its
// MPs, its groups' clients); `portlab merge` puts the shards' results back together.
//
//	scenario: mp1 mp2 mp3, groups a→mp1 b→mp2 c→mp3 d→mp1
//	Split(s, 2):  shard 0/2 = {mp1: a, d}   shard 1/2 = {mp2: b, mp3: c}
//
// ConfigMgr gives the cut: a client keeps its assigned MP (boundary groups), so a group
// pinned to one MP (`mp:`) never talks to another. A group without `mp:` picks an MP of
// its site at random and another one when that fails, which may lie in another shard:
// such a scenario is refused.
type Shard struct {
	// Index (0-based, as a Kubernetes Indexed Job's JOB_COMPLETION_INDEX) and Count.
	Index, Count int
	// MPs and Groups in the scenario's order.
	MPs, Groups []string
	// Clients is the shard's share of the scenario's clients.
	Clients int
}

// String is "I/N".
func (sh Shard) String() string { return fmt.Sprintf("%d/%d", sh.Index, sh.Count) }

// HasMP and HasGroup say whether the shard holds a management point or a group.
func (sh Shard) HasMP(name string) bool    { return slices.Contains(sh.MPs, name) }
func (sh Shard) HasGroup(name string) bool { return slices.Contains(sh.Groups, name) }

// ErrCannotShard is matched (errors.Is) when a scenario cannot be cut as asked.
var ErrCannotShard = errors.New("cannot be cut into shards")

// MaxShards bounds N in --shard I/N (a primary site has 15 MPs; the bound only keeps
// a typo from meaning a million shards).
const MaxShards = 1000

// maxShardSpec bounds the text of --shard before it is parsed.
const maxShardSpec = 32

// ParseShard reads --shard's "I/N": shard I (0-based, 0 <= I < N) of N shards.
func ParseShard(s string) (index, count int, err error) {
	bad := func(why string) (int, int, error) {
		return 0, 0, fmt.Errorf("--shard %q: %s; want I/N with 0 <= I < N, such as 0/3 (I counts from 0, as JOB_COMPLETION_INDEX does)", clip(s), why)
	}
	if len(s) > maxShardSpec {
		return bad("too long")
	}
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return bad("no slash")
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case err1 != nil || err2 != nil:
		return bad("not two whole numbers")
	case n < 1:
		return bad("N must be at least 1")
	case n > MaxShards:
		return bad(fmt.Sprintf("N must be at most %d", MaxShards))
	case i < 0 || i >= n:
		return bad(fmt.Sprintf("I must lie in 0..%d", n-1))
	}
	return i, n, nil
}

func clip(s string) string {
	if len(s) > maxShardSpec {
		return s[:maxShardSpec] + "..."
	}
	return s
}

// Split cuts s into n shards: whole MPs, each with every group pinned to it, spread so
// that the shards' client counts are as even as they can be (largest MP first, each to
// the shard with the fewest clients so far, then the fewest MPs, then the lowest index).
// The split is a function of the scenario alone (its MPs, groups and counts; not the
// seed, the machine or the time), so every shard computes the same split on its own.
//
// It refuses (ErrCannotShard, naming what prevents the cut) n outside 1..the number of
// MPs, and, for more than one shard, any group not pinned to one MP (one shard is the
// whole scenario).
func Split(s *scenarios.Scenario, n int) ([]Shard, error) {
	if n < 1 || n > MaxShards {
		return nil, fmt.Errorf("%w: %d shards: want 1 to %d", ErrCannotShard, n, MaxShards)
	}
	if n > len(s.ManagementPoints) {
		return nil, fmt.Errorf("%w: %d shards but only %d management point(s): a shard holds at least one MP with its clients",
			ErrCannotShard, n, len(s.ManagementPoints))
	}
	mpIndex := map[string]int{}
	for i, m := range s.ManagementPoints {
		mpIndex[m.Name] = i
	}
	load := make([]int, len(s.ManagementPoints))
	var unpinned []string
	for _, g := range s.Clients {
		i, ok := mpIndex[g.MP]
		if !ok {
			if g.MP == "" {
				unpinned = append(unpinned, g.Group)
				continue
			}
			return nil, fmt.Errorf("%w: group %s is pinned to management point %q, which the scenario does not have", ErrCannotShard, g.Group, g.MP)
		}
		load[i] += g.Count
	}
	if n == 1 {
		// One shard holds every MP: no client can leave it, pinned or not.
		sh := Shard{Index: 0, Count: 1}
		for _, m := range s.ManagementPoints {
			sh.MPs = append(sh.MPs, m.Name)
		}
		for _, g := range s.Clients {
			sh.Groups = append(sh.Groups, g.Group)
			sh.Clients += g.Count
		}
		return []Shard{sh}, nil
	}
	if len(unpinned) > 0 {
		site := s.Site.Code
		return nil, fmt.Errorf("%w: group %s has no `mp:`: its clients pick any management point of their site (%s) from the MPLIST and pick another when it fails, which may be in another shard; pin each group to one MP with `mp:` (as a boundary group assigns it) to run the scenario as shards",
			ErrCannotShard, strings.Join(unpinned, ", "), site)
	}
	order := make([]int, len(s.ManagementPoints))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return load[order[a]] > load[order[b]] })
	shards := make([]Shard, n)
	of := make([]int, len(s.ManagementPoints)) // MP index -> shard
	for _, mi := range order {
		best := 0
		for k := 1; k < n; k++ {
			a, b := shards[k], shards[best]
			if a.Clients < b.Clients || a.Clients == b.Clients && len(a.MPs) < len(b.MPs) {
				best = k
			}
		}
		of[mi] = best
		shards[best].Clients += load[mi]
		shards[best].MPs = append(shards[best].MPs, s.ManagementPoints[mi].Name)
	}
	for k := range shards {
		shards[k].Index, shards[k].Count = k, n
		shards[k].MPs = shards[k].MPs[:0]
	}
	// MPs and groups in the scenario's order.
	for i, m := range s.ManagementPoints {
		sh := &shards[of[i]]
		sh.MPs = append(sh.MPs, m.Name)
	}
	for _, g := range s.Clients {
		sh := &shards[of[mpIndex[g.MP]]]
		sh.Groups = append(sh.Groups, g.Group)
	}
	return shards, nil
}

// LowerShard lowers shard index of n of s (Split) with the process sizing of opt.
func LowerShard(s *scenarios.Scenario, index, n int, opt Options) (*Plan, Shard, error) {
	shards, err := Split(s, n)
	if err != nil {
		return nil, Shard{}, err
	}
	if index < 0 || index >= n {
		return nil, Shard{}, fmt.Errorf("%w: shard %d of %d: the index counts from 0 to %d", ErrCannotShard, index, n, n-1)
	}
	sh := shards[index]
	opt.Shard = &sh
	p, err := LowerWith(s, opt)
	return p, sh, err
}

// The lowering of a shard (LowerWith with Options.Shard) differs from the whole
// scenario's only in what it leaves out, and keeps every client's schedule as it is in
// the whole scenario:
//   - the network is the scenario's, without the other shards' MPs;
//   - each MP keeps its seed (scenario seed + its index in the scenario), so its error
//     injection and service times draw the same numbers;
//   - each client keeps its global index (its GUID, MAC, seeded jitter and heartbeat)
//     and the ramp spreads clients over the whole scenario's count, so a client starts
//     and polls at the same offsets as in an unsharded run; only its source address
//     differs (each segment's shard clients are laid out from the start of its range);
//   - timeline events for another shard's group or MP (reconfigure, wake, notify of one
//     group, mp stop/start) are left out; site-wide events (site ports, firewalls,
//     notify to every group) run in every shard at their offset from the common start.

// skipStep reports whether a timeline event belongs to another shard.
func (sh *Shard) skipStep(e scenarios.Event) bool {
	if sh == nil {
		return false
	}
	switch {
	case e.Reconfigure != nil:
		return !sh.HasGroup(e.Reconfigure.Group)
	case e.Wake != nil:
		return !sh.HasGroup(e.Wake.Group)
	case e.Notify != nil:
		return e.Notify.Group != "" && !sh.HasGroup(e.Notify.Group)
	case e.MP != nil:
		return !sh.HasMP(e.MP.Name)
	}
	return false
}

// hasMP and hasGroup are true for everything without a shard.
func (sh *Shard) hasMP(name string) bool    { return sh == nil || sh.HasMP(name) }
func (sh *Shard) hasGroup(name string) bool { return sh == nil || sh.HasGroup(name) }
