package plan

import (
	"fmt"
	"math"
	"sort"

	"github.com/portlab/portlab/scenarios"
)

// Rescale sets the scenario's total client count to n, keeping the groups' proportions
// (each group keeps at least one client), and re-validates it (`portlab run --clients`).
func Rescale(s *scenarios.Scenario, n int) error {
	if n < len(s.Clients) {
		return fmt.Errorf("--clients %d: the scenario has %d groups; give at least one client each", n, len(s.Clients))
	}
	total := 0
	for _, g := range s.Clients {
		total += g.Count
	}
	// Largest remainder: each group gets at least one client and its floored share; the
	// clients left over go to the largest fractions, so the total is exactly n.
	type share struct {
		i    int
		frac float64
	}
	shares := make([]share, len(s.Clients))
	assigned := 0
	for i := range s.Clients {
		exact := float64(s.Clients[i].Count) * float64(n) / float64(total)
		c := max(1, int(math.Floor(exact)))
		shares[i] = share{i, exact - math.Floor(exact)}
		s.Clients[i].Count = c
		assigned += c
	}
	sort.SliceStable(shares, func(a, b int) bool { return shares[a].frac > shares[b].frac })
	for k := 0; assigned < n; k = (k + 1) % len(shares) {
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
		s.Clients[big].Count--
		assigned--
	}
	return s.Validate()
}
