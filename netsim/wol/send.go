package wol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrUnsafeDestination is returned for a destination portlab never sends to: anything
// outside 198.18.0.0/15 and 127.0.0.0/8, IPv6 included (wake-up is IPv4 only).
var ErrUnsafeDestination = errors.New("destination outside 198.18.0.0/15 and 127.0.0.0/8")

// ErrInvalid is wrapped by errors in what the caller asked for (MAC, password, port).
var ErrInvalid = errors.New("invalid wake-up request")

// allowed are the only networks the sender sends to: the lab's benchmark range and
// loopback. Fixed on purpose: portlab never sends elsewhere, whatever the caller says.
var allowed = [...]netip.Prefix{
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("127.0.0.0/8"),
}

// CheckDestination returns an error wrapping ErrUnsafeDestination unless to is an IPv4
// address inside 198.18.0.0/15 or 127.0.0.0/8, or ErrInvalid for port 0.
func CheckDestination(to netip.AddrPort) error {
	a := to.Addr().Unmap()
	ok := false
	for _, p := range allowed {
		if a.Is4() && p.Contains(a) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("wake-up to %s: %w (portlab sends only inside its lab)", to, ErrUnsafeDestination)
	}
	if to.Port() == 0 {
		return fmt.Errorf("wake-up to %s: port 0: %w", to, ErrInvalid)
	}
	return nil
}

// Target is one wake-up: the NIC to wake and where the packet goes, the client's own
// address (unicast) or its subnet's broadcast address (subnet-directed broadcast).
type Target struct {
	MAC net.HardwareAddr
	To  netip.AddrPort
}

// Sent records one packet the sender handed to the kernel (or failed to).
type Sent struct {
	Target Target
	// Attempt counts from 0: the first copy; 1..Retries are the repeats.
	Attempt int
	// At is when the send began: the start of a send → wake latency.
	At    time.Time
	Bytes int
	// Err is the send error; nil when the kernel accepted the datagram. UDP gives no
	// delivery guarantee either way: a sleeping host acknowledges nothing.
	Err error
}

// Sender sends magic packets the way a site server does: every target once, then the
// whole list again for each retry, paced to Rate packets per second overall.
//
// The zero value sends each target once, unpaced. A Sender holds no state between calls
// and may be used by several goroutines.
type Sender struct {
	// Rate is the overall send rate in packets per second; 0 means as fast as possible.
	Rate float64
	// Retries is how many more copies each target gets after the first.
	Retries int
	// Password is the SecureOn password put in every packet: empty, 4 or 6 bytes.
	Password []byte
	// Report, if set, is called after each packet, in send order, from the calling
	// goroutine (the site agent logs from here).
	Report func(Sent)
}

// Send sends to every target, paced, with retries, until done or ctx is cancelled. It
// checks every target first and sends nothing if one is invalid or unsafe (errors wrap
// ErrInvalid or ErrUnsafeDestination). It returns every packet it sent; the error is
// non-nil when ctx ended the run early or when some sends failed.
func (s *Sender) Send(ctx context.Context, targets []Target) ([]Sent, error) {
	if s.Rate < 0 || s.Retries < 0 {
		return nil, fmt.Errorf("wake-up sender: rate %v and retries %d must not be negative: %w", s.Rate, s.Retries, ErrInvalid)
	}
	if len(targets) == 0 {
		return nil, nil
	}
	payloads := make([][]byte, len(targets))
	for i, t := range targets {
		if err := CheckDestination(t.To); err != nil {
			return nil, err
		}
		b, err := (&MagicPacket{Target: t.MAC, Password: s.Password}).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("wake-up %s to %s: %w: %w", t.MAC, t.To, err, ErrInvalid)
		}
		payloads[i] = b
	}
	conn, err := openSendSocket(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	total := len(targets) * (s.Retries + 1)
	sent := make([]Sent, 0, total)
	failed := 0
	var firstErr error
	start := time.Now()
	// Since Go 1.23 Reset needs no drained channel: an unfired timer is simply re-armed.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for n := 0; n < total; n++ {
		if d := time.Until(start.Add(due(n, s.Rate))); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return sent, fmt.Errorf("wake-up: stopped after %d of %d packets: %w", n, total, ctx.Err())
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return sent, fmt.Errorf("wake-up: stopped after %d of %d packets: %w", n, total, err)
		}
		i := n % len(targets)
		t := targets[i]
		at := time.Now()
		nb, err := conn.WriteToUDPAddrPort(payloads[i], unmapAddrPort(t.To))
		if err != nil {
			err = fmt.Errorf("wake-up %s to %s: send: %w", t.MAC, t.To, err)
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		rec := Sent{Target: t, Attempt: n / len(targets), At: at, Bytes: nb, Err: err}
		sent = append(sent, rec)
		if s.Report != nil {
			s.Report(rec)
		}
	}
	if failed > 0 {
		return sent, fmt.Errorf("wake-up: %d of %d packets failed, first: %w", failed, total, firstErr)
	}
	return sent, nil
}

// due is when packet n (from 0) leaves, measured from the start, at rate packets per
// second; rate 0 means no pacing. A pure function, so pacing is tested without sleeping.
func due(n int, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(n) / rate * float64(time.Second))
}

// Send sends one magic packet for mac to to, plus retries copies, with a Sender.
func Send(ctx context.Context, to netip.AddrPort, mac net.HardwareAddr, s Sender) ([]Sent, error) {
	return s.Send(ctx, []Target{{MAC: mac, To: to}})
}

// openSendSocket opens an unconnected UDP socket allowed to send to broadcast addresses
// (SO_BROADCAST): subnet-directed broadcast is one of the two ways a site wakes clients.
// It is opened in the network namespace of the calling thread.
func openSendSocket(ctx context.Context) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set SO_BROADCAST: %w", serr)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:0")
	if err != nil {
		return nil, fmt.Errorf("wake-up: open UDP socket: %w", err)
	}
	return pc.(*net.UDPConn), nil
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
