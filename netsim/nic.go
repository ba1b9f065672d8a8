package netsim

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// NICTable is the netdev table portlab adds in a client namespace whose router keeps
// static neighbour entries.
const NICTable = "portlab-nic"

// acceptMACs lets a client namespace's stack take frames addressed to its clients' own
// MACs. All the clients of a segment share one interface, whose stack would drop a frame
// for any MAC but the interface's (PACKET_OTHERHOST) — and a router with static
// neighbour entries addresses each client by its own MAC. An ingress rule re-marks such
// frames as for this host. Packet sockets (the sleeping clients' NICs) see the frame
// before the rule, with its original destination MAC.
func (t *Topology) acceptMACs(segment string, macs []net.HardwareAddr) error {
	node := ClientNode(segment)
	n, ok := t.Node(node)
	if !ok || len(n.Ifaces) == 0 {
		return fmt.Errorf("%w: client segment %s", ErrUnknownNode, segment)
	}
	ifname := n.Ifaces[0].Name
	h, err := t.NS(node)
	if err != nil {
		return err
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", node, err)
	}
	defer c.CloseLasting()
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: NICTable})
	ch := c.AddChain(&nftables.Chain{Name: "ingress-" + ifname, Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityFilter, Device: ifname})
	set := &nftables.Set{Table: tbl, Name: "clients-" + ifname, KeyType: nftables.TypeEtherAddr}
	elems := make([]nftables.SetElement, 0, len(macs))
	for _, m := range macs {
		if len(m) != 6 {
			return fmt.Errorf("client MAC %s on %s: not 6 bytes", m, node)
		}
		elems = append(elems, nftables.SetElement{Key: []byte(m)})
	}
	if err := c.AddSet(set, elems); err != nil {
		return fmt.Errorf("nftables set in %s: %w", node, err)
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 0, Len: 6},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Immediate{Register: 1, Data: []byte{0}}, // PACKET_HOST
		&expr.Meta{Key: expr.MetaKeyPKTTYPE, SourceRegister: true, Register: 1},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables in %s: accept client MACs on %s: %w", node, ifname, err)
	}
	return nil
}
