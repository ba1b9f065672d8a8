package plan

import (
	"fmt"
	"sort"

	"github.com/portlab/portlab/scenarios"
)

// MaxClients bounds `portlab run --clients`: what 198.18.0.0/15 holds (2^17 addresses),
// since every client has its own address in a segment's range inside it, which is
// below the scenario format's total (scenarios.MaxTotalClients). Each range also loses
// its network and broadcast addresses and validation checks each segment's room, so
// this is an upper bound that keeps the arithmetic small, not a promise.
const MaxClients = 1 << (32 - 15)

// Rescale sets the scenario's total client count to n, keeping the groups' proportions
// (each group keeps at least one client), and re-validates it (`portlab run --clients`).
// n is bounded by MaxClients first; the arithmetic is in integers, so no n overflows.
func Rescale(s *scenarios.Scenario, n int) error {
	if n < len(s.Clients) {
		return fmt.Errorf("--clients %d: the scenario has %d groups; give at least one client each", n, len(s.Clients))
	}
	if n > MaxClients {
		return fmt.Errorf("--clients %d: at most %d (every client needs an address of 198.18.0.0/15; a group holds at most %d)", n, MaxClients, scenarios.MaxGroupClients)
	}
	total := 0
	for _, g := range s.Clients {
		total += g.Count // validated: each 1..MaxGroupClients
	}
	if total < 1 {
		return fmt.Errorf("--clients %d: the scenario has no clients to scale", n)
	}
	// Largest remainder: each group gets at least one client and its floored share; the
	// clients left over go to the largest remainders, so the total is exactly n. Count and
	// n are at most 2e5 each, so their product fits an int64 with room to spare.
	type share struct{ i, rem int }
	shares := make([]share, len(s.Clients))
	assigned := 0
	for i := range s.Clients {
		exact := int64(s.Clients[i].Count) * int64(n)
		c := max(1, int(exact/int64(total)))
		shares[i] = share{i, int(exact % int64(total))}
		s.Clients[i].Count = c
		assigned += c
	}
	sort.SliceStable(shares, func(a, b int) bool { return shares[a].rem > shares[b].rem })
	// At most one extra client per group: the floors are short of n by less than the
	// number of groups.
	for k := 0; assigned < n && k < len(shares); k++ {
		s.Clients[shares[k].i].Count++
		assigned++
	}
	for assigned > n { // the minimum of one per group pushed us over: take from the largest
		big := 0
		for i := range s.Clients {
			if s.Clients[i].Count > s.Clients[big].Count {
				big = i
			}
		}
		if s.Clients[big].Count <= 1 {
			break // cannot happen: n >= groups
		}
		s.Clients[big].Count--
		assigned--
	}
	if assigned != n {
		return fmt.Errorf("--clients %d: could only spread %d clients over the groups", n, assigned)
	}
	return s.Validate()
}
