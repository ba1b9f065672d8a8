package netsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// testScenarioYAML: two client segments and the data centre joined by one firewall,
// two MPs and the site server on dc (so dc is a switch).
func buildTest(t *testing.T, opt Options) *Topology {
	t.Helper()
	return buildSpec(t, testSpec(), opt)
}

// buildSpec builds s after the root check and host guard, and tears it down (an
// error doing so fails the test) when the test ends.
func buildSpec(t *testing.T, s Spec, opt Options) *Topology {
	t.Helper()
	requireRoot(t)
	hostGuard(t)
	topo, err := Build(context.Background(), s, opt)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return topo
}

// listen starts a TCP listener inside node on port; every accepted connection is
// handed to serve (nil: echo). It returns the listener's address.
func listen(t *testing.T, topo *Topology, node string, port int, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	addr, err := topo.Addr(node, "")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.AddrPortFrom(addr, uint16(port))
	var ln net.Listener
	if err := topo.Do(node, func() error {
		var err error
		ln, err = net.Listen("tcp", ap.String())
		return err
	}); err != nil {
		t.Fatalf("listen %s %s: %v", node, ap, err)
	}
	t.Cleanup(func() { ln.Close() })
	if serve == nil {
		serve = func(c net.Conn) { io.Copy(c, c); c.Close() }
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ap
}

// dialFrom connects from client identity src (inside node) to dst.
func dialFrom(topo *Topology, node string, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := topo.Do(node, func() error {
		d := DialerFrom(src)
		d.Timeout = timeout
		var err error
		c, err = d.Dial("tcp", dst.String())
		return err
	})
	return c, err
}

func clientAddr(t *testing.T, topo *Topology, segment string, i int) netip.Addr {
	t.Helper()
	n, ok := topo.Node(ClientNode(segment))
	if !ok {
		t.Fatalf("no client node for %s", segment)
	}
	a, ok := ClientAddr(n.Clients, i)
	if !ok {
		t.Fatalf("client %d: outside %s", i, n.Clients)
	}
	return a
}

// synRetransmits is how many times a just-connected socket retransmitted (its SYN).
func synRetransmits(t *testing.T, c net.Conn) uint64 {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, gerr)
	}
	return uint64(info.Total_retrans)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFirewallActions: accepted connects work, dropped ones time out, rejected ones
// fail at once with ECONNREFUSED, and the counters match what was sent.
func TestFirewallActions(t *testing.T) {
	topo := buildTest(t, Options{})
	mp := MPNode("mp1")
	open := listen(t, topo, mp, 8080, nil)
	blocked := listen(t, topo, mp, 8443, nil)
	refused := listen(t, topo, mp, 8444, nil)
	client := ClientNode("lan")

	const nOpen, nBlocked, nRefused = 7, 3, 5
	// A loaded machine may delay a SYN-ACK past the 1s retransmission timeout: each
	// retransmitted SYN is one more new-connection packet through the rule. Count them.
	var openSYNs uint64
	for i := 0; i < nOpen; i++ {
		c, err := dialFrom(topo, client, clientAddr(t, topo, "lan", i), open, 5*time.Second)
		if err != nil {
			t.Fatalf("connect %d to open port: %v", i, err)
		}
		openSYNs += 1 + synRetransmits(t, c)
		msg := fmt.Sprintf("hello %d\n", i)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
		c.Close()
	}
	// The initial SYN retransmission timeout is 1s: a much shorter dial timeout sends
	// exactly one SYN per attempt, which makes the drop counter exact.
	for i := 0; i < nBlocked; i++ {
		_, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 100+i), blocked, 100*time.Millisecond)
		if !isTimeout(err) {
			t.Fatalf("connect to dropped port: want a timeout, got %v", err)
		}
	}
	for i := 0; i < nRefused; i++ {
		_, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 200+i), refused, 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to rejected port: want ECONNREFUSED, got %v", err)
		}
	}
	// One UDP datagram no rule matches: the default counter sees exactly it (mp1's ICMP
	// port unreachable answer is related traffic, accepted before the rules).
	if err := topo.Do(client, func() error {
		c, err := net.DialUDP("udp", UDPFrom(clientAddr(t, topo, "lan", 300)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(open.Addr(), 9999)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	}); err != nil {
		t.Fatal(err)
	}

	want := map[string]uint64{"open": openSYNs, "blocked": nBlocked, "refused": nRefused, "lan2-udp": 0, DefaultCounter: 1}
	eventually(t, 5*time.Second, "counters", func() (bool, string) {
		got, err := topo.Counters("fw")
		if err != nil {
			return false, err.Error()
		}
		for name, n := range want {
			if got[name].Packets != n {
				return false, fmt.Sprintf("%s: %d packets, want %d (all: %v)", name, got[name].Packets, n, got)
			}
			if n > 0 && got[name].Bytes < 28*n {
				return false, fmt.Sprintf("%s: %d bytes for %d packets", name, got[name].Bytes, n)
			}
		}
		return true, ""
	})
}

// TestManyClients: 20,000 clients each connect from their own source address, as the
// server sees it.
func TestManyClients(t *testing.T) {
	topo := buildTest(t, Options{})
	const n = 20000
	var mu sync.Mutex
	seen := map[netip.Addr]int{}
	got := make(chan struct{}, n)
	dst := listen(t, topo, MPNode("mp2"), 8080, func(c net.Conn) {
		ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		c.Close()
		mu.Lock()
		seen[ap.Addr().Unmap()]++
		mu.Unlock()
		got <- struct{}{}
	})
	client := ClientNode("lan")
	const workers = 16
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			errc <- topo.Do(client, func() error {
				for i := w; i < n; i += workers {
					src := clientAddr(t, topo, "lan", i)
					d := DialerFrom(src)
					d.Timeout = 10 * time.Second
					c, err := d.Dial("tcp", dst.String())
					if err != nil {
						return fmt.Errorf("client %d (%s): %w", i, src, err)
					}
					c.Close()
				}
				return nil
			})
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-timeout:
			t.Fatalf("server accepted %d of %d connections", i, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	lan, _ := topo.Node(client)
	if len(seen) != n {
		t.Fatalf("server saw %d distinct source addresses, want %d", len(seen), n)
	}
	for a, k := range seen {
		if !lan.Clients.Contains(a) || k != 1 {
			t.Fatalf("source %s seen %d times (range %s)", a, k, lan.Clients)
		}
	}
}

// TestRulesChangeMidRun: replacing the rules keeps an established allowed connection
// working while new connections follow the new rules at once.
func TestRulesChangeMidRun(t *testing.T) {
	topo := buildTest(t, Options{})
	mp := MPNode("mp1")
	p8080 := listen(t, topo, mp, 8080, nil)
	p8443 := listen(t, topo, mp, 8443, nil)
	client := ClientNode("lan")

	long, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 1), p8080, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	openSYNs := 1 + synRetransmits(t, long)
	defer long.Close()
	rd := bufio.NewReader(long)
	echo := func(msg string) {
		t.Helper()
		long.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := long.Write([]byte(msg + "\n")); err != nil {
			t.Fatalf("established connection: write: %v", err)
		}
		got, err := rd.ReadString('\n')
		if err != nil || got != msg+"\n" {
			t.Fatalf("established connection: echo %q: %q, %v", msg, got, err)
		}
	}
	echo("before")
	if _, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 2), p8443, 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("8443 before the change: want timeout, got %v", err)
	}

	// The change: 8080 closed for new connections, 8443 opened.
	err = topo.SetFirewall("fw", Firewall{Default: Accept, Rules: []Rule{
		{Name: "open", Proto: ProtoTCP, Ports: PortRange{8443, 8443}, Action: Accept},
		{Name: "closed", Proto: ProtoTCP, Ports: PortRange{8080, 8080}, Action: Drop},
	}})
	if err != nil {
		t.Fatal(err)
	}
	echo("after")
	if _, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 3), p8080, 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection to 8080 after the change: want timeout, got %v", err)
	}
	c, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 4), p8443, 5*time.Second)
	if err != nil {
		t.Fatalf("new connection to 8443 after the change: %v", err)
	}
	openSYNs += 1 + synRetransmits(t, c)
	c.Close()
	echo("still")
	got, err := topo.Counters("fw")
	if err != nil {
		t.Fatal(err)
	}
	// "open" survived the replacement by name: the SYN to 8080 before, the one to 8443 after.
	if got["open"].Packets != openSYNs || got["closed"].Packets != 1 || got["blocked"].Packets != 1 {
		t.Fatalf("counters after the change: %v", got)
	}
}

// TestLinks checks the built topology itself: names, addresses, forwarding only in
// routers, IPv6 off, the AnyIP route and the broadcast route.
func TestLinks(t *testing.T) {
	topo := buildTest(t, Options{})
	kinds := map[NodeKind]int{}
	for _, n := range topo.Nodes() {
		kinds[n.Kind]++
		n := n
		err := topo.Do(n.Name, func() error {
			fwd, err := readSysctl("net.ipv4.ip_forward")
			if err != nil {
				return err
			}
			if want := map[bool]string{true: "1", false: "0"}[n.Kind == KindRouter]; fwd != want {
				return fmt.Errorf("ip_forward=%s, want %s", fwd, want)
			}
			if ipv6Present() {
				if v, _ := readSysctl("net.ipv6.conf.default.disable_ipv6"); v != "1" {
					return fmt.Errorf("ipv6 on")
				}
			}
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			names := map[string]bool{}
			for _, l := range links {
				name := l.Attrs().Name
				if names[name] {
					return fmt.Errorf("interface %s twice", name)
				}
				names[name] = true
				addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
				for _, a := range addrs {
					ip, _ := netip.AddrFromSlice(a.IP)
					if !ip.IsLoopback() && !inRange(ip.Unmap()) {
						return fmt.Errorf("%s has %s, outside 198.18.0.0/15", name, ip)
					}
				}
			}
			if len(names) != len(n.Ifaces)+1+map[bool]int{true: 1}[n.Kind == KindSwitch] {
				return fmt.Errorf("interfaces %v, planned %v", names, n.Ifaces)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", n.Name, err)
		}
	}
	if kinds[KindClient] != 2 || kinds[KindRouter] != 1 || kinds[KindMP] != 2 || kinds[KindSite] != 1 || kinds[KindSwitch] != 1 {
		t.Errorf("nodes by kind: %v", kinds)
	}
	// The site reaches both MPs over the switch and a client over the router.
	listen(t, topo, MPNode("mp2"), 80, nil)
	mp2, _ := topo.Addr(MPNode("mp2"), "")
	if err := topo.Do(SiteNode, func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(mp2, 80).String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Errorf("site -> mp2: %v", err)
	}
}

// TestDirectedBroadcast uses the built-in wake-up scenario: ra forwards directed
// broadcasts, rb does not, rc does but its firewall drops UDP 9.
func TestDirectedBroadcast(t *testing.T) {
	topo := buildSpec(t, wakeSpec(), Options{})

	recv := map[string]*net.UDPConn{}
	for _, seg := range []string{"lan-a", "lan-b", "lan-c"} {
		var c *net.UDPConn
		if err := topo.Do(ClientNode(seg), func() error {
			var err error
			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		recv[seg] = c
	}
	send := func(dst netip.Addr, payload string) {
		t.Helper()
		if err := topo.Do(SiteNode, func() error {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte(payload))
			return err
		}); err != nil {
			t.Fatalf("send to %s: %v", dst, err)
		}
	}
	read := func(seg string) (string, netip.Addr) {
		t.Helper()
		c := recv[seg]
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 100)
		var oob [64]byte
		n, _, _, from, err := c.ReadMsgUDPAddrPort(buf, oob[:])
		if err != nil {
			t.Fatalf("%s: read: %v", seg, err)
		}
		return string(buf[:n]), from.Addr()
	}
	bcast := func(seg string) netip.Addr {
		n, _ := topo.Node(ClientNode(seg))
		return BroadcastAddr(n.Clients)
	}
	unicast := func(seg string) netip.Addr { return clientAddr(t, topo, seg, 5) }

	for _, seg := range []string{"lan-a", "lan-b", "lan-c"} {
		send(bcast(seg), "broadcast "+seg)
		// A unicast marker after it takes the same path: if the broadcast was going to
		// arrive, it arrives first, so no wait is needed to see that it did not.
		send(unicast(seg), "unicast "+seg)
	}
	if got, _ := read("lan-a"); got != "broadcast lan-a" {
		t.Errorf("lan-a (bc_forwarding on): first datagram %q, want the broadcast", got)
	}
	if got, _ := read("lan-a"); got != "unicast lan-a" {
		t.Errorf("lan-a: second datagram %q, want the unicast", got)
	}
	if got, _ := read("lan-b"); got != "unicast lan-b" {
		t.Errorf("lan-b (bc_forwarding off): first datagram %q, want only the unicast", got)
	}
	// rc drops UDP 9 altogether, unicast included.
	got, err := topo.Counters("rc")
	if err != nil {
		t.Fatal(err)
	}
	if got["block-wol"].Packets != 2 {
		t.Errorf("rc block-wol counter: %v, want 2 packets", got)
	}
}

// TestKillLeavesNothing: a process holding a topology with an agent inside is killed
// with SIGKILL; its namespaces, links, tables and the agent go with it.
func TestKillLeavesNothing(t *testing.T) {
	requireRoot(t)
	hostGuard(t)
	// Orphaned agents are re-parented to this process, so it can see them exit.
	if err := setSubreaper(); err != nil {
		t.Fatalf("subreaper: %v", err)
	}
	rep, child := startHolder(t)
	// The check below must be able to fail: while the holder lives, it holds them.
	if held := nsHolders(rep.NSInodes); len(held) == 0 {
		t.Fatalf("no holder found for live namespaces %v", rep.NSInodes)
	}
	if ok, _ := reaped(rep.AgentPid); ok {
		t.Fatalf("agent %d gone before the kill", rep.AgentPid)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	eventually(t, 10*time.Second, "agent exit", func() (bool, string) {
		return reaped(rep.AgentPid)
	})
	eventually(t, 10*time.Second, "namespaces released", func() (bool, string) {
		held := nsHolders(rep.NSInodes)
		return len(held) == 0, strings.Join(held, ", ")
	})
}

func TestCapture(t *testing.T) {
	dir := t.TempDir()
	topo := buildTest(t, Options{CaptureDir: dir})
	if len(topo.Captures()) != len(topo.plan.links) {
		t.Fatalf("captures %v for %d links", topo.Captures(), len(topo.plan.links))
	}
	mp := MPNode("mp1")
	open := listen(t, topo, mp, 8080, nil)
	refused := listen(t, topo, mp, 8444, nil)
	client := ClientNode("lan")
	c, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 1), open, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := dialFrom(topo, client, clientAddr(t, topo, "lan", 2), refused, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want ECONNREFUSED, got %v", err)
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	file := captureName(dir, "lan", client)
	syns := tshark(t, file, "tcp.flags.syn==1 && tcp.flags.ack==0", "ip.src", "tcp.dstport")
	want := []string{clientAddr(t, topo, "lan", 1).String() + "\t8080", clientAddr(t, topo, "lan", 2).String() + "\t8444"}
	if strings.Join(syns, "\n") != strings.Join(want, "\n") {
		t.Errorf("SYNs in %s:\n%s\nwant:\n%s", file, strings.Join(syns, "\n"), strings.Join(want, "\n"))
	}
	rsts := tshark(t, file, "tcp.flags.reset==1 && tcp.srcport==8444", "ip.dst")
	if len(rsts) != 1 || rsts[0] != clientAddr(t, topo, "lan", 2).String() {
		t.Errorf("resets from 8444 in %s: %v", file, rsts)
	}
	// The MP side saw the accepted SYN only: the rejected one never crossed.
	mpSyns := tshark(t, captureName(dir, "dc", mp), "tcp.flags.syn==1 && tcp.flags.ack==0", "tcp.dstport")
	if strings.Join(mpSyns, ",") != "8080" {
		t.Errorf("SYNs on mp1's link: %v, want [8080]", mpSyns)
	}
}

func TestKeepAndClean(t *testing.T) {
	requireRoot(t)
	hostGuard(t)
	topo, err := Build(context.Background(), testSpec(), Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	id := topo.RunID()
	n, _ := topo.Node(RouterNode("fw"))
	if want := PinDir + "/" + PinPrefix + id + "-" + n.Name; n.Pinned != want {
		t.Fatalf("pinned at %q, want %q", n.Pinned, want)
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	// Still there after Close: the table is readable through the pin.
	if _, err := os.Stat(n.Pinned); err != nil {
		t.Fatalf("pin gone after Close: %v", err)
	}
	removed, err := Clean(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(topo.Nodes()) {
		t.Fatalf("clean removed %d pins, want %d: %v", len(removed), len(topo.Nodes()), removed)
	}
}

func TestCloseIdempotent(t *testing.T) {
	topo := buildTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := topo.StartCommand(ctx, RouterNode("fw"), Command{Env: []string{helperEnv + "=agent"}})
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(a.Stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "ready") {
		t.Fatalf("agent: %q %v (stderr %q)", line, err, a.Stderr())
	}
	// The agent runs in the router's namespace.
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", a.Pid()))
	if err != nil || theirs == self {
		t.Fatalf("agent namespace %q (ours %q): %v", theirs, self, err)
	}
	// Closing stdin ends it cleanly.
	a.Stdin.Close()
	if err := a.Wait(); err != nil {
		t.Fatalf("agent exit: %v (stderr %q)", err, a.Stderr())
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	if err := topo.Do(SiteNode, func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
}

// TestAgentLifetime: ending the start context closes the agent's stdin and it exits on
// its own; Close kills an agent that is still running.
func TestAgentLifetime(t *testing.T) {
	topo := buildTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	a, err := topo.StartCommand(ctx, ClientNode("lan"), Command{Env: []string{helperEnv + "=agent"}, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(a.Stdout)
	if line, err := rd.ReadString('\n'); err != nil || !strings.Contains(line, "ready") {
		t.Fatalf("agent: %q %v", line, err)
	}
	cancel()
	// Exit status 0 after a cancel is reported as the context's error; a kill (the
	// grace period is a minute) would be a signal.
	if err := a.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("agent after cancel: %v, want a clean exit (context.Canceled)", err)
	}

	b, err := topo.StartCommand(context.Background(), MPNode("mp2"), Command{Env: []string{helperEnv + "=agent"}})
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(b.Stdout).ReadString('\n'); err != nil || !strings.Contains(line, "ready") {
		t.Fatalf("agent: %q %v", line, err)
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := b.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("agent after Close: %v, want killed", err)
	}
	if _, err := topo.Start(context.Background(), SiteNode, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestStaticNeighbors: after AddNeighbors, the router sends to a client address with
// the given MAC as Ethernet destination, without asking ARP.
func TestStaticNeighbors(t *testing.T) {
	topo := buildSpec(t, wakeSpec(), Options{})
	target := clientAddr(t, topo, "lan-a", 9)
	mac := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x09}
	if err := topo.AddNeighbors("ra", "lan-a", []netip.Addr{target}, []net.HardwareAddr{mac}); err != nil {
		t.Fatal(err)
	}
	// A NIC's view: every frame on the client segment's link.
	var tp *afpacket.TPacket
	if err := topo.Do(ClientNode("lan-a"), func() error {
		var err error
		tp, err = afpacket.NewTPacket(afpacket.OptInterface("eth0"), afpacket.OptBlockSize(1<<16), afpacket.OptNumBlocks(2), afpacket.OptBlockTimeout(5*time.Millisecond), afpacket.OptPollTimeout(100*time.Millisecond))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if err := topo.Do(SiteNode, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(target, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("magic"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, _, err := tp.ReadPacketData()
		if err != nil {
			continue
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if eth == nil {
			continue
		}
		if eth.EthernetType == layers.EthernetTypeARP {
			arp := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
			if net.IP(arp.DstProtAddress).Equal(net.IP(target.AsSlice())) {
				t.Fatalf("router asked ARP for %s despite the static entry", target)
			}
			continue
		}
		if ip != nil && ip.DstIP.Equal(net.IP(target.AsSlice())) {
			if eth.DstMAC.String() != mac.String() {
				t.Fatalf("frame to %s sent to MAC %s, want %s", target, eth.DstMAC, mac)
			}
			return
		}
	}
	t.Fatalf("no frame to %s seen on lan-a", target)
}

// A capability failure during the build (injected at a step) keeps its cause and the
// step, wraps ErrIncapable, and leaves nothing behind.
func TestBuildFaultIncapable(t *testing.T) {
	requireRoot(t)
	hostGuard(t)
	for _, step := range []string{"namespaces", "links", "firewall fw"} {
		_, err := Build(context.Background(), testSpec(), Options{Fault: func(s string) error {
			if s == step {
				return unix.EOPNOTSUPP // as the kernel answers for a missing feature
			}
			return nil
		}})
		if !errors.Is(err, ErrIncapable) || !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), step) {
			t.Errorf("fault at %s: %v; want ErrIncapable wrapping EOPNOTSUPP and naming the step", step, err)
		}
	}
	bad := testSpec()
	bad.Segments[0].Clients = pfx("10.0.0.0/16")
	if _, err := Build(context.Background(), bad, Options{}); !errors.Is(err, ErrSpec) || errors.Is(err, ErrIncapable) {
		t.Errorf("address outside the benchmark range: %v; want ErrSpec", err)
	}
}
