package fleet

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/portlab/portlab/netsim/wol"
)

// The sleeping clients' network cards. A sleeping ConfigMgr client sends nothing and
// answers no ARP; its NIC still reads the wire and wakes the host on a magic packet
// carrying its MAC, whatever the UDP port — but only in a frame the NIC accepts: one
// addressed to its own MAC or to broadcast. That rule is what makes unicast wake-up
// depend on the router already knowing the client's MAC (a static neighbour entry): a
// router that does not sends the frame to the segment's gateway address instead, and
// no sleeping NIC takes it.

// nic watches one interface of the fleet's namespace for magic packets.
type nic struct {
	f   *Fleet
	log *slog.Logger

	mu       sync.Mutex
	expected map[int]time.Time // global index -> wake-up packet send time, from "expect_wake"
	ignored  int               // magic packets for one of ours in a frame its NIC would not accept
}

// macIndex returns the global index of a client MAC made by MACFor.
func macIndex(mac net.HardwareAddr) (int, bool) {
	if len(mac) != 6 || mac[0] != 0x02 || mac[1] != 0x50 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(mac[2:])), true
}

func isBroadcast(mac net.HardwareAddr) bool {
	return bytes.Equal(mac, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

// expect records when the orchestrator sends wake-up packets to the selected clients, so
// time-to-managed runs from the send, not from the moment the packet arrived.
func (n *nic) expect(s Selector, sent time.Time) (int, error) {
	set, err := s.set()
	if err != nil {
		return 0, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, c := range n.f.clients {
		if set[c.index] || (s.Group != "" && c.g.Name == s.Group) {
			n.expected[c.index] = sent
			count++
		}
	}
	return count, nil
}

// run listens on iface until ctx ends.
func (n *nic) run(ctx context.Context, iface string) error {
	l, err := wol.ListenInterface(iface, wol.ListenConfig{Promiscuous: true})
	if err != nil {
		return fmt.Errorf("wake-up listener on %s: %w", iface, err)
	}
	defer l.Close()
	return l.Run(ctx, n.frame)
}

// frame handles one magic packet seen on the wire.
func (n *nic) frame(w wol.Wake) {
	idx, ours := macIndex(w.Target)
	if !ours {
		return
	}
	if !bytes.Equal(w.DstMAC, w.Target) && !isBroadcast(w.DstMAC) {
		n.mu.Lock()
		n.ignored++
		n.mu.Unlock()
		n.log.Debug("magic packet in a frame the sleeping NIC does not accept", "target", w.Target, "frame_dst", w.DstMAC)
		return
	}
	n.mu.Lock()
	sent, ok := n.expected[idx]
	n.mu.Unlock()
	if !ok {
		sent = w.At
	}
	if _, err := n.f.Wake(Selector{Indexes: []int{idx}}, sent); err != nil {
		n.log.Debug("wake", "index", idx, "err", err)
	}
}
