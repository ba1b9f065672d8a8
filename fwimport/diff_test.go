package fwimport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/scenarios"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The differential test: each ruleset of testdata/diff is applied with the real nft -f
// (and its iptables-save twin with the real iptables-restore) in a router namespace
// between host namespaces, and probed; then the real tool's own listing (nft -j list
// ruleset, iptables-save) is imported, merged into testdata/diff/lab.yaml, lowered
// with plan.Lower (so through plan's own firewall conversion) and built with
// netsim.Build, and probed the same way. Every probe must give the same verdict in
// both, and the one the case expects.
//
//	client-lan  (198.18.16.0/20) ──┐
//	client-internet (198.18.32.0/20) ──┤ router-edge ├── mp-srv (198.19.1.0/24)
//
// TCP probes connect (connected / timeout / refused); UDP probes send a datagram on
// a connected socket and wait for the echo (arrived / lost / refused: an ICMP error
// arrives as ECONNREFUSED). Timeouts are 300 ms and every probe of a case runs at
// once, so a case takes about a second.

const probeTimeout = 300 * time.Millisecond

// Listeners every host namespace has, so a refusal can only come from the firewall.
var (
	tcpPorts = []int{9, 22, 80, 443, 7999, 8000, 8080, 8443, 8999, 9000, 10123}
	udpPorts = []int{9, 53, 80, 5000, 5500, 6000}
)

type probe struct {
	from, to string // node names
	proto    string // tcp or udp
	port     int
	want     string // connected, timeout, refused (tcp); arrived, lost, refused (udp)
}

func (p probe) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", p.from, p.to, p.proto, p.port)
}

const (
	lan      = "client-lan"
	internet = "client-internet"
	srv      = "mp-srv"
)

type diffCase struct {
	name      string
	stateless bool // no leading ct rule: imported with --assume-stateful
	probes    []probe
}

var diffCases = []diffCase{
	{name: "drop-8443", probes: []probe{
		{lan, srv, "tcp", 8443, "timeout"},
		{lan, srv, "tcp", 443, "connected"},
		{internet, srv, "tcp", 8443, "connected"},
		{srv, lan, "tcp", 8443, "connected"},
	}},
	{name: "reject-80", probes: []probe{
		{lan, srv, "tcp", 80, "refused"},
		{lan, srv, "tcp", 443, "connected"},
		{internet, srv, "udp", 80, "refused"},
		{lan, srv, "udp", 53, "arrived"},
		{srv, internet, "tcp", 80, "refused"},
	}},
	{name: "only-443-from-internet", probes: []probe{
		{internet, srv, "tcp", 443, "connected"},
		{internet, srv, "tcp", 80, "timeout"},
		{internet, srv, "tcp", 8443, "timeout"},
		{internet, srv, "udp", 53, "lost"},
		{lan, srv, "tcp", 80, "connected"},
		{srv, internet, "tcp", 80, "connected"}, // the reply passes: stateful
	}},
	{name: "udp-9-drop", probes: []probe{
		{lan, srv, "udp", 9, "lost"},
		{lan, srv, "udp", 53, "arrived"},
		{lan, srv, "tcp", 9, "connected"},
		{srv, lan, "udp", 9, "lost"},
	}},
	{name: "port-ranges", probes: []probe{
		{lan, srv, "tcp", 8000, "refused"},
		{lan, srv, "tcp", 8080, "refused"},
		{lan, srv, "tcp", 8999, "refused"},
		{lan, srv, "tcp", 7999, "connected"},
		{lan, srv, "tcp", 9000, "connected"},
		{lan, srv, "tcp", 10123, "timeout"},
		{lan, srv, "udp", 5000, "refused"},
		{lan, srv, "udp", 5500, "refused"},
		{lan, srv, "udp", 6000, "arrived"},
	}},
	{name: "default-drop", probes: []probe{
		{lan, srv, "tcp", 80, "connected"},
		{lan, srv, "tcp", 443, "connected"},
		{lan, srv, "tcp", 8443, "connected"},
		{internet, srv, "tcp", 8443, "timeout"},
		{lan, srv, "tcp", 22, "timeout"},
		{lan, srv, "udp", 53, "arrived"},
		{lan, srv, "udp", 9, "lost"},
		{srv, lan, "tcp", 8443, "timeout"},
		{srv, lan, "tcp", 443, "connected"},
	}},
	{name: "order-matters", probes: []probe{
		{lan, srv, "tcp", 443, "connected"},
		{internet, srv, "tcp", 443, "timeout"},
		{srv, internet, "tcp", 443, "timeout"},
		{lan, srv, "tcp", 8443, "refused"},
		{srv, lan, "tcp", 8443, "timeout"},
		{lan, srv, "tcp", 8080, "timeout"},
		{internet, srv, "udp", 53, "refused"},
		{lan, srv, "udp", 53, "lost"},
		{lan, srv, "udp", 6000, "arrived"},
	}},
	{name: "sets-and-maps", probes: []probe{
		{lan, srv, "tcp", 8443, "timeout"},   // vmap: drop
		{lan, srv, "tcp", 8080, "connected"}, // vmap: accept (before the reject of 8000-8999)
		{lan, srv, "tcp", 8000, "refused"},   // vmap: continue, then the reject
		{lan, srv, "tcp", 8999, "refused"},
		{lan, srv, "udp", 53, "lost"}, // an address set: one rule per segment
		{internet, srv, "udp", 53, "lost"},
		{srv, lan, "udp", 53, "arrived"},
		{lan, srv, "udp", 5000, "lost"}, // l4proto { tcp, udp } th dport
		{lan, srv, "udp", 6000, "arrived"},
		{internet, srv, "tcp", 22, "connected"}, // return: the policy
		{lan, srv, "tcp", 22, "timeout"},
	}},
	{name: "stateless", stateless: true, probes: []probe{
		{lan, srv, "tcp", 80, "refused"},
		{internet, srv, "tcp", 8443, "timeout"},
		{lan, srv, "tcp", 8443, "connected"},
		{srv, internet, "tcp", 443, "connected"},
	}},
}

// prober is what the probes need of a network: netsim's Topology and realNet both.
type prober interface {
	Do(node string, fn func() error) error
}

// labAddrs are each host node's probe address: a client identity in a client
// namespace, the link address of the server.
func labAddrs(t *testing.T, spec netsim.Spec) map[string]netip.Addr {
	nodes, err := netsim.Nodes(spec)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]netip.Addr{}
	for _, n := range nodes {
		switch n.Kind {
		case netsim.KindClient:
			a, _ := netsim.ClientAddr(n.Clients, 9)
			out[n.Name] = a
		case netsim.KindMP:
			out[n.Name] = n.Ifaces[0].Addr.Addr()
		}
	}
	return out
}

// listen starts the TCP and UDP listeners of every host node on its probe address;
// they stop when the test ends.
func listen(t *testing.T, n prober, addrs map[string]netip.Addr) {
	var closers []func() error
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	for node, a := range addrs {
		err := n.Do(node, func() error {
			for _, p := range tcpPorts {
				l, err := net.Listen("tcp4", netip.AddrPortFrom(a, uint16(p)).String())
				if err != nil {
					return err
				}
				closers = append(closers, l.Close)
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						c.Close()
					}
				}()
			}
			for _, p := range udpPorts {
				c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p))))
				if err != nil {
					return err
				}
				closers = append(closers, c.Close)
				go func() {
					buf := make([]byte, 64)
					for {
						n, from, err := c.ReadFromUDPAddrPort(buf)
						if err != nil {
							return
						}
						c.WriteToUDPAddrPort(buf[:n], from)
					}
				}()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("listeners in %s: %v", node, err)
		}
	}
}

// waitLinksUp waits until every interface of every node is operationally up. The
// kernel brings a new veth's carrier up (and its queue with it) asynchronously, from a
// work queue; until then it drops what is sent. netsim.Build returns before that (see
// the report), and on a loaded machine the first probes were lost for more than their
// 300 ms.
func waitLinksUp(t *testing.T, n prober, nodes []netsim.Node) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var down []string
		for _, node := range nodes {
			n.Do(node.Name, func() error {
				for _, ifc := range node.Ifaces {
					l, err := netlink.LinkByName(ifc.Name)
					if err != nil || l.Attrs().OperState != netlink.OperUp {
						down = append(down, node.Name+"/"+ifc.Name)
					}
				}
				return nil
			})
		}
		if len(down) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("links still down after 5s: %v", down)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runProbes sends every probe at once and returns their verdicts in order.
func runProbes(n prober, addrs map[string]netip.Addr, ps []probe) []string {
	out := make([]string, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.Do(p.from, func() error {
				out[i] = probeOnce(addrs[p.from], netip.AddrPortFrom(addrs[p.to], uint16(p.port)), p.proto)
				return nil
			})
			if err != nil {
				out[i] = "error: " + err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}

func probeOnce(src netip.Addr, dst netip.AddrPort, proto string) string {
	if proto == "tcp" {
		d := netsim.DialerFrom(src)
		d.Timeout = probeTimeout
		c, err := d.Dial("tcp4", dst.String())
		switch {
		case err == nil:
			c.Close()
			return "connected"
		case errors.Is(err, syscall.ECONNREFUSED):
			return "refused"
		case isTimeout(err):
			return "timeout"
		}
		return "error: " + err.Error()
	}
	c, err := net.DialUDP("udp4", netsim.UDPFrom(src), net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	if _, err := c.Write([]byte("probe")); err != nil {
		return "error: " + err.Error()
	}
	c.SetReadDeadline(time.Now().Add(probeTimeout))
	buf := make([]byte, 64)
	_, err = c.Read(buf)
	switch {
	case err == nil:
		return "arrived"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case isTimeout(err):
		return "lost"
	}
	return "error: " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// labPlan lowers lab.yaml with the imported firewall merged into router edge; the
// site server is left out of the network (netsim would put a bridge on dc for it).
func labPlan(t *testing.T, im *Import) netsim.Spec {
	t.Helper()
	src, err := os.ReadFile("testdata/diff/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if im != nil {
		if src, err = Merge("lab.yaml", src, im); err != nil {
			t.Fatalf("merge: %v", err)
		}
	}
	s, err := scenarios.Parse("lab.yaml", src)
	if err != nil {
		t.Fatalf("merged lab: %v", err)
	}
	p, err := plan.Lower(s)
	if err != nil {
		t.Fatalf("lower: %v", err)
	}
	spec := p.Net
	spec.Site = nil
	return spec
}

func labMap(t *testing.T) []Mapping {
	data, err := os.ReadFile("testdata/diff/lab.map")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMapFile("lab.map", data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDifferentialAgainstRealTools(t *testing.T) {
	requireRoot(t)
	requireTools(t, "nft", "iptables-restore", "iptables-save", "nsenter")
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	hostIno, err := nsInode(host)
	host.Close()
	if err != nil {
		t.Fatal(err)
	}
	hostGuard(t)
	bare := labPlan(t, nil)
	addrs := labAddrs(t, bare)
	nodes, err := netsim.Nodes(bare)
	if err != nil {
		t.Fatal(err)
	}
	maps := labMap(t)
	start := time.Now()
	total := 0
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			for _, tool := range []string{"nft", "iptables"} {
				src, err := filepath.Abs(filepath.Join("testdata/diff", c.name+map[string]string{"nft": ".nft", "iptables": ".rules"}[tool]))
				if err != nil {
					t.Fatal(err)
				}
				// The real tool.
				real := buildRealNet(t, bare, hostIno)
				var listing []byte
				var im *Import
				opt := Options{File: tool + " listing of " + c.name, Map: maps, AssumeStateful: c.stateless}
				if tool == "nft" {
					if _, err := real.run("router-edge", "nft", "-f", src); err != nil {
						t.Fatal(err)
					}
					if listing, err = real.run("router-edge", "nft", "-j", "list", "ruleset"); err != nil {
						t.Fatal(err)
					}
					im, err = ImportNFT(listing, opt)
				} else {
					if _, err := real.run("router-edge", "iptables-restore", src); err != nil {
						t.Fatal(err)
					}
					if listing, err = real.run("router-edge", "iptables-save"); err != nil {
						t.Fatal(err)
					}
					im, err = ImportIPTables(listing, opt)
				}
				if err != nil {
					t.Fatalf("%s: import: %v", tool, err)
				}
				if err := im.Err(); err != nil {
					t.Fatalf("%s: import refused rules:\n%v\nlisting:\n%s", tool, err, listing)
				}
				listen(t, real, addrs)
				waitLinksUp(t, real, nodes)
				gotReal := runProbes(real, addrs, c.probes)
				real.close()

				// portlab's own firewall, from the translation.
				spec := labPlan(t, im)
				topo, err := netsim.Build(context.Background(), spec, netsim.Options{})
				if err != nil {
					t.Fatalf("netsim build: %v", err)
				}
				t.Cleanup(func() { topo.Close() })
				listen(t, topo, addrs)
				waitLinksUp(t, topo, topo.Nodes())
				gotLab := runProbes(topo, addrs, c.probes)
				topo.Close()

				var rows []string
				for i, p := range c.probes {
					total++
					mark := "ok"
					if gotReal[i] != gotLab[i] || gotReal[i] != p.want {
						mark = "MISMATCH"
						t.Errorf("%s: %v: real %s gives %s, portlab gives %s, want %s", tool, p, tool, gotReal[i], gotLab[i], p.want)
					}
					rows = append(rows, fmt.Sprintf("  %-40s real %-9s portlab %-9s %s", p, gotReal[i], gotLab[i], mark))
				}
				t.Logf("%s %s (%d portlab rules, default %s):\n%s", c.name, tool, len(im.Firewall.Rules), im.Firewall.Default, strings.Join(rows, "\n"))
			}
		})
	}
	t.Logf("%d probe pairs in %v", total, time.Since(start).Round(time.Millisecond))
}
