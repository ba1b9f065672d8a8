package netsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// helperEnv selects a helper mode when the test binary re-executes itself.
const helperEnv = "PORTLAB_NETSIM_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "agent":
		helperAgent()
	case "hold":
		helperHold()
	case "rootless":
		helperRootless()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperAgent behaves as an agent must: it says it is ready, then exits when stdin
// closes.
func helperAgent() {
	fmt.Println(`{"ready":true}`)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// holdReport is what the "hold" helper prints once its topology and agent are up.
type holdReport struct {
	AgentPid int      `json:"agent_pid"`
	NSInodes []uint64 `json:"ns_inodes"`
}

// helperHold builds the test topology with an agent inside and waits to be killed.
func helperHold() {
	topo, err := Build(context.Background(), testSpec(), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	a, err := topo.StartCommand(context.Background(), MPNode("mp1"), Command{Env: []string{helperEnv + "=agent"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
	buf := make([]byte, 64)
	if _, err := a.Stdout.Read(buf); err != nil {
		fmt.Fprintln(os.Stderr, "agent ready:", err)
		os.Exit(1)
	}
	rep := holdReport{AgentPid: a.Pid()}
	for _, n := range topo.Nodes() {
		h, _ := topo.NS(n.Name)
		var st unix.Stat_t
		if err := unix.Fstat(int(h), &st); err != nil {
			fmt.Fprintln(os.Stderr, "fstat:", err)
			os.Exit(1)
		}
		rep.NSInodes = append(rep.NSInodes, st.Ino)
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	select {} // until SIGKILL
}

// requireRoot skips a test that needs root, saying why.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, nftables); run the netsim tests as root")
	}
}

// hostGuard snapshots the host namespace now and checks, when the test ends (after
// every other cleanup), that it is unchanged.
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
			return
		}
		if before != after {
			t.Errorf("host namespace changed:\n%s", diffLines(before, after))
		}
	})
}

// hostSnapshot renders what portlab must never change in the host namespace: links,
// addresses, routes of every table, policy rules, the nftables ruleset (tables, chains,
// rule counts), the sysctls portlab writes in its own namespaces, and pinned
// namespaces. Counters and timers are left out.
func hostSnapshot() (string, error) {
	var b strings.Builder
	links, err := netlink.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		a := l.Attrs()
		fmt.Fprintf(&b, "link %d %s %s mtu %d master %d %s flags %v\n", a.Index, a.Name, l.Type(), a.MTU, a.MasterIndex, a.HardwareAddr, a.Flags)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	var as []string
	for _, a := range addrs {
		as = append(as, fmt.Sprintf("addr %d %s", a.LinkIndex, a.IPNet))
	}
	sort.Strings(as)
	b.WriteString(strings.Join(as, "\n") + "\n")
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	var rs []string
	for _, r := range routes {
		rs = append(rs, fmt.Sprintf("route table %d type %d dst %v gw %v dev %d src %v", r.Table, r.Type, r.Dst, r.Gw, r.LinkIndex, r.Src))
	}
	sort.Strings(rs)
	b.WriteString(strings.Join(rs, "\n") + "\n")
	rules, err := netlink.RuleList(netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "rule %d table %d\n", r.Priority, r.Table)
	}
	nc, err := nftables.New()
	if err != nil {
		return "", err
	}
	tables, err := nc.ListTables()
	if err != nil {
		return "", fmt.Errorf("nft list tables: %w", err)
	}
	for _, tb := range tables {
		fmt.Fprintf(&b, "nft table %d %s\n", tb.Family, tb.Name)
	}
	chains, err := nc.ListChains()
	if err != nil {
		return "", fmt.Errorf("nft list chains: %w", err)
	}
	for _, c := range chains {
		rules, err := nc.GetRules(c.Table, c)
		if err != nil {
			return "", fmt.Errorf("nft rules %s/%s: %w", c.Table.Name, c.Name, err)
		}
		fmt.Fprintf(&b, "nft chain %s %s rules %d\n", c.Table.Name, c.Name, len(rules))
	}
	for _, k := range touchedSysctls {
		v, err := readSysctl(k)
		if err != nil && !strings.Contains(k, "ipv6") {
			return "", err
		}
		fmt.Fprintf(&b, "sysctl %s=%s\n", k, v)
	}
	pinned, err := Pinned()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "pinned %v\n", pinned)
	return b.String(), nil
}

var touchedSysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv4.conf.all.forwarding", "net.ipv4.conf.default.forwarding",
	"net.ipv4.conf.all.bc_forwarding", "net.ipv4.conf.default.bc_forwarding",
	"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter",
	"net.ipv4.conf.all.arp_announce", "net.ipv4.conf.default.arp_announce",
	"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6",
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(l []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	am, bm := in(al), in(bl)
	var out []string
	for _, s := range al {
		if !bm[s] {
			out = append(out, "- "+s)
		}
	}
	for _, s := range bl {
		if !am[s] {
			out = append(out, "+ "+s)
		}
	}
	return strings.Join(out, "\n")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %s", what, d, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
