package wol

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// run starts l.Run in a goroutine and stops it at the end of the test, failing the test
// if Run returned an error.
func run(t *testing.T, l *Listener) <-chan Wake {
	t.Helper()
	ch := make(chan Wake, 256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(w Wake) {
			select {
			case ch <- w:
			default:
				t.Errorf("test channel full: wake %s dropped", w.Target)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		l.Close()
	})
	return ch
}

func next(t *testing.T, ch <-chan Wake, d time.Duration) Wake {
	t.Helper()
	select {
	case w := <-ch:
		return w
	case <-time.After(d):
		t.Fatalf("no magic packet within %v", d)
		return Wake{}
	}
}

// await sends with send, then again every second, until a wake matching ok arrives (UDP
// may drop; the listener is ready before the first send, so one usually suffices).
// Wakes that do not match are returned too, in arrival order, for the caller to check.
func await(t *testing.T, ch <-chan Wake, send func() error, ok func(Wake) bool) (match Wake, others []Wake) {
	t.Helper()
	for try := 0; try < 5; try++ {
		if err := send(); err != nil {
			t.Fatalf("send: %v", err)
		}
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case w := <-ch:
				if ok(w) {
					return w, others
				}
				others = append(others, w)
			case <-timeout:
				break wait
			}
		}
	}
	t.Fatalf("no matching magic packet after 5 sends")
	return Wake{}, nil
}

func sendUDP(to netip.AddrPort, payload []byte) error {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(payload)
	return err
}

func TestUDPListenerRejectsAndCloses(t *testing.T) {
	l, err := ListenUDP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	wakes := run(t, l)
	mac := mustMAC(t, "02:00:00:00:00:42")
	broken := packet(mac, nil)
	broken[40] ^= 1
	// Datagrams on one loopback socket arrive in order: the broken one and the junk are
	// read before the good one, so the counters are final once the good one is reported.
	for _, p := range [][]byte{broken, []byte("hello"), packet(mac, nil)} {
		if err := sendUDP(l.Addr(), p); err != nil {
			t.Fatal(err)
		}
	}
	w := next(t, wakes, 5*time.Second)
	if w.Target.String() != mac.String() {
		t.Fatalf("wake for %s", w.Target)
	}
	if st := l.Stats(); st != (ListenStats{Frames: 3, Wakes: 1, Rejected: 1}) {
		t.Errorf("stats %+v, want 3 frames, 1 wake, 1 rejected", st)
	}
	select {
	case w := <-wakes:
		t.Errorf("unexpected wake %+v", w)
	default:
	}
}

// TestListenerStops: Run returns nil promptly on ctx cancel and on Close, in both modes.
func TestListenerStops(t *testing.T) {
	type opened struct {
		l  *Listener
		to netip.AddrPort // where a packet reaches it
	}
	open := map[string]func() opened{
		"udp": func() opened {
			l, err := ListenUDP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			return opened{l, l.Addr()}
		},
	}
	if packetCapable(t) == nil {
		open["afpacket"] = func() opened {
			port := freeUDPPort(t)
			l, err := ListenInterface("lo", ListenConfig{Port: port, PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return opened{l, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
		}
	}
	mac := mustMAC(t, "02:00:00:00:00:43")
	for name, f := range open {
		for _, how := range []string{"cancel", "close"} {
			o := f()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			running := make(chan Wake, 16)
			go func() { done <- o.l.Run(ctx, func(w Wake) { running <- w }) }()
			// A wake proves Run is reading; only then stop it.
			await(t, running, func() error { return sendUDP(o.to, packet(mac, nil)) }, func(Wake) bool { return true })
			start := time.Now()
			if how == "cancel" {
				cancel()
			} else {
				o.l.Close()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s/%s: Run = %v", name, how, err)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("%s/%s: Run did not return", name, how)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s/%s: stop took %v", name, how, d)
			}
			cancel()
			o.l.Close()
			o.l.Close() // idempotent
			if err := o.l.Run(context.Background(), nil); !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s: Run after Close = %v", name, err)
			}
		}
	}
}

var (
	packetOnce sync.Once
	packetErr  error
)

// packetCapable reports whether this process may open AF_PACKET sockets (CAP_NET_RAW);
// checked once.
func packetCapable(t *testing.T) error {
	packetOnce.Do(func() {
		l, err := ListenInterface("lo", ListenConfig{})
		if err != nil {
			packetErr = err
			return
		}
		l.Close()
	})
	return packetErr
}

func needPacket(t *testing.T) {
	t.Helper()
	if err := packetCapable(t); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("needs CAP_NET_RAW for AF_PACKET (run as root): %v", err)
		}
		t.Fatalf("AF_PACKET on lo: %v", err)
	}
}

// TestInterfaceListenerLoopback: AF_PACKET on lo sees a subnet-directed broadcast to
// 127.255.255.255 that no UDP socket is bound for, exactly once (the outgoing copy is
// filtered), with the port filter applied.
func TestInterfaceListenerLoopback(t *testing.T) {
	needPacket(t)
	port := freeUDPPort(t)
	l, err := ListenInterface("lo", ListenConfig{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	wakes := run(t, l)
	mac := mustMAC(t, "02:00:00:00:01:01")
	bcast := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port)
	w, others := await(t, wakes, func() error {
		// A packet to another port first: filtered by Port, never reported.
		other := netip.AddrPortFrom(bcast.Addr(), port+1)
		if _, err := Send(context.Background(), other, mac, Sender{}); err != nil {
			return err
		}
		_, err := Send(context.Background(), bcast, mac, Sender{})
		return err
	}, func(w Wake) bool { return w.Target.String() == mac.String() })
	if len(others) != 0 {
		t.Errorf("unexpected wakes %+v", others)
	}
	if w.Dst != bcast || !w.Src.Addr().IsLoopback() || w.Raw || w.At.IsZero() {
		t.Errorf("wake %+v", w)
	}
	if w.SrcMAC.String() != "00:00:00:00:00:00" {
		t.Errorf("loopback source MAC %s", w.SrcMAC)
	}
	// Exactly once: a duplicate (the outgoing copy) would follow at once.
	select {
	case d := <-wakes:
		if d.Target.String() == mac.String() && d.Src == w.Src {
			t.Errorf("packet reported twice: %+v", d)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// freeUDPPort returns a port no UDP socket holds right now (the kernel's pick), so
// parallel test runs on one host do not see each other's packets.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}
