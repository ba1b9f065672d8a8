package fleet

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Identity is who one simulated client is on the network.
type Identity struct {
	Index int              `json:"index"` // global index (scenario-wide)
	Group string           `json:"group"`
	Addr  netip.Addr       `json:"addr"`
	MAC   net.HardwareAddr `json:"-"`
	GUID  string           `json:"guid"`
}

// MACFor is the MAC of the client with global index i: locally administered
// 02:50:xx:xx:xx:xx with the index in the last four bytes. The site agent and the
// orchestrator use the same function, so wake-up packets find their client.
func MACFor(i int) net.HardwareAddr {
	m := net.HardwareAddr{0x02, 0x50, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[2:], uint32(i))
	return m
}

// GUIDFor is the client's SMS GUID, derived from the seed and the global index.
func GUIDFor(seed int64, i int) string {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(i)^0x9e3779b97f4a7c15))
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("GUID:%08X-%04X-%04X-%04X-%012X", uint32(a>>32), uint16(a>>16), uint16(a)&0x0fff|0x4000,
		uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

// AddrFor is the source address of the fleet's n-th client (0-based, groups in order).
func AddrFor(identities netip.Prefix, n int) netip.Addr {
	base := identities.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(base[:]) + 1 + uint32(n)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// Identities lists every client of a (normalized) fleet config in fleet order.
func Identities(cfg Config) []Identity {
	var out []Identity
	n := 0
	for _, g := range cfg.Groups {
		for j := range g.Count {
			idx := g.First + j
			out = append(out, Identity{Index: idx, Group: g.Name, Addr: AddrFor(cfg.Identities, cfg.Offset+n),
				MAC: MACFor(idx), GUID: GUIDFor(cfg.Seed, idx)})
			n++
		}
	}
	return out
}

// DialFunc opens a TCP connection from local to remote within timeout. Tests inject
// one to simulate a dropped SYN without touching the network.
type DialFunc func(ctx context.Context, local netip.Addr, remote netip.AddrPort, timeout time.Duration) (net.Conn, error)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): bind the address now,
// pick the port at connect, so tens of thousands of source addresses do not each
// reserve ports at bind time.
const ipBindAddressNoPort = 24

// Dial is the real DialFunc: bind the client's own source address (no port) and connect.
func Dial(ctx context.Context, local netip.Addr, remote netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   timeout,
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)),
		KeepAlive: -1, // the protocol's own keep-alives, not the kernel's
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	return d.DialContext(ctx, "tcp4", remote.String())
}
