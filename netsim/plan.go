package netsim

import (
	"fmt"
	"net"
	"net/netip"
)

// NodeKind says what a namespace stands for.
type NodeKind int

// Node kinds.
const (
	KindClient NodeKind = iota // a client segment's namespace: its clients' AnyIP range
	KindRouter                 // a router or firewall: forwards, owns an nftables table
	KindMP                     // a management point
	KindSite                   // the site server
	KindSwitch                 // an L2 bridge joining a segment of three or more members
)

func (k NodeKind) String() string {
	switch k {
	case KindClient:
		return "client"
	case KindRouter:
		return "router"
	case KindMP:
		return "mp"
	case KindSite:
		return "site"
	case KindSwitch:
		return "switch"
	}
	return fmt.Sprintf("kind%d", int(k))
}

// Node names. Every name starts with its kind, so names never collide across kinds even
// when a segment, a router and an MP share a scenario name.

// ClientNode is the name of a client segment's namespace.
func ClientNode(segment string) string { return "client-" + segment }

// RouterNode is the name of a router's namespace.
func RouterNode(router string) string { return "router-" + router }

// MPNode is the name of a management point's namespace.
func MPNode(mp string) string { return "mp-" + mp }

// SiteNode is the name of the site server's namespace.
const SiteNode = "site"

// SwitchNode is the name of the namespace holding a segment's bridge.
func SwitchNode(segment string) string { return "switch-" + segment }

// Node is one namespace of a topology.
type Node struct {
	// Name, as ClientNode, RouterNode, MPNode, SiteNode or SwitchNode build it.
	Name string
	Kind NodeKind
	// The scenario object: segment (client, switch), router or MP name; "site".
	Object string
	// Interfaces other than lo, in creation order.
	Ifaces []Iface
	// Client nodes: the identity range routed to lo (AnyIP).
	Clients netip.Prefix
	// Where the namespace is pinned (Options.Keep), else empty.
	Pinned string
}

// Iface is one end of a veth pair (or, in a switch, a bridge port).
type Iface struct {
	// Name inside the node's namespace.
	Name string
	// Segment the interface is on.
	Segment string
	// Address and prefix length on the segment subnet; invalid on switch ports.
	Addr netip.Prefix
	MAC  net.HardwareAddr
	// Node and interface at the other end of the veth.
	Peer, PeerIface string
}

// Iface returns the node's interface on segment.
func (n *Node) Iface(segment string) (Iface, bool) {
	for _, i := range n.Ifaces {
		if i.Segment == segment {
			return i, true
		}
	}
	return Iface{}, false
}

// routeKind is what a planned route is.
type routeKind int

const (
	routeVia       routeKind = iota // dst via gw dev
	routeLocal                      // local dst dev lo (AnyIP), table local
	routeBroadcast                  // broadcast dst/32 dev, table local
)

type route struct {
	kind routeKind
	dst  netip.Prefix
	gw   netip.Addr
	dev  string
}

// link is one veth pair: a in node a, b in node b.
type link struct {
	segment string
	a, b    int // node indexes
	ai, bi  int // iface indexes within the nodes
}

// plan is the whole topology computed from a scenario before any syscall: node list,
// veth pairs, addresses and routes. Keeping it pure lets it be tested without root.
type plan struct {
	nodes  []Node
	links  []link
	routes [][]route // per node
	// per router node: does it forward directed broadcasts
	bcast map[int]bool
	// segment -> its client node index (client segments only)
	clientOf map[string]int
	byName   map[string]int
}

// member is a node that has an address on a segment.
type member struct {
	node int
}

// reservedIfnames collide with the loopback or with /proc/sys/net/*/conf/{all,default}.
var reservedIfnames = map[string]bool{"lo": true, "all": true, "default": true, "br0": true}

func makePlan(s *Spec) (*plan, error) {
	p, err := layout(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return p, nil
}

func layout(s *Spec) (*plan, error) {
	p := &plan{bcast: map[int]bool{}, clientOf: map[string]int{}, byName: map[string]int{}}
	segIdx := map[string]int{}
	segs := s.Segments
	for i, seg := range segs {
		if _, dup := segIdx[seg.Name]; dup {
			return nil, fmt.Errorf("segment %s: defined twice", seg.Name)
		}
		segIdx[seg.Name] = i
		if !seg.Subnet.IsValid() {
			return nil, fmt.Errorf("segment %s: no subnet", seg.Name)
		}
		for _, pf := range []netip.Prefix{seg.Subnet, seg.Clients} {
			if pf.IsValid() && !inBenchmarkRange(pf) {
				return nil, fmt.Errorf("segment %s: %s is outside %s", seg.Name, pf, BenchmarkRange())
			}
		}
		if seg.Clients.IsValid() && !seg.Clients.Addr().Is4() {
			return nil, fmt.Errorf("segment %s: clients %s: only IPv4 ranges are supported", seg.Name, seg.Clients)
		}
	}
	addNode := func(n Node) (int, error) {
		if _, dup := p.byName[n.Name]; dup {
			return 0, fmt.Errorf("node %s: defined twice", n.Name)
		}
		p.byName[n.Name] = len(p.nodes)
		p.nodes = append(p.nodes, n)
		return len(p.nodes) - 1, nil
	}
	// Members of each segment in address order: routers, MPs, the site, the clients.
	members := make([][]member, len(segs))
	for _, r := range s.Routers {
		ni, err := addNode(Node{Name: RouterNode(r.Name), Kind: KindRouter, Object: r.Name})
		if err != nil {
			return nil, err
		}
		p.bcast[ni] = r.DirectedBroadcast
		for _, l := range r.Links {
			si, ok := segIdx[l]
			if !ok {
				return nil, fmt.Errorf("router %s: unknown segment %s", r.Name, l)
			}
			members[si] = append(members[si], member{ni})
		}
	}
	for _, mp := range s.MPs {
		si, ok := segIdx[mp.Segment]
		if !ok {
			return nil, fmt.Errorf("mp %s: unknown segment %s", mp.Name, mp.Segment)
		}
		ni, err := addNode(Node{Name: MPNode(mp.Name), Kind: KindMP, Object: mp.Name})
		if err != nil {
			return nil, err
		}
		members[si] = append(members[si], member{ni})
	}
	if s.Site != nil {
		si, ok := segIdx[s.Site.Segment]
		if !ok {
			return nil, fmt.Errorf("site: unknown segment %s", s.Site.Segment)
		}
		ni, err := addNode(Node{Name: SiteNode, Kind: KindSite, Object: "site"})
		if err != nil {
			return nil, err
		}
		members[si] = append(members[si], member{ni})
	}
	for si, seg := range segs {
		if !seg.Clients.IsValid() {
			continue
		}
		ni, err := addNode(Node{Name: ClientNode(seg.Name), Kind: KindClient, Object: seg.Name, Clients: seg.Clients.Masked()})
		if err != nil {
			return nil, err
		}
		p.clientOf[seg.Name] = ni
		members[si] = append(members[si], member{ni})
	}

	// Interfaces, addresses and veth pairs.
	for si, seg := range segs {
		ms := members[si]
		subnet := seg.Subnet.Masked()
		if !subnet.Addr().Is4() {
			return nil, fmt.Errorf("segment %s: subnet %s: only IPv4 is supported", seg.Name, subnet)
		}
		if hosts := 1<<(32-subnet.Bits()) - 2; len(ms) > hosts {
			return nil, fmt.Errorf("segment %s: subnet %s has room for %d addresses, %d needed", seg.Name, subnet, hosts, len(ms))
		}
		addr := subnet.Addr()
		for mi, m := range ms {
			addr = addr.Next()
			n := &p.nodes[m.node]
			n.Ifaces = append(n.Ifaces, Iface{
				Name:    ifname(n, seg.Name),
				Segment: seg.Name,
				Addr:    netip.PrefixFrom(addr, subnet.Bits()),
				MAC:     net.HardwareAddr{0x02, 0x70, 0x6c, byte(si >> 8), byte(si), byte(mi + 1)},
			})
		}
		switch {
		case len(ms) == 0:
		case len(ms) == 2:
			a, b := ms[0].node, ms[1].node
			ai, bi := len(p.nodes[a].Ifaces)-1, len(p.nodes[b].Ifaces)-1
			p.nodes[a].Ifaces[ai].Peer, p.nodes[a].Ifaces[ai].PeerIface = p.nodes[b].Name, p.nodes[b].Ifaces[bi].Name
			p.nodes[b].Ifaces[bi].Peer, p.nodes[b].Ifaces[bi].PeerIface = p.nodes[a].Name, p.nodes[a].Ifaces[ai].Name
			p.links = append(p.links, link{segment: seg.Name, a: a, ai: ai, b: b, bi: bi})
		default:
			// One member, or three and more: a bridge in a switch namespace of its own.
			// A separate namespace keeps bridged frames out of every router's forward
			// chain (br_netfilter would otherwise show them to the firewall).
			sw, err := addNode(Node{Name: SwitchNode(seg.Name), Kind: KindSwitch, Object: seg.Name})
			if err != nil {
				return nil, err
			}
			for mi, m := range ms {
				n := &p.nodes[m.node]
				ni := len(n.Ifaces) - 1
				for n.Ifaces[ni].Segment != seg.Name {
					ni--
				}
				port := Iface{
					Name:      fmt.Sprintf("p%d", mi),
					Segment:   seg.Name,
					MAC:       net.HardwareAddr{0x02, 0x70, 0x6d, byte(si >> 8), byte(si), byte(mi + 1)},
					Peer:      n.Name,
					PeerIface: n.Ifaces[ni].Name,
				}
				n.Ifaces[ni].Peer, n.Ifaces[ni].PeerIface = SwitchNode(seg.Name), port.Name
				p.nodes[sw].Ifaces = append(p.nodes[sw].Ifaces, port)
				p.links = append(p.links, link{segment: seg.Name, a: sw, ai: len(p.nodes[sw].Ifaces) - 1, b: m.node, bi: ni})
			}
		}
	}
	p.routes = make([][]route, len(p.nodes))
	if err := p.planRoutes(s, segIdx, members); err != nil {
		return nil, err
	}
	return p, nil
}

// ifname picks an interface name unique within the node. Hosts have one interface,
// eth0; routers name each after its segment when it fits in IFNAMSIZ, else ethN.
func ifname(n *Node, segment string) string {
	if n.Kind != KindRouter {
		return fmt.Sprintf("eth%d", len(n.Ifaces))
	}
	name := segment
	if len(name) > 15 || reservedIfnames[name] {
		name = fmt.Sprintf("eth%d", len(n.Ifaces))
	}
	for _, i := range n.Ifaces {
		if i.Name == name {
			return fmt.Sprintf("eth%d", len(n.Ifaces))
		}
	}
	return name
}

func inBenchmarkRange(p netip.Prefix) bool {
	r := BenchmarkRange()
	return r.Contains(p.Addr()) && p.Bits() >= r.Bits()
}

// planRoutes computes static routes so every node reaches every segment subnet and
// every client identity range along a shortest path through the router graph. Ties go
// to the router listed first in the scenario, so both directions of a flow take the
// same routers on a tree (stateful firewalls need that).
func (p *plan) planRoutes(s *Spec, segIdx map[string]int, members [][]member) error {
	segs := s.Segments
	// adjacency: segment -> routers (node indexes) on it, router -> segments
	routersOn := make([][]int, len(segs))
	linksOf := map[int][]int{}
	for si, ms := range members {
		for _, m := range ms {
			if p.nodes[m.node].Kind == KindRouter {
				routersOn[si] = append(routersOn[si], m.node)
				linksOf[m.node] = append(linksOf[m.node], si)
			}
		}
	}
	addrOn := func(node int, seg string) (Iface, bool) { return p.nodes[node].Iface(seg) }

	for ti, tseg := range segs {
		// BFS over segments from the destination segment.
		dist := make([]int, len(segs))
		for i := range dist {
			dist[i] = -1
		}
		dist[ti] = 0
		queue := []int{ti}
		for len(queue) > 0 {
			si := queue[0]
			queue = queue[1:]
			for _, r := range routersOn[si] {
				for _, sj := range linksOf[r] {
					if dist[sj] < 0 {
						dist[sj] = dist[si] + 1
						queue = append(queue, sj)
					}
				}
			}
		}
		dests := []netip.Prefix{tseg.Subnet.Masked()}
		if tseg.Clients.IsValid() {
			dests = append(dests, tseg.Clients.Masked())
		}
		clientNode, hasClients := p.clientOf[tseg.Name]
		for ni := range p.nodes {
			n := &p.nodes[ni]
			if n.Kind == KindSwitch {
				continue
			}
			if own, ok := addrOn(ni, tseg.Name); ok {
				// On the destination segment: the subnet is connected; the client range
				// goes via the client namespace's link address (one neighbour entry, no
				// per-client ARP on the router, no address of ours inside the range).
				if hasClients && ni != clientNode {
					cif, _ := addrOn(clientNode, tseg.Name)
					p.routes[ni] = append(p.routes[ni], route{kind: routeVia, dst: dests[1], gw: cif.Addr.Addr(), dev: own.Name})
				}
				if hasClients && n.Kind == KindRouter {
					p.routes[ni] = append(p.routes[ni], route{kind: routeBroadcast, dst: netip.PrefixFrom(lastAddr(dests[1]), 32), dev: own.Name})
				}
				continue
			}
			// Pick this node's interface closest to the destination, then the first
			// router on that segment one step closer.
			best := -1
			var bestIf Iface
			for _, ifc := range n.Ifaces {
				si := segIdx[ifc.Segment]
				if dist[si] > 0 && (best < 0 || dist[si] < dist[best]) {
					best, bestIf = si, ifc
				}
			}
			if best < 0 {
				continue // unreachable: nothing to route
			}
			var gw netip.Addr
		find:
			for _, r := range routersOn[best] {
				if r == ni {
					continue
				}
				for _, sj := range linksOf[r] {
					if dist[sj] == dist[best]-1 {
						rif, _ := addrOn(r, segs[best].Name)
						gw = rif.Addr.Addr()
						break find
					}
				}
			}
			if !gw.IsValid() {
				return fmt.Errorf("route %s -> %s: no next hop on %s", n.Name, tseg.Name, segs[best].Name)
			}
			for _, d := range dests {
				p.routes[ni] = append(p.routes[ni], route{kind: routeVia, dst: d, gw: gw, dev: bestIf.Name})
			}
		}
		if hasClients {
			p.routes[clientNode] = append(p.routes[clientNode], route{kind: routeLocal, dst: dests[1], dev: "lo"})
		}
	}
	return nil
}

// lastAddr is the highest address of an IPv4 prefix: its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// BroadcastAddr is the subnet-directed broadcast address of a client identity range
// (for 198.18.16.0/20, 198.18.31.255): what wake-up by broadcast sends to.
func BroadcastAddr(clients netip.Prefix) netip.Addr { return lastAddr(clients) }
