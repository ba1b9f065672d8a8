package wol

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// The topology of TestListenerAcrossVeth, two namespaces of the test's own:
//
//	 ns <pid>-a (site server)          ns <pid>-b (sleeping NIC)
//	+------------------------+        +------------------------+
//	| wola 198.18.200.1/24   |--veth--| wolb 198.18.200.2/24   |
//	| Sender, raw 0x0842     |        | Listener (AF_PACKET)   |
//	+------------------------+        +------------------------+
//
// The namespaces are built with ip(8): this is test scaffolding, the lab itself is built
// with netlink by netsim. Only 198.18.200.0/24 inside these namespaces carries traffic.

var nsSeq atomic.Int32

// newNetns creates a named network namespace and deletes it when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("wol-test-%d-%d", os.Getpid(), nsSeq.Add(1)) // not portlab-*: netsim's tests watch that prefix
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("needs root to create network namespaces (ip netns add %s: %v: %s)", name, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	return name
}

func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	args = append([]string{"-n", ns}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNetns runs fn on a locked OS thread that has entered namespace ns. Sockets opened
// by fn stay in ns after it returns. If the thread cannot return to its namespace it is
// left locked, so the runtime discards it with the goroutine.
func inNetns(ns string, fn func()) error {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, e := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if e != nil {
			err = fmt.Errorf("open own netns: %w", e)
			return
		}
		defer unix.Close(orig)
		target, e := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if e != nil {
			err = fmt.Errorf("open netns %s: %w", ns, e)
			return
		}
		defer unix.Close(target)
		if e := unix.Setns(target, unix.CLONE_NEWNET); e != nil {
			err = fmt.Errorf("enter netns %s: %w", ns, e)
			return
		}
		fn()
		if e := unix.Setns(orig, unix.CLONE_NEWNET); e != nil {
			err = fmt.Errorf("leave netns %s: %w", ns, e)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	<-done
	return err
}

// TestListenerAcrossVeth: a NIC listener in one namespace decodes unicast, subnet-directed
// broadcast and raw 0x0842 wake-ups sent from another, on any port, and reports a packet
// for another MAC with that MAC: the caller decides who wakes.
func TestListenerAcrossVeth(t *testing.T) {
	needPacket(t)
	a, b := newNetns(t), newNetns(t)
	ipIn(t, a, "link", "add", "wola", "type", "veth", "peer", "name", "wolb", "netns", b)
	ipIn(t, a, "addr", "add", "198.18.200.1/24", "dev", "wola")
	ipIn(t, b, "addr", "add", "198.18.200.2/24", "dev", "wolb")
	ipIn(t, a, "link", "set", "wola", "up")
	ipIn(t, b, "link", "set", "wolb", "up")

	var l *Listener
	var lerr error
	if err := inNetns(b, func() { l, lerr = ListenInterface("wolb", ListenConfig{}) }); err != nil {
		t.Fatal(err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	wakes := run(t, l)

	// Senders live in namespace a: sockets opened there stay there.
	var raw *afpacket.TPacket
	var srcMAC net.HardwareAddr
	err := inNetns(a, func() {
		ifc, err := net.InterfaceByName("wola")
		if err != nil {
			lerr = err
			return
		}
		srcMAC = ifc.HardwareAddr
		raw, lerr = afpacket.NewTPacket(afpacket.OptInterface("wola"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer raw.Close()
	sendFromA := func(to netip.AddrPort, mac net.HardwareAddr) func() error {
		return func() error {
			var err error
			if nerr := inNetns(a, func() { _, err = Send(context.Background(), to, mac, Sender{}) }); nerr != nil {
				return nerr
			}
			return err
		}
	}
	sleeper := mustMAC(t, "02:00:00:00:0b:01")
	other := mustMAC(t, "02:00:00:00:0b:99")
	unicast := netip.MustParseAddrPort("198.18.200.2:9")
	bcast := netip.MustParseAddrPort("198.18.200.255:40009")
	src := netip.MustParseAddr("198.18.200.1")

	t.Run("unicast port 9", func(t *testing.T) {
		w, _ := await(t, wakes, sendFromA(unicast, sleeper), func(w Wake) bool { return w.Target.String() == sleeper.String() })
		if w.Dst != unicast || w.Src.Addr() != src || w.SrcMAC.String() != srcMAC.String() || w.Raw {
			t.Errorf("wake %+v", w)
		}
	})
	t.Run("directed broadcast other port", func(t *testing.T) {
		w, _ := await(t, wakes, sendFromA(bcast, sleeper), func(w Wake) bool { return w.Dst == bcast })
		if w.Target.String() != sleeper.String() || w.DstMAC.String() != "ff:ff:ff:ff:ff:ff" {
			t.Errorf("wake %+v", w)
		}
	})
	t.Run("another MAC is reported as that MAC", func(t *testing.T) {
		w, _ := await(t, wakes, sendFromA(bcast, other), func(w Wake) bool { return w.Target.String() == other.String() })
		if w.Dst != bcast {
			t.Errorf("wake %+v", w)
		}
	})
	t.Run("raw ethertype 0x0842", func(t *testing.T) {
		target := mustMAC(t, "02:00:00:00:0b:42")
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: layers.EthernetBroadcast, EthernetType: EtherTypeWakeOnLAN}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, &MagicPacket{Target: target}); err != nil {
			t.Fatal(err)
		}
		w, _ := await(t, wakes, func() error { return raw.WritePacketData(buf.Bytes()) },
			func(w Wake) bool { return w.Target.String() == target.String() })
		if !w.Raw || w.Src.IsValid() || w.SrcMAC.String() != srcMAC.String() {
			t.Errorf("wake %+v", w)
		}
	})
	t.Run("broken packet is counted, not reported", func(t *testing.T) {
		before := l.Stats().Rejected
		bad := packet(sleeper, nil)
		bad[70] ^= 1
		probe := mustMAC(t, "02:00:00:00:0b:77")
		// The broken packet goes first; the good probe after it proves it was read.
		_, others := await(t, wakes, func() error {
			var err error
			nerr := inNetns(a, func() {
				c, e := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(unicast))
				if e != nil {
					err = e
					return
				}
				defer c.Close()
				if _, err = c.Write(bad); err != nil {
					return
				}
				_, err = Send(context.Background(), unicast, probe, Sender{})
			})
			if nerr != nil {
				return nerr
			}
			return err
		}, func(w Wake) bool { return w.Target.String() == probe.String() })
		for _, w := range others {
			if w.Target.String() != sleeper.String() && w.Target.String() != other.String() {
				t.Errorf("unexpected wake %+v", w)
			}
		}
		if got := l.Stats().Rejected; got <= before {
			t.Errorf("rejected count %d, want > %d", got, before)
		}
	})
}
