package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/portlab/portlab/netsim/wol"
	"github.com/vishvananda/netns"
)

// TestWakeonlanWakesSleepingClient drives the whole wake-up chain with the Debian
// wakeonlan tool: a magic packet broadcast on a veth between two namespaces of the
// test's own reaches the sleeping clients' NIC (AF_PACKET, promiscuous) and wakes the
// client with that MAC — only that one, and only in a frame its NIC accepts: the same
// packet sent unicast to the namespace's address (not to the client's MAC) wakes nobody.
func TestWakeonlanWakesSleepingClient(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and an AF_PACKET socket")
	}
	for _, tool := range []string{"wakeonlan", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install %s)", tool, map[string]string{"wakeonlan": "wakeonlan", "ip": "iproute2"}[tool])
		}
	}
	// Not portlab-*: netsim's tests, running in parallel, watch that prefix.
	a, b := fmt.Sprintf("nic-test-%d-a", os.Getpid()), fmt.Sprintf("nic-test-%d-b", os.Getpid())
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", a).Run()
		exec.Command("ip", "netns", "del", b).Run()
	})
	sh("netns", "add", a)
	sh("netns", "add", b)
	sh("-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
	sh("-n", a, "addr", "add", "198.18.250.1/24", "dev", "va")
	sh("-n", b, "addr", "add", "198.18.250.2/24", "dev", "vb")
	sh("-n", a, "link", "set", "va", "up")
	sh("-n", b, "link", "set", "vb", "up")

	mp := newFakeMP(t, "mp1")
	hp := mp.open(0)
	g := Group{Name: "sleepy", Count: 2, Asleep: true, PolicyInterval: Duration(300 * time.Millisecond)}
	f := startFleet(t, testConfig(mp, SitePorts{HTTP: RequestPort{Default: hp}}, 20*time.Second, g), Options{})
	n := &nic{f: f, log: slog.New(slog.DiscardHandler), expected: map[int]time.Time{}}

	// The NIC's socket is opened inside namespace b (a socket stays where it was made).
	l := listenIn(t, b, "vb")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, n.frame) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })

	wake := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", a, "wakeonlan"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("wakeonlan %v: %v\n%s", args, err, out)
		}
	}
	// Unicast to b's own address: the frame is addressed to vb's MAC, not the client's.
	frames := l.Stats().Wakes
	wake("-i", "198.18.250.2", "-p", "9", MACFor(0).String())
	waitFor(t, 5*time.Second, "the unicast magic packet on the wire", func() bool { return l.Stats().Wakes > frames })
	waitFor(t, 5*time.Second, "the NIC to refuse the frame", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.ignored == 1
	})
	if st := groupState(t, f, "sleepy"); st.Asleep != 2 {
		t.Fatalf("a magic packet in a frame for another MAC woke a client: %+v", st)
	}
	// Broadcast: every NIC takes the frame; only client 1's MAC matches.
	wake("-i", "198.18.250.255", "-p", "40009", MACFor(1).String())
	waitFor(t, 5*time.Second, "client 1 managed", func() bool { return groupState(t, f, "sleepy").Managed == 1 })
	if st := groupState(t, f, "sleepy"); st.Asleep != 1 {
		t.Fatalf("want client 0 still asleep: %+v", st)
	}
	if got := mp.hitsOn(hp); len(got) == 0 {
		t.Fatal("the woken client sent nothing to the MP")
	}
}

func listenIn(t *testing.T, ns, iface string) *wol.Listener {
	t.Helper()
	var l *wol.Listener
	errc := make(chan error, 1)
	go func() {
		// A thread that fails to return to its namespace is never unlocked, so it dies
		// with this goroutine instead of serving others in the wrong namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		l, err = wol.ListenInterface(iface, wol.ListenConfig{Promiscuous: true})
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("listen on %s/%s: %v", ns, iface, err)
	}
	return l
}
