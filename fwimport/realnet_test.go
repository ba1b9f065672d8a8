package fwimport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/portlab/portlab/netsim"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// realNet is the lab of the differential test built by hand, for the real nft and
// iptables-restore: the namespaces, veth pairs, addresses and routes netsim.Nodes says
// netsim would build for the same spec, but no netsim firewall. Every namespace is
// anonymous and held only by this test's file descriptors, so it vanishes with them
// (or with the test process), whatever happens; nothing is ever created in, or run in,
// the host namespace.
type realNet struct {
	nodes map[string]netsim.Node
	ns    map[string]netns.NsHandle
	host  uint64 // inode of the host namespace, never to be entered
}

// requireRoot skips a test that needs root, saying why.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, nftables); run the fwimport tests as root")
	}
}

// requireTools skips a test when a command it drives is missing.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages nftables, iptables, util-linux: make test-tools installs them)", tool)
		}
	}
}

func nsInode(h netns.NsHandle) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// inNS runs fn on a fresh locked thread switched into ns, and back; a thread that
// cannot switch back is left locked, so the runtime destroys it rather than reuse it
// in the wrong namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore namespace: %w", err)) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// newNS creates an anonymous network namespace (unshare(CLONE_NEWNET) on a throwaway
// thread) and returns its handle; the calling goroutine's thread never moves.
func newNS() (netns.NsHandle, error) {
	type res struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- res{err: err}
			return
		}
		defer orig.Close()
		h, err := netns.New() // unshare: this thread is now inside h
		if err != nil {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			c <- res{err: err}
			return
		}
		if err := netns.Set(orig); err != nil {
			c <- res{h, fmt.Errorf("restore namespace: %w", err)} // thread dies locked
			return
		}
		runtime.UnlockOSThread()
		c <- res{h: h}
	}()
	r := <-c
	if r.err != nil && r.h.IsOpen() {
		r.h.Close()
	}
	return r.h, r.err
}

func writeSysctl(key, value string) error {
	return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0)
}

// buildRealNet builds spec's namespaces by hand. Addresses come from netsim.Nodes, so
// they are the ones netsim gives the same spec, all inside 198.18.0.0/15.
func buildRealNet(t *testing.T, spec netsim.Spec, hostIno uint64) *realNet {
	t.Helper()
	nodes, err := netsim.Nodes(spec)
	if err != nil {
		t.Fatal(err)
	}
	n := &realNet{nodes: map[string]netsim.Node{}, ns: map[string]netns.NsHandle{}, host: hostIno}
	t.Cleanup(n.close)
	bench := netsim.BenchmarkRange()
	for _, node := range nodes {
		if node.Kind == netsim.KindSwitch {
			t.Fatalf("node %s: the differential lab has no bridges", node.Name)
		}
		for _, ifc := range node.Ifaces {
			if !bench.Contains(ifc.Addr.Addr()) {
				t.Fatalf("node %s: address %s outside %s", node.Name, ifc.Addr, bench)
			}
		}
		h, err := newNS()
		if err != nil {
			t.Fatalf("namespace %s: %v", node.Name, err)
		}
		n.nodes[node.Name], n.ns[node.Name] = node, h
		if ino, err := nsInode(h); err != nil || ino == hostIno {
			t.Fatalf("namespace %s: not a fresh namespace (inode %d, host %d): %v", node.Name, ino, hostIno, err)
		}
		fwd := "0"
		if node.Kind == netsim.KindRouter {
			fwd = "1" // forwarding on in the router only
		}
		err = inNS(h, func() error {
			for _, kv := range [][2]string{
				{"net.ipv4.ip_forward", fwd},
				{"net.ipv4.conf.all.rp_filter", "0"}, {"net.ipv4.conf.default.rp_filter", "0"},
				{"net.ipv4.conf.all.arp_announce", "2"}, {"net.ipv4.conf.default.arp_announce", "2"},
			} {
				if err := writeSysctl(kv[0], kv[1]); err != nil {
					return fmt.Errorf("sysctl %s: %w", kv[0], err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("namespace %s: %v", node.Name, err)
		}
	}
	handles := map[string]*netlink.Handle{}
	for name, h := range n.ns {
		nh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
		if err != nil {
			t.Fatalf("netlink %s: %v", name, err)
		}
		defer nh.Close()
		handles[name] = nh
		lo, err := nh.LinkByName("lo")
		if err == nil {
			err = nh.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("%s: lo up: %v", name, err)
		}
	}
	up := func(node string, ifc netsim.Iface) {
		nh := handles[node]
		l, err := nh.LinkByName(ifc.Name)
		if err == nil {
			err = nh.AddrAdd(l, &netlink.Addr{IPNet: ipnet(ifc.Addr)})
		}
		if err == nil {
			err = nh.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("%s/%s: %v", node, ifc.Name, err)
		}
	}
	for _, node := range nodes {
		for _, ifc := range node.Ifaces {
			if node.Name > ifc.Peer {
				continue // the peer's side creates the pair
			}
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifc.Name}, PeerName: ifc.PeerIface,
				PeerNamespace: netlink.NsFd(int(n.ns[ifc.Peer]))}
			if err := handles[node.Name].LinkAdd(v); err != nil {
				t.Fatalf("veth %s/%s <-> %s/%s: %v", node.Name, ifc.Name, ifc.Peer, ifc.PeerIface, err)
			}
			up(node.Name, ifc)
			peer := n.nodes[ifc.Peer]
			pi, _ := peer.Iface(ifc.Segment)
			up(ifc.Peer, pi)
		}
	}
	// Routes: hosts go via the router on their segment; the router reaches each client
	// range via its client namespace's link address; client namespaces own their range
	// (AnyIP), as netsim does.
	for _, node := range nodes {
		nh := handles[node.Name]
		switch node.Kind {
		case netsim.KindRouter:
			for _, ifc := range node.Ifaces {
				peer := n.nodes[ifc.Peer]
				if peer.Kind != netsim.KindClient {
					continue
				}
				pi, _ := peer.Iface(ifc.Segment)
				l, _ := nh.LinkByName(ifc.Name)
				r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(peer.Clients), Gw: net.IP(pi.Addr.Addr().AsSlice())}
				if err := nh.RouteAdd(r); err != nil {
					t.Fatalf("%s: route %s: %v", node.Name, peer.Clients, err)
				}
			}
		default:
			ifc := node.Ifaces[0]
			router := n.nodes[ifc.Peer]
			ri, _ := router.Iface(ifc.Segment)
			l, _ := nh.LinkByName(ifc.Name)
			if err := nh.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(ri.Addr.Addr().AsSlice())}); err != nil {
				t.Fatalf("%s: default route: %v", node.Name, err)
			}
			if node.Kind == netsim.KindClient {
				lo, _ := nh.LinkByName("lo")
				r := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: ipnet(node.Clients), Table: unix.RT_TABLE_LOCAL,
					Type: unix.RTN_LOCAL, Scope: unix.RT_SCOPE_HOST}
				if err := nh.RouteAdd(r); err != nil {
					t.Fatalf("%s: AnyIP route %s: %v", node.Name, node.Clients, err)
				}
			}
		}
	}
	return n
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

func (n *realNet) Do(node string, fn func() error) error {
	h, ok := n.ns[node]
	if !ok {
		return fmt.Errorf("no node %s", node)
	}
	return inNS(h, fn)
}

func (n *realNet) close() {
	for k, h := range n.ns {
		h.Close()
		delete(n.ns, k)
	}
}

// run runs a command inside node's namespace with nsenter --net, naming the namespace
// by this process's file descriptor. The descriptor is checked first to be a namespace
// other than the host's, so a mistake can never reach the host's firewall.
func (n *realNet) run(node string, name string, args ...string) ([]byte, error) {
	h, ok := n.ns[node]
	if !ok {
		return nil, fmt.Errorf("no node %s", node)
	}
	ino, err := nsInode(h)
	if err != nil || ino == n.host {
		return nil, fmt.Errorf("refusing to run %s: namespace of %s is not a throwaway one (%v)", name, node, err)
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h))
	cmd := exec.Command("nsenter", append([]string{"--net=" + path, "--", name}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), node, err, errb.String())
	}
	return out.Bytes(), nil
}

// hostGuard snapshots what the test must never change in the host namespace (links,
// addresses, routes, the nftables tables and chains with their rule counts) and checks
// it again when the test ends. (Pinned namespaces are left out: this test never pins
// one, and netsim's --keep tests may pin theirs while it runs.)
func hostGuard(t *testing.T) {
	t.Helper()
	before, err := hostSnapshot()
	if err != nil {
		t.Fatalf("host snapshot: %v", err)
	}
	t.Cleanup(func() {
		after, err := hostSnapshot()
		if err != nil {
			t.Errorf("host snapshot: %v", err)
		} else if before != after {
			t.Errorf("the host namespace changed:\n%s", diffLines(before, after))
		}
	})
}

// diffLines lists the lines only in a (-) or only in b (+).
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	am, bm := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !bm[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !am[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

func hostSnapshot() (string, error) {
	var lines []string
	links, err := netlink.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		a := l.Attrs()
		lines = append(lines, fmt.Sprintf("link %d %s %s %v", a.Index, a.Name, l.Type(), a.Flags))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		lines = append(lines, fmt.Sprintf("addr %d %s", a.LinkIndex, a.IPNet))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		lines = append(lines, fmt.Sprintf("route %d %v %v %d", r.Table, r.Dst, r.Gw, r.LinkIndex))
	}
	nc, err := nftables.New()
	if err != nil {
		return "", err
	}
	chains, err := nc.ListChains()
	if err != nil {
		return "", err
	}
	for _, c := range chains {
		rules, err := nc.GetRules(c.Table, c)
		if err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprintf("nft %d %s %s %d rules", c.Table.Family, c.Table.Name, c.Name, len(rules)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}
