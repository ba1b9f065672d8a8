package netsim

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// BindNoPort is a net.Dialer Control function setting IP_BIND_ADDRESS_NO_PORT: the
// socket binds its source address at bind time but picks the port only at connect,
// from the (address, port) pairs free for that destination. Without it each bind
// reserves a port per source address up front and tens of thousands of clients run
// the ephemeral range dry.
func BindNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// DialerFrom returns a dialer whose connections leave from src, one client identity.
// Use it inside a client namespace (an agent started there), where the AnyIP route
// makes every address of the segment's client range local.
func DialerFrom(src netip.Addr) *net.Dialer {
	return &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IP(src.AsSlice())},
		Control:   BindNoPort,
	}
}

// UDPFrom is the local address for a UDP socket of client identity src (port chosen
// by the kernel).
func UDPFrom(src netip.Addr) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IP(src.AsSlice())}
}

// ClientAddr is the i-th client identity (0-based) of a client range: the range's
// first host address plus i. It reports false when the range has no such host (the
// network and broadcast addresses are never identities).
func ClientAddr(clients netip.Prefix, i int) (netip.Addr, bool) {
	p := clients.Masked()
	if !p.Addr().Is4() || i < 0 {
		return netip.Addr{}, false
	}
	hosts := uint64(1)<<(32-p.Bits()) - 2
	if uint64(i) >= hosts {
		return netip.Addr{}, false
	}
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func inRange(a netip.Addr) bool { return BenchmarkRange().Contains(a) }
