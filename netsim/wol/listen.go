package wol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
)

// Wake is one valid magic packet as the listener's link saw it. Who wakes is the
// caller's decision: Target is reported whether or not any client owns it.
type Wake struct {
	// Target is the MAC address the packet asks to wake.
	Target net.HardwareAddr
	// Password is the SecureOn password, if the packet carried one.
	Password []byte
	// Src and Dst are the IPv4 addresses and UDP ports; zero for a raw 0x0842 frame.
	Src, Dst netip.AddrPort
	// SrcMAC and DstMAC are the frame's Ethernet addresses; nil in UDP-socket mode and
	// all zero on loopback.
	SrcMAC, DstMAC net.HardwareAddr
	// Raw is true for an EtherType 0x0842 frame (no IP, no UDP).
	Raw bool
	// At is the kernel's receive timestamp (AF_PACKET) or the read time (UDP socket).
	At time.Time
}

// ListenStats counts what a listener saw.
type ListenStats struct {
	// Frames is every frame (AF_PACKET, after the kernel filter) or datagram read.
	Frames uint64
	// Wakes is the valid magic packets reported.
	Wakes uint64
	// Rejected is the payloads that began with the sync stream but failed the strict
	// decode (wrong length, MACs that disagree): the near misses worth a look.
	Rejected uint64
}

// ListenConfig configures ListenInterface.
type ListenConfig struct {
	// Port, if non-zero, limits reports to UDP datagrams to this port. Zero watches every
	// UDP port and raw 0x0842 frames, as a NIC does.
	Port uint16
	// Promiscuous puts the interface in promiscuous mode, for unicast frames to MACs
	// other than the interface's own on a physical link (veths deliver them anyway).
	Promiscuous bool
	// PollInterval bounds how long Run takes to notice a cancelled context or Close.
	// Default 100ms.
	PollInterval time.Duration
}

// Listener reports magic packets. Open it with ListenInterface (AF_PACKET, every port,
// like a NIC) or ListenUDP (one UDP socket); frames are captured from the moment the
// constructor returns, so a caller can start sending right after it. Then call Run.
type Listener struct {
	port  uint16
	where string // for errors: "interface lo" or "udp 127.0.0.1:9"

	tp   *afpacket.TPacket
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	stop      chan struct{}
	closeOnce sync.Once
	// runMu is held by Run while it reads; Close takes it before unmapping the packet
	// ring, which must never happen under a reader.
	runMu sync.Mutex

	frames, wakes, rejected atomic.Uint64
}

// packetOutgoing is PACKET_OUTGOING, the sll_pkttype of frames this host sends.
const packetOutgoing = 4

// kernelFilter keeps frames a NIC would look at: received (not sent by this host — on
// lo every frame would otherwise be seen twice, and a NIC does not wake on what its own
// host sends), and either a raw 0x0842 frame or IPv4 UDP.
var kernelFilter = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 6},
	bpf.LoadAbsolute{Off: 12, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(EtherTypeWakeOnLAN), SkipTrue: 3},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(layers.EthernetTypeIPv4), SkipFalse: 3},
	bpf.LoadAbsolute{Off: 23, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(layers.IPProtocolUDP), SkipFalse: 1},
	bpf.RetConstant{Val: 0xFFFF},
	bpf.RetConstant{Val: 0},
}

// ListenInterface opens an AF_PACKET socket (TPACKET ring, pure Go, no libpcap) on iface
// in the network namespace of the calling thread. It needs CAP_NET_RAW; the error then
// wraps os.ErrPermission.
func ListenInterface(iface string, cfg ListenConfig) (*Listener, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if iface == "" {
		return nil, fmt.Errorf("wake listener: no interface given: %w", ErrInvalid)
	}
	// A small ring: magic packets are rare and short. 8 blocks of 128 KiB; blocks are
	// handed over after 10ms, which bounds the added wake latency.
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptFrameSize(4096),
		afpacket.OptBlockSize(4096*32),
		afpacket.OptNumBlocks(8),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptPollTimeout(cfg.PollInterval),
	)
	if err != nil {
		return nil, fmt.Errorf("wake listener: interface %s: open AF_PACKET socket: %w", iface, err)
	}
	prog, err := bpf.Assemble(kernelFilter)
	if err != nil {
		tp.Close()
		return nil, fmt.Errorf("wake listener: interface %s: assemble filter: %w", iface, err)
	}
	if err := tp.SetBPF(prog); err != nil {
		tp.Close()
		return nil, fmt.Errorf("wake listener: interface %s: attach filter: %w", iface, err)
	}
	if cfg.Promiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("wake listener: interface %s: set promiscuous: %w", iface, err)
		}
	}
	return &Listener{port: cfg.Port, where: "interface " + iface, tp: tp, stop: make(chan struct{})}, nil
}

// ListenUDP opens a UDP socket on addr (port 0 picks a free port; see Addr) in the
// network namespace of the calling thread. Unlike a NIC it hears one port only, and on
// a specific address it misses broadcasts: bind 0.0.0.0 to hear those.
func ListenUDP(ctx context.Context, addr netip.AddrPort) (*Listener, error) {
	var lc net.ListenConfig
	c, err := lc.ListenPacket(ctx, "udp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("wake listener: udp %s: listen: %w", addr, err)
	}
	conn := c.(*net.UDPConn)
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("wake listener: udp %s: ask for destination addresses: %w", addr, err)
	}
	l := &Listener{conn: conn, pc: pc, stop: make(chan struct{})}
	l.port = l.Addr().Port()
	l.where = "udp " + l.Addr().String()
	return l, nil
}

// Addr is the bound address in UDP mode; zero for an interface listener.
func (l *Listener) Addr() netip.AddrPort {
	if l.conn == nil {
		return netip.AddrPort{}
	}
	return l.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Stats returns the counters so far; safe while Run is running.
func (l *Listener) Stats() ListenStats {
	return ListenStats{Frames: l.frames.Load(), Wakes: l.wakes.Load(), Rejected: l.rejected.Load()}
}

// Run reads until ctx is done or Close is called, calling fn for every valid magic packet
// from this goroutine. It returns nil then, and an error only when reading fails. Run may
// be called once.
func (l *Listener) Run(ctx context.Context, fn func(Wake)) error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	select {
	case <-l.stop:
		return fmt.Errorf("wake listener: %s: run: %w", l.where, net.ErrClosed)
	default:
	}
	if l.tp != nil {
		return l.runPacket(ctx, fn)
	}
	return l.runUDP(ctx, fn)
}

// Close stops Run and releases the socket. It waits for Run to return (at most a poll
// interval) and may be called more than once.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		if l.conn != nil {
			l.conn.Close() // unblocks a read at once
		}
		l.runMu.Lock()
		defer l.runMu.Unlock()
		if l.tp != nil {
			l.tp.Close()
		}
	})
	return nil
}

func (l *Listener) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Listener) runPacket(ctx context.Context, fn func(Wake)) error {
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		udp     layers.UDP
		magic   MagicPacket
		decoded = make([]gopacket.LayerType, 0, 4)
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &udp)
	parser.IgnoreUnsupported = true
	for !l.stopped(ctx) {
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, afpacket.ErrTimeout):
			continue
		case err != nil:
			if l.stopped(ctx) {
				return nil
			}
			return fmt.Errorf("wake listener: %s: read: %w", l.where, err)
		}
		l.frames.Add(1)
		if err := parser.DecodeLayers(data, &decoded); err != nil || len(decoded) == 0 {
			continue // not Ethernet/IPv4/UDP we can read: no NIC would wake on it either
		}
		w := Wake{At: ci.Timestamp}
		switch last := decoded[len(decoded)-1]; {
		case last == layers.LayerTypeUDP:
			if l.port != 0 && uint16(udp.DstPort) != l.port {
				continue
			}
			if !l.decode(udp.Payload, func() error { return DecodeUDP(&udp, &magic) }) {
				continue
			}
			src, _ := netip.AddrFromSlice(ip4.SrcIP)
			dst, _ := netip.AddrFromSlice(ip4.DstIP)
			w.Src = netip.AddrPortFrom(src.Unmap(), uint16(udp.SrcPort))
			w.Dst = netip.AddrPortFrom(dst.Unmap(), uint16(udp.DstPort))
		case last == layers.LayerTypeEthernet && eth.EthernetType == EtherTypeWakeOnLAN,
			last == layers.LayerTypeDot1Q && dot1q.Type == EtherTypeWakeOnLAN:
			if l.port != 0 {
				continue
			}
			payload := eth.Payload
			if last == layers.LayerTypeDot1Q {
				payload = dot1q.Payload
			}
			if !l.decode(payload, func() error { return magic.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) }) {
				continue
			}
			w.Raw = true
		default:
			continue
		}
		w.SrcMAC = slices.Clone(eth.SrcMAC)
		w.DstMAC = slices.Clone(eth.DstMAC)
		l.report(w, &magic, fn)
	}
	return nil
}

func (l *Listener) runUDP(ctx context.Context, fn func(Wake)) error {
	stop := context.AfterFunc(ctx, func() { l.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var magic MagicPacket
	buf := make([]byte, 2048)
	local := l.Addr()
	for {
		n, cm, from, err := l.pc.ReadFrom(buf)
		if err != nil {
			if l.stopped(ctx) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("wake listener: %s: read: %w", l.where, err)
		}
		l.frames.Add(1)
		payload := buf[:n]
		if !l.decode(payload, func() error { return magic.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) }) {
			continue
		}
		w := Wake{At: time.Now(), Dst: local}
		if ua, ok := from.(*net.UDPAddr); ok {
			w.Src = unmapAddrPort(ua.AddrPort())
		}
		if cm != nil {
			if dst, ok := netip.AddrFromSlice(cm.Dst); ok {
				w.Dst = netip.AddrPortFrom(dst.Unmap(), local.Port())
			}
		}
		l.report(w, &magic, fn)
	}
}

// decode runs dec on payload and counts a near miss.
func (l *Listener) decode(payload []byte, dec func() error) bool {
	if err := dec(); err != nil {
		if len(payload) >= syncLen && string(payload[:syncLen]) == "\xff\xff\xff\xff\xff\xff" {
			l.rejected.Add(1)
		}
		return false
	}
	return true
}

func (l *Listener) report(w Wake, m *MagicPacket, fn func(Wake)) {
	w.Target = slices.Clone(m.Target)
	if len(m.Password) > 0 {
		w.Password = slices.Clone(m.Password)
	}
	l.wakes.Add(1)
	if fn != nil {
		fn(w)
	}
}
