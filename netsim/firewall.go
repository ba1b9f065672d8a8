package netsim

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table portlab owns in each router namespace (family inet).
const TableName = "portlab"

// DefaultCounter is the counter name of a firewall's default action.
const DefaultCounter = "default"

// Counter is what one firewall rule matched.
type Counter struct {
	Packets, Bytes uint64
}

// firewall is one router's nftables state.
type firewall struct {
	table    *nftables.Table
	chain    *nftables.Chain
	counters map[string]bool // named counter objects that exist
}

// SetFirewall installs or replaces a router's firewall. All rules and counters go to
// the kernel in one batch (one Flush), so the change is atomic: no packet sees a half
// rule set. The chain is stateful — its first rule accepts established and related
// traffic — so connections a previous rule set allowed keep working; the rules decide
// new connections only. Counters are named objects, one per rule name plus "default";
// a counter whose name survives a replacement keeps counting from where it was.
//
// Matching: proto (tcp, udp, icmp, any), destination port or range (tcp/udp), from and
// to segment by address (the segment's subnet and client range, so a rule can name a
// segment several routers away). drop discards; reject answers TCP with a reset and
// anything else with ICMP port unreachable.
func (t *Topology) SetFirewall(router string, fw Firewall) error {
	node := RouterNode(router)
	h, err := t.NS(node)
	if err != nil {
		return fmt.Errorf("firewall %s: %w", router, err)
	}
	prog, err := t.compile(fw)
	if err != nil {
		return fmt.Errorf("firewall %s: %w", router, err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return fmt.Errorf("firewall %s: nftables: %w", router, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.fw[router]
	fresh := st == nil
	if fresh {
		tbl := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
		pol := nftables.ChainPolicyAccept // the last rule always decides
		st = &firewall{
			table: tbl,
			chain: &nftables.Chain{
				Name:     "forward",
				Table:    tbl,
				Type:     nftables.ChainTypeFilter,
				Hooknum:  nftables.ChainHookForward,
				Priority: nftables.ChainPriorityFilter,
				Policy:   &pol,
			},
			counters: map[string]bool{},
		}
		c.AddTable(st.table)
		c.AddChain(st.chain)
	} else {
		c.FlushChain(st.chain)
	}
	newCounters := map[string]bool{}
	for _, r := range prog {
		if !st.counters[r.counter] && !newCounters[r.counter] {
			c.AddObj(&nftables.CounterObj{Table: st.table, Name: r.counter})
			newCounters[r.counter] = true
		}
	}
	// Stateful: replies and established flows pass before any rule is consulted.
	c.AddRule(&nftables.Rule{Table: st.table, Chain: st.chain, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	for _, r := range prog {
		c.AddRule(&nftables.Rule{
			Table:    st.table,
			Chain:    st.chain,
			Exprs:    r.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.counter),
		})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall %s: apply %d rules: %w", router, len(fw.Rules), err)
	}
	for n := range newCounters {
		st.counters[n] = true
	}
	if fresh {
		t.fw[router] = st
	}
	return nil
}

// Counters reads a router's firewall counters: one per rule name and "default".
func (t *Topology) Counters(router string) (map[string]Counter, error) {
	h, err := t.NS(RouterNode(router))
	if err != nil {
		return nil, fmt.Errorf("firewall %s: %w", router, err)
	}
	t.mu.Lock()
	st := t.fw[router]
	t.mu.Unlock()
	if st == nil {
		return nil, fmt.Errorf("firewall %s: %w: router has no firewall", router, ErrUnknownNode)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return nil, fmt.Errorf("firewall %s: nftables: %w", router, err)
	}
	objs, err := c.GetObjects(st.table)
	if err != nil {
		return nil, fmt.Errorf("firewall %s: read counters: %w", router, err)
	}
	out := map[string]Counter{}
	for _, o := range objs {
		if co, ok := o.(*nftables.CounterObj); ok {
			out[co.Name] = Counter{Packets: co.Packets, Bytes: co.Bytes}
		}
	}
	return out, nil
}

// nftRule is one kernel rule; a scenario rule may need several (proto any with a port
// is tcp and udp; a segment has a subnet and a client range), all counting into the
// rule's one named counter.
type nftRule struct {
	counter string
	exprs   []expr.Any
}

func (t *Topology) compile(fw Firewall) ([]nftRule, error) {
	var out []nftRule
	for i, r := range fw.Rules {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("rule%d", i+1)
		}
		if name == DefaultCounter {
			return nil, fmt.Errorf("rule %d: the name %q is reserved for the default action", i+1, name)
		}
		protos, err := protoList(r)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		from, err := t.segmentPrefixes(r.From)
		if err != nil {
			return nil, fmt.Errorf("rule %s: from: %w", name, err)
		}
		to, err := t.segmentPrefixes(r.To)
		if err != nil {
			return nil, fmt.Errorf("rule %s: to: %w", name, err)
		}
		for _, proto := range protos {
			for _, src := range from {
				for _, dst := range to {
					var m []expr.Any
					if src.IsValid() || dst.IsValid() {
						m = append(m, matchNFProto()...)
					}
					if src.IsValid() {
						m = append(m, matchPrefix(12, src)...)
					}
					if dst.IsValid() {
						m = append(m, matchPrefix(16, dst)...)
					}
					if proto != 0 {
						m = append(m, matchL4(proto)...)
					}
					if !r.Ports.IsZero() {
						m = append(m, matchDport(r.Ports.Lo, r.Ports.Hi)...)
					}
					rules, err := verdict(name, m, proto, r.Action)
					if err != nil {
						return nil, fmt.Errorf("rule %s: %w", name, err)
					}
					out = append(out, rules...)
				}
			}
		}
	}
	def := fw.Default
	if def == "" {
		def = Accept
	}
	rules, err := verdict(DefaultCounter, nil, 0, def)
	if err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	return append(out, rules...), nil
}

// protoList is the IP protocol numbers a rule matches; 0 means any.
func protoList(r Rule) ([]byte, error) {
	hasPort := !r.Ports.IsZero()
	switch r.Proto {
	case ProtoTCP:
		return []byte{unix.IPPROTO_TCP}, nil
	case ProtoUDP:
		return []byte{unix.IPPROTO_UDP}, nil
	case ProtoICMP:
		if hasPort {
			return nil, fmt.Errorf("a port needs proto tcp or udp")
		}
		return []byte{unix.IPPROTO_ICMP}, nil
	case "", ProtoAny:
		if hasPort {
			return []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP}, nil
		}
		return []byte{0}, nil
	}
	return nil, fmt.Errorf("unknown proto %q", r.Proto)
}

// segmentPrefixes are the addresses of a segment: subnet and client range. An empty
// name matches anything (one invalid prefix).
func (t *Topology) segmentPrefixes(name string) ([]netip.Prefix, error) {
	if name == "" {
		return []netip.Prefix{{}}, nil
	}
	for _, s := range t.spec.Segments {
		if s.Name != name {
			continue
		}
		out := []netip.Prefix{s.Subnet.Masked()}
		if s.Clients.IsValid() {
			out = append(out, s.Clients.Masked())
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: segment %s", ErrUnknownNode, name)
}

func verdict(counter string, match []expr.Any, proto byte, a Action) ([]nftRule, error) {
	ref := &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: counter}
	with := func(extra ...expr.Any) []expr.Any {
		e := append([]expr.Any{}, match...)
		return append(e, extra...)
	}
	switch a {
	case Accept:
		return []nftRule{{counter, with(ref, &expr.Verdict{Kind: expr.VerdictAccept})}}, nil
	case Drop:
		return []nftRule{{counter, with(ref, &expr.Verdict{Kind: expr.VerdictDrop})}}, nil
	case Reject:
		icmpx := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}
		rst := &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
		switch proto {
		case unix.IPPROTO_TCP:
			return []nftRule{{counter, with(ref, rst)}}, nil
		case 0:
			// TCP first (reset), everything else port unreachable.
			tcp := with(matchL4(unix.IPPROTO_TCP)...)
			tcp = append(tcp, ref, rst)
			return []nftRule{{counter, tcp}, {counter, with(ref, icmpx)}}, nil
		default:
			return []nftRule{{counter, with(ref, icmpx)}}, nil
		}
	}
	return nil, fmt.Errorf("unknown action %q", a)
}

func matchNFProto() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
}

func matchL4(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// matchPrefix matches the IPv4 source (offset 12) or destination (16) against p.
func matchPrefix(offset uint32, p netip.Prefix) []expr.Any {
	a := p.Masked().Addr().As4()
	mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func matchDport(lo, hi uint16) []expr.Any {
	pl := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	if hi == 0 || hi == lo {
		return []expr.Any{pl, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(lo)}}
	}
	return []expr.Any{pl,
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: binaryutil.BigEndian.PutUint16(lo)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: binaryutil.BigEndian.PutUint16(hi)},
	}
}
