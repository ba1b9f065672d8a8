package harness

import (
	"fmt"
	"math"
	"net"
	"net/netip"

	"github.com/portlab/portlab/harness/client"
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
	groups     []client.Group
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
	return client.AddrFor(g.fleet.identities, g.inFleet+i), client.MACFor(g.first + i)
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
		fp.groups = append(fp.groups, client.GroupFromScenario(g, global))
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
	assigned := 0
	for i := range s.Clients {
		c := int(math.Round(float64(s.Clients[i].Count) * float64(n) / float64(total)))
		if i == len(s.Clients)-1 {
			c = n - assigned
		}
		s.Clients[i].Count = max(1, c)
		assigned += s.Clients[i].Count
	}
	return s.Validate()
}
