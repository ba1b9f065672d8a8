package netsim

import (
	"fmt"
	"net/netip"
)

// RouterPath lists the routers a packet from node from (ClientNode, MPNode, SiteNode)
// to address to crosses, in order, by following the static routes Build installs: the
// routers whose firewalls judge the packet. The last one has an interface on the
// destination's segment (for a client range, the one that delivers its directed
// broadcasts). It builds nothing: a prediction of a run uses it to know the path its
// packets will take.
func RouterPath(spec Spec, from string, to netip.Addr) ([]string, error) {
	p, err := makePlan(&spec)
	if err != nil {
		return nil, err
	}
	clients := map[string]netip.Prefix{}
	for _, s := range spec.Segments {
		if s.Clients.IsValid() {
			clients[s.Name] = s.Clients.Masked()
		}
	}
	// on reports whether node n has an interface on to's segment.
	on := func(n *Node) bool {
		for _, ifc := range n.Ifaces {
			if ifc.Addr.IsValid() && ifc.Addr.Masked().Contains(to) {
				return true
			}
			if c, ok := clients[ifc.Segment]; ok && c.Contains(to) && n.Kind != KindClient {
				return true
			}
		}
		return false
	}
	cur, ok := p.byName[from]
	if !ok {
		return nil, fmt.Errorf("%w: node %s", ErrUnknownNode, from)
	}
	var path []string
	for range len(p.nodes) + 1 {
		n := &p.nodes[cur]
		if n.Kind == KindRouter {
			path = append(path, n.Object)
		}
		if on(n) {
			return path, nil
		}
		// The most specific route towards to.
		var best *route
		for i := range p.routes[cur] {
			r := &p.routes[cur][i]
			if r.kind == routeVia && r.dst.Contains(to) && (best == nil || r.dst.Bits() > best.dst.Bits()) {
				best = r
			}
		}
		if best == nil {
			return nil, fmt.Errorf("%s has no route to %s", from, to)
		}
		next := -1
		for ni := range p.nodes {
			for _, ifc := range p.nodes[ni].Ifaces {
				if ifc.Addr.IsValid() && ifc.Addr.Addr() == best.gw {
					next = ni
				}
			}
		}
		if next < 0 {
			return nil, fmt.Errorf("route %s -> %s: no node has the gateway %s", n.Name, to, best.gw)
		}
		cur = next
	}
	return nil, fmt.Errorf("route %s -> %s: a loop", from, to)
}
