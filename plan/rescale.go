package plan

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/portlab/portlab/scenarios"
)

// MaxClients bounds `portlab run --clients`: what 198.18.0.0/15 holds (2^17 addresses),
// since every client has its own address in a segment's range inside it, which is
// below the scenario format's total (scenarios.MaxTotalClients). Each range also loses
// its network and broadcast addresses and the segments' link subnets take room too, so
// this is an upper bound that keeps the arithmetic small, not a promise: Rescale says
// the largest count that really fits a scenario.
const MaxClients = 1 << (32 - 15)

// Rescale sets the scenario's total client count to n, keeping the groups' proportions
// (each group keeps at least one client), grows client identity ranges that become too
// small (see growRanges), and re-validates it (`portlab run --clients`). n is bounded by
// MaxClients first; the arithmetic is in integers, so no n overflows. A count whose
// clients cannot get addresses is refused with the largest count that fits.
func Rescale(s *scenarios.Scenario, n int) error {
	if n < len(s.Clients) {
		return fmt.Errorf("--clients %d: the scenario has %d groups; give at least one client each", n, len(s.Clients))
	}
	if n > MaxClients {
		return fmt.Errorf("--clients %d: at most %d (every client needs an address of 198.18.0.0/15; a group holds at most %d)", n, MaxClients, scenarios.MaxGroupClients)
	}
	counts, err := shares(s, n)
	if err != nil {
		return err
	}
	segs, err := growRanges(s, counts)
	if err != nil {
		if largest := largestFit(s, n); largest > 0 {
			return fmt.Errorf("--clients %d: %w; the largest count that fits this scenario is %d", n, err, largest)
		}
		return fmt.Errorf("--clients %d: %w", n, err)
	}
	for i := range s.Clients {
		s.Clients[i].Count = counts[i]
	}
	s.Network.Segments = segs
	return s.Validate()
}

// shares spreads n clients over the groups in proportion to their counts, by largest
// remainder: each group gets at least one client and its floored share; the clients
// left over go to the largest remainders, so the total is exactly n. Count and n are at
// most 2e5 each, so their product fits an int64 with room to spare.
func shares(s *scenarios.Scenario, n int) ([]int, error) {
	total := 0
	for _, g := range s.Clients {
		total += g.Count // validated: each 1..MaxGroupClients
	}
	if total < 1 {
		return nil, fmt.Errorf("--clients %d: the scenario has no clients to scale", n)
	}
	type share struct{ i, rem int }
	counts := make([]int, len(s.Clients))
	sh := make([]share, len(s.Clients))
	assigned := 0
	for i := range s.Clients {
		exact := int64(s.Clients[i].Count) * int64(n)
		c := max(1, int(exact/int64(total)))
		sh[i] = share{i, int(exact % int64(total))}
		counts[i] = c
		assigned += c
	}
	sort.SliceStable(sh, func(a, b int) bool { return sh[a].rem > sh[b].rem })
	// At most one extra client per group: the floors are short of n by less than the
	// number of groups.
	for k := 0; assigned < n && k < len(sh); k++ {
		counts[sh[k].i]++
		assigned++
	}
	for assigned > n { // the minimum of one per group pushed us over: take from the largest
		big := 0
		for i := range counts {
			if counts[i] > counts[big] {
				big = i
			}
		}
		if counts[big] <= 1 {
			break // cannot happen: n >= groups
		}
		counts[big]--
		assigned--
	}
	if assigned != n {
		return nil, fmt.Errorf("--clients %d: could only spread %d clients over the groups", n, assigned)
	}
	return counts, nil
}

// growRanges returns the scenario's segments with every client identity range that is
// too small for its new clients widened: first in place (the same start, a shorter
// prefix, aligned), else moved to the lowest free aligned block of 198.18.0.0/15 that
// overlaps no other segment's subnet or range. Ranges that are large enough are kept as
// written, so a scenario's addresses change only where they must. Firewall rules name
// segments, not addresses, so moving a range keeps every rule's meaning; the result
// records the ranges the run used.
func growRanges(s *scenarios.Scenario, counts []int) ([]scenarios.Segment, error) {
	segs := append([]scenarios.Segment(nil), s.Network.Segments...)
	need := map[string]int{}
	for i, g := range s.Clients {
		need[g.Segment] += counts[i]
	}
	// The ranges that must grow give up their old place, and the largest is placed first,
	// so a small range that is in the way of a large one moves rather than blocking it.
	bench := scenarios.BenchmarkRange()
	type grow struct{ i, n, bits int }
	var grows []grow
	pending := map[int]bool{}
	for i, seg := range segs {
		n := need[seg.Name]
		if n == 0 || !seg.Clients.IsValid() || usable(seg.Clients.Prefix) >= n {
			continue
		}
		bits := 32
		for bits > bench.Bits() && usable(netip.PrefixFrom(bench.Addr(), bits)) < n {
			bits--
		}
		if usable(netip.PrefixFrom(bench.Addr(), bits)) < n {
			return nil, fmt.Errorf("segment %q needs %d client addresses; 198.18.0.0/15 holds %d", seg.Name, n, usable(bench))
		}
		grows = append(grows, grow{i, n, bits})
		pending[i] = true
	}
	sort.SliceStable(grows, func(a, b int) bool { return grows[a].bits < grows[b].bits })
	taken := func(p netip.Prefix, skip int) bool {
		for j, o := range segs {
			for k, q := range []scenarios.Prefix{o.Subnet, o.Clients} {
				if k == 1 && (j == skip || pending[j]) || !q.IsValid() {
					continue
				}
				if q.Masked().Overlaps(p) {
					return true
				}
			}
		}
		return false
	}
	for _, g := range grows {
		i, bits := g.i, g.bits
		placed := false
		if p, err := segs[i].Clients.Addr().Prefix(bits); err == nil && p.Bits() >= bench.Bits() && bench.Contains(p.Addr()) && !taken(p, i) {
			segs[i].Clients = scenarios.Prefix{Prefix: p}
			placed = true
		}
		size := uint64(1) << (32 - bits)
		start := uint64(u32(bench.Addr()))
		end := start + uint64(1)<<(32-bench.Bits())
		for a := start; !placed && a+size <= end; a += size {
			if p := netip.PrefixFrom(addr(uint32(a)), bits); !taken(p, i) {
				segs[i].Clients = scenarios.Prefix{Prefix: p}
				placed = true
			}
		}
		if !placed {
			return nil, fmt.Errorf("segment %q needs a /%d client range (%d addresses) and 198.18.0.0/15 has no free one beside the other segments", segs[i].Name, bits, g.n)
		}
		delete(pending, i)
	}
	return segs, nil
}

// largestFit is the largest client count up to n whose ranges can be grown, by
// bisection (shares and growRanges are cheap and only read s); 0 when not even one
// client per group fits.
func largestFit(s *scenarios.Scenario, n int) int {
	fits := func(m int) bool {
		c, err := shares(s, m)
		if err != nil {
			return false
		}
		_, err = growRanges(s, c)
		return err == nil
	}
	lo, hi := len(s.Clients), n
	if !fits(lo) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// usable counts host addresses in a client identity range (not network or broadcast),
// as validation does.
func usable(p netip.Prefix) int {
	n := 1 << (32 - p.Bits())
	if n > 2 {
		n -= 2
	}
	return n
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
