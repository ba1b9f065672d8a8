package harness

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sort"

	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/scenarios"
)

// plan is the run worked out before anything starts: which fleet runs which clients,
// and every client's global index, address and MAC.
type plan struct {
	s      *scenarios.Scenario
	fleets []*fleetPlan      // one per client segment that has clients
	groups map[string]*gplan // by group name
	order  []string          // group names in scenario order
	seg    map[string]*fleetPlan
}

type fleetPlan struct {
	segment    string
	identities netip.Prefix
	groups     []fleet.Group
	clients    int
}

type gplan struct {
	cfg     scenarios.ClientGroup
	fleet   *fleetPlan
	first   int // global index of the first client
	inFleet int // index of the first client within its fleet
}

// addr returns the address and MAC of the group's i-th client.
func (g *gplan) client(i int) (netip.Addr, net.HardwareAddr) {
	return fleet.AddrFor(g.fleet.identities, g.inFleet+i), fleet.MACFor(g.first + i)
}

func newPlan(s *scenarios.Scenario) *plan {
	p := &plan{s: s, groups: map[string]*gplan{}, seg: map[string]*fleetPlan{}}
	global := 0
	for _, g := range s.Clients {
		fp := p.seg[g.Segment]
		if fp == nil {
			var ids netip.Prefix
			for _, seg := range s.Network.Segments {
				if seg.Name == g.Segment {
					ids = seg.Clients.Prefix
				}
			}
			fp = &fleetPlan{segment: g.Segment, identities: ids}
			p.seg[g.Segment] = fp
			p.fleets = append(p.fleets, fp)
		}
		gp := &gplan{cfg: g, fleet: fp, first: global, inFleet: fp.clients}
		fp.groups = append(fp.groups, fleet.GroupFromScenario(g, global))
		fp.clients += g.Count
		global += g.Count
		p.groups[g.Group] = gp
		p.order = append(p.order, g.Group)
	}
	return p
}

func (p *plan) total() int {
	n := 0
	for _, f := range p.fleets {
		n += f.clients
	}
	return n
}

// Rescale sets the scenario's total client count to n, keeping the groups' proportions
// (each group keeps at least one client), and re-validates it.
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
