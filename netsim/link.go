package netsim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// wire creates links, bridges, addresses and routes through one netlink handle per
// namespace. Veths are created inside one of their namespaces with the peer placed
// directly into the other, so no interface ever appears in the host namespace.
func (t *Topology) wire(ctx context.Context) error {
	p := t.plan
	hs := make([]*netlink.Handle, len(p.nodes))
	defer func() {
		for _, h := range hs {
			if h != nil {
				h.Close()
			}
		}
	}()
	for i := range p.nodes {
		h, err := netlink.NewHandleAt(t.ns[i], unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("namespace %s: netlink: %w", p.nodes[i].Name, err)
		}
		hs[i] = h
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("namespace %s: link lo: %w", p.nodes[i].Name, err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("namespace %s: link lo: set up: %w", p.nodes[i].Name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Bridges first, so switch-side veth ends are created already enslaved and up.
	bridge := map[int]int{} // switch node -> bridge ifindex
	for i, n := range p.nodes {
		if n.Kind != KindSwitch {
			continue
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", Flags: net.FlagUp}}
		if err := hs[i].LinkAdd(br); err != nil {
			return fmt.Errorf("bridge %s/br0: create: %w", n.Name, err)
		}
		l, err := hs[i].LinkByName("br0")
		if err != nil {
			return fmt.Errorf("bridge %s/br0: %w", n.Name, err)
		}
		bridge[i] = l.Attrs().Index
	}
	for _, l := range p.links {
		a, b := &p.nodes[l.a], &p.nodes[l.b]
		ai, bi := a.Ifaces[l.ai], b.Ifaces[l.bi]
		v := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{
				Name:         ai.Name,
				HardwareAddr: ai.MAC,
				Flags:        net.FlagUp,
				MasterIndex:  bridge[l.a],
			},
			PeerName:         bi.Name,
			PeerHardwareAddr: bi.MAC,
			PeerNamespace:    netlink.NsFd(int(t.ns[l.b])),
		}
		if err := hs[l.a].LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s/%s <-> %s/%s: create: %w", a.Name, ai.Name, b.Name, bi.Name, err)
		}
		if bridge[l.a] == 0 && ai.Addr.IsValid() {
			if err := addAddr(hs[l.a], a.Name, ai); err != nil {
				return err
			}
		}
		if err := setUpWithAddr(hs[l.b], b.Name, bi); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, n := range p.nodes {
		for _, r := range p.routes[i] {
			if err := addRoute(hs[i], r); err != nil {
				return fmt.Errorf("namespace %s: %w", n.Name, err)
			}
		}
	}
	return waitCarrier(ctx, hs, p.nodes)
}

// waitCarrier waits until every veth and bridge is operationally up. A veth set up is
// not yet able to transmit (the kernel drops the first frames while the link's qdisc
// and carrier come up), and a lost first ARP request is retried only after a second:
// the run's first connections would stall for it. It takes a few milliseconds.
func waitCarrier(ctx context.Context, hs []*netlink.Handle, nodes []Node) error {
	deadline := time.Now().Add(5 * time.Second)
	for i, n := range nodes {
		names := []string{}
		for _, ifc := range n.Ifaces {
			names = append(names, ifc.Name)
		}
		if n.Kind == KindSwitch {
			names = append(names, "br0")
		}
		for _, name := range names {
			for {
				l, err := hs[i].LinkByName(name)
				if err != nil {
					return fmt.Errorf("link %s/%s: %w", n.Name, name, err)
				}
				if st := l.Attrs().OperState; st == netlink.OperUp || st == netlink.OperUnknown {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("link %s/%s: still %s after 5s", n.Name, name, l.Attrs().OperState)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	return nil
}

func setUpWithAddr(h *netlink.Handle, node string, ifc Iface) error {
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("link %s/%s: %w", node, ifc.Name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("link %s/%s: set up: %w", node, ifc.Name, err)
	}
	if ifc.Addr.IsValid() {
		return addAddrTo(h, l, node, ifc)
	}
	return nil
}

func addAddr(h *netlink.Handle, node string, ifc Iface) error {
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("link %s/%s: %w", node, ifc.Name, err)
	}
	return addAddrTo(h, l, node, ifc)
}

func addAddrTo(h *netlink.Handle, l netlink.Link, node string, ifc Iface) error {
	a := &netlink.Addr{IPNet: ipnet(ifc.Addr), Broadcast: net.IP(lastAddr(ifc.Addr).AsSlice())}
	if err := h.AddrAdd(l, a); err != nil {
		return fmt.Errorf("link %s/%s: address %s: %w", node, ifc.Name, ifc.Addr, err)
	}
	return nil
}

func addRoute(h *netlink.Handle, r route) error {
	l, err := h.LinkByName(r.dev)
	if err != nil {
		return fmt.Errorf("route %s: link %s: %w", r.dst, r.dev, err)
	}
	nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(r.dst)}
	switch r.kind {
	case routeVia:
		nr.Gw = net.IP(r.gw.AsSlice())
	case routeLocal:
		nr.Table, nr.Type, nr.Scope = unix.RT_TABLE_LOCAL, unix.RTN_LOCAL, unix.RT_SCOPE_HOST
	case routeBroadcast:
		nr.Table, nr.Type, nr.Scope = unix.RT_TABLE_LOCAL, unix.RTN_BROADCAST, unix.RT_SCOPE_LINK
	}
	if err := h.RouteAdd(nr); err != nil {
		return fmt.Errorf("route %s via %v dev %s: %w", r.dst, r.gw, r.dev, err)
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// handle opens a netlink handle inside a node's namespace.
func (t *Topology) handle(node string) (*netlink.Handle, error) {
	h, err := t.NS(node)
	if err != nil {
		return nil, err
	}
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: netlink: %w", node, err)
	}
	return nh, nil
}

// AddNeighbors adds permanent neighbour (ARP) entries on a router's interface toward
// segment, one per client address with its MAC, plus an on-link /32 route for each so
// the router resolves that client through the entry instead of via the client
// namespace's link address. That is what a router configured for unicast wake-up
// (Router.StaticNeighbors) holds for hosts that sleep and answer no ARP. Permanent
// entries do not count against the kernel's neighbour garbage-collection limits.
func (t *Topology) AddNeighbors(router, segment string, addrs []netip.Addr, macs []net.HardwareAddr) error {
	if len(addrs) != len(macs) {
		return fmt.Errorf("neighbours %s/%s: %d addresses but %d MACs", router, segment, len(addrs), len(macs))
	}
	node := RouterNode(router)
	n, ok := t.Node(node)
	if !ok {
		return fmt.Errorf("%w: router %s", ErrUnknownNode, router)
	}
	ifc, ok := n.Iface(segment)
	if !ok {
		return fmt.Errorf("%w: router %s has no link on segment %s", ErrUnknownNode, router, segment)
	}
	h, err := t.handle(node)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("link %s/%s: %w", node, ifc.Name, err)
	}
	idx := l.Attrs().Index
	for i, a := range addrs {
		if !a.Is4() || !inRange(a) {
			return fmt.Errorf("neighbour %s on %s/%s: not an IPv4 address in 198.18.0.0/15", a, node, ifc.Name)
		}
		ip := net.IP(a.AsSlice())
		if err := h.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: ip, HardwareAddr: macs[i]}); err != nil {
			return fmt.Errorf("neighbour %s on %s/%s: %w", a, node, ifc.Name, err)
		}
		r := &netlink.Route{LinkIndex: idx, Dst: ipnet(netip.PrefixFrom(a, 32)), Scope: unix.RT_SCOPE_LINK}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("neighbour %s on %s/%s: route: %w", a, node, ifc.Name, err)
		}
	}
	if _, isClientSeg := t.Node(ClientNode(segment)); isClientSeg {
		// Frames now reach the client namespace addressed to each client's own MAC.
		return t.acceptMACs(segment, macs)
	}
	return nil
}
