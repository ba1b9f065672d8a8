package netsim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Status is the outcome of one doctor check.
type Status string

// Check outcomes.
const (
	OK   Status = "ok"
	Warn Status = "warn" // works, with a limit worth knowing
	Fail Status = "fail" // a run needing this cannot work here
)

// Check is one capability portlab needs, as `portlab doctor` prints it.
type Check struct {
	Name   string
	Status Status
	Detail string
	// Hint says how to fix a warning or failure.
	Hint string
}

// WantNOFILE is the descriptor limit one portlab process wants by default: a fleet
// process of 10,000 clients holds a notification session each and, during cycles,
// request connections; an MP worker of 12,000 sessions as many. Larger segments and
// MPs are split over several processes (portlab run --clients-per-fleet,
// --sessions-per-worker), so a higher limit is never required, only fewer processes.
const WantNOFILE = 16384

// Doctor checks this machine: privilege (root, or user namespaces for a rootless run),
// network namespaces, veth, bridge, nftables, AF_PACKET and the descriptor limit,
// whose soft value it raises to the hard one in passing. Every probe runs in a
// throwaway namespace; the host namespace is not touched.
func Doctor(ctx context.Context) []Check {
	var out []Check
	priv := Check{Name: "privilege"}
	switch {
	case os.Geteuid() == 0 && Rootless():
		priv.Status, priv.Detail = OK, "rootless: root inside portlab's own user namespace"
	case os.Geteuid() == 0:
		priv.Status, priv.Detail = OK, "running as root"
	default:
		if err := userNSAvailable(); err != nil {
			priv.Status, priv.Detail = Fail, fmt.Sprintf("not root, and no user namespace: %v", err)
			priv.Hint = "run as root, or allow unprivileged user namespaces (sysctl user.max_user_namespaces>0; kernel.unprivileged_userns_clone=1 on Debian kernels; kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)"
		} else {
			priv.Status, priv.Detail = OK, "not root: portlab re-executes itself in a user + network namespace"
		}
	}
	out = append(out, priv)
	if priv.Status == Fail {
		for _, n := range []string{"netns", "veth", "bridge", "nftables", "af_packet"} {
			out = append(out, Check{Name: n, Status: Fail, Detail: "not checked: no privilege", Hint: priv.Hint})
		}
		return append(out, nofileCheck(0))
	}

	ns := Check{Name: "netns", Status: OK, Detail: "anonymous network namespaces, sysctls inside"}
	hs, err := newNamespaces(1, func(int) error { return writeSysctl("net.ipv4.ip_forward", "1") })
	if err != nil {
		ns.Status, ns.Detail = Fail, err.Error()
		ns.Hint = "the kernel needs CONFIG_NET_NS; in a container, run it privileged or with CAP_SYS_ADMIN and CAP_NET_ADMIN"
		out = append(out, ns)
		for _, n := range []string{"veth", "bridge", "nftables", "af_packet"} {
			out = append(out, Check{Name: n, Status: Fail, Detail: "not checked: no namespace", Hint: ns.Hint})
		}
		return append(out, nofileCheck(0))
	}
	probe := hs[0]
	defer probe.Close()
	out = append(out, ns)
	out = append(out, probeCheck("veth", "CONFIG_VETH (modprobe veth)", func() error {
		return linkProbe(probe, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"})
	}))
	out = append(out, probeCheck("bridge", "CONFIG_BRIDGE (modprobe bridge)", func() error {
		return linkProbe(probe, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probebr"}})
	}))
	out = append(out, probeCheck("nftables", "nf_tables with nft_ct, nft_reject_inet, nft_objref (modprobe nf_tables nft_reject_inet)", func() error {
		return nftProbe(probe)
	}))
	out = append(out, probeCheck("af_packet", "CONFIG_PACKET (modprobe af_packet); capture and wake-up need it", func() error {
		return inNS(probe, func() error {
			tp, err := afpacket.NewTPacket(afpacket.OptInterface("lo"), afpacket.OptBlockSize(1<<16), afpacket.OptNumBlocks(1), afpacket.OptPollTimeout(time.Millisecond))
			if err != nil {
				return err
			}
			tp.Close()
			return nil
		})
	}))
	if os.Geteuid() == 0 && !Rootless() {
		out = append(out, Check{Name: "keep", Status: OK, Detail: "namespaces can be pinned under " + PinDir})
	} else {
		out = append(out, Check{Name: "keep", Status: Warn, Detail: "rootless: --keep cannot pin namespaces", Hint: "run as root to inspect a topology after the run"})
	}
	return append(out, nofileCheck(0))
}

func probeCheck(name, hint string, fn func() error) Check {
	if err := fn(); err != nil {
		return Check{Name: name, Status: Fail, Detail: err.Error(), Hint: "the kernel needs " + hint}
	}
	return Check{Name: name, Status: OK, Detail: "works in a namespace"}
}

func linkProbe(ns netns.NsHandle, l netlink.Link) error {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.LinkAdd(l); err != nil {
		return fmt.Errorf("create %s: %w", l.Attrs().Name, err)
	}
	return h.LinkDel(l)
}

func nftProbe(ns netns.NsHandle) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return err
	}
	tbl := c.AddTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
	ch := c.AddChain(&nftables.Chain{Name: "forward", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	c.AddObj(&nftables.CounterObj{Table: tbl, Name: "probe"})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: "probe"},
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("table %s: %w", TableName, err)
	}
	c.DelTable(tbl)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("table %s: delete: %w", TableName, err)
	}
	return nil
}

// RaiseNOFILE lifts this process's descriptor limit toward want: the soft limit up to
// the hard one, and with CAP_SYS_RESOURCE (root) the hard one too, up to fs.nr_open.
// Agents started afterwards inherit it. It returns the limits now in force.
func RaiseNOFILE(want uint64) (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("rlimit nofile: %w", err)
	}
	if rl.Cur >= want {
		return rl.Cur, rl.Max, nil
	}
	if want > rl.Max {
		limit := want
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < limit {
				limit = n
			}
		}
		if limit > rl.Max {
			// syscall.Setrlimit, not x/sys: the runtime then stops restoring the
			// startup limit in child processes.
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit}) == nil {
				return limit, limit, nil
			}
		}
	}
	rl.Cur = min(want, rl.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return rl.Cur, rl.Max, fmt.Errorf("rlimit nofile: raise: %w", err)
	}
	return rl.Cur, rl.Max, nil
}

// nofileCheck raises the soft limit and judges it against want (0: WantNOFILE).
func nofileCheck(want uint64) Check {
	c := Check{Name: "nofile"}
	strict := want > 0
	if want == 0 {
		want = WantNOFILE
	}
	soft, hard, err := RaiseNOFILE(want)
	switch {
	case err != nil:
		c.Status, c.Detail = Warn, err.Error()
	case soft >= want:
		c.Status, c.Detail = OK, fmt.Sprintf("RLIMIT_NOFILE %d (hard %d)", soft, hard)
	default:
		c.Status = Warn
		if strict {
			c.Status = Fail
		}
		c.Detail = fmt.Sprintf("RLIMIT_NOFILE %d (hard %d), %d wanted", soft, hard, want)
	}
	if c.Status != OK {
		c.Hint = fmt.Sprintf("raise the hard limit: `ulimit -Hn %d` in the shell as root, LimitNOFILE= in a unit, nofile in /etc/security/limits.conf", want)
	}
	return c
}

// DoctorSpec adds the checks one scenario's network needs: descriptors for its largest
// agent process (wantFiles: sockets plus working set), and building (and tearing down
// at once) the network here. name labels the check.
func DoctorSpec(ctx context.Context, name string, spec Spec, wantFiles uint64) []Check {
	checks := Doctor(ctx)
	for _, c := range checks {
		if c.Status == Fail {
			return checks
		}
	}
	checks = append(checks[:len(checks)-1], nofileCheck(wantFiles))
	c := Check{Name: "scenario network"}
	start := time.Now()
	topo, err := Build(ctx, spec, Options{})
	if err == nil {
		err = topo.Close()
	}
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		c.Hint = "see the failing step; `portlab doctor` without --scenario checks the kernel features one by one"
	} else {
		c.Status, c.Detail = OK, fmt.Sprintf("%s: %d namespaces built and torn down in %v", name, len(topo.plan.nodes), time.Since(start).Round(time.Millisecond))
	}
	return append(checks, c)
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}
