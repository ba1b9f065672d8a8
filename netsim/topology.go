package netsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/vishvananda/netns"
)

// Options tune Build.
type Options struct {
	// RunID names this run in pinned namespaces and capture files; empty: a random one.
	RunID string
	// Keep pins every namespace as /run/netns/portlab-<run>-<node> so it outlives the
	// run for `ip netns exec`; `portlab clean` removes them.
	Keep bool
	// CaptureDir, when set, receives one pcapng file per link.
	CaptureDir string
	// Log receives progress at debug level; nil: discard.
	Log *slog.Logger
	// Fault, when set, is called before each build step with the step's name
	// ("namespaces", "links", "firewall <router>", "pin", "capture"); a non-nil error
	// fails the build at that step as if the kernel had refused it. Tests use it to
	// prove that a machine failure (ErrIncapable) reaches the exit code.
	Fault func(step string) error
}

// Topology is a built network. Its namespaces live as long as the Topology holds their
// file descriptors (or an agent runs inside, or they are pinned).
type Topology struct {
	runID string
	log   *slog.Logger
	plan  *plan
	ns    []netns.NsHandle // per plan node
	spec  Spec

	mu       sync.Mutex
	agents   map[*Agent]struct{}
	fw       map[string]*firewall // router name -> its nftables state
	captures []*capture
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// ErrUnknownNode is returned for a node, router or segment name the topology lacks.
var ErrUnknownNode = errors.New("unknown node")

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("topology closed")

// NewRunID returns a fresh random run ID (8 hex digits).
func NewRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Build creates the spec's network: namespaces, veth pairs, bridges, addresses,
// routes, sysctls and firewalls, and (with Options.CaptureDir) starts the captures. On
// error everything built so far is torn down again. An error wraps ErrSpec when the
// spec cannot be built anywhere, and ErrIncapable when this machine lacks a privilege
// or kernel feature the step needed (the step and the kernel's error are kept too).
func Build(ctx context.Context, spec Spec, opt Options) (*Topology, error) {
	p, err := makePlan(&spec)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if opt.Keep && Rootless() {
		return nil, fmt.Errorf("%w: keep: pinning namespaces needs root (a rootless run cannot mount under %s)", ErrIncapable, PinDir)
	}
	if opt.RunID == "" {
		opt.RunID = NewRunID()
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Topology{
		runID:  opt.RunID,
		log:    opt.Log,
		plan:   p,
		spec:   spec,
		agents: map[*Agent]struct{}{},
		fw:     map[string]*firewall{},
	}
	if err := t.build(ctx, opt); err != nil {
		errs := []error{classify(err), t.Close()}
		for _, n := range p.nodes {
			if n.Pinned != "" {
				errs = append(errs, unpin(n.Pinned)) // a failed build keeps nothing
			}
		}
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func (t *Topology) build(ctx context.Context, opt Options) error {
	p := t.plan
	step := func(name string) error {
		t.log.Debug("netsim: step", "step", name)
		if opt.Fault != nil {
			if err := opt.Fault(name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return ctx.Err()
	}
	if err := step("namespaces"); err != nil {
		return err
	}
	v6 := ipv6Present()
	hs, err := newNamespaces(len(p.nodes), func(i int) error {
		return nodeSysctls(&p.nodes[i], p.bcast[i], v6)
	})
	if err != nil {
		return err
	}
	t.ns = hs
	if err := step("links"); err != nil {
		return err
	}
	if err := t.wire(ctx); err != nil {
		return err
	}
	for _, r := range t.spec.Routers {
		if r.Firewall == nil {
			continue
		}
		if err := step("firewall " + r.Name); err != nil {
			return err
		}
		if err := t.SetFirewall(r.Name, *r.Firewall); err != nil {
			return fmt.Errorf("router %s: %w", r.Name, err)
		}
	}
	if opt.Keep {
		if err := step("pin"); err != nil {
			return err
		}
		for i := range p.nodes {
			path, err := pin(t.ns[i], PinName(t.runID, p.nodes[i].Name))
			if err != nil {
				return err
			}
			p.nodes[i].Pinned = path
		}
	}
	if opt.CaptureDir != "" {
		if err := step("capture"); err != nil {
			return err
		}
		if err := t.startCaptures(opt.CaptureDir); err != nil {
			return err
		}
	}
	t.log.Debug("netsim: built", "run", t.runID, "namespaces", len(p.nodes), "links", len(p.links))
	return nil
}

// nodeSysctls runs inside the freshly created namespace of n, before any interface
// exists, so every interface inherits the "default" values written here. IPv4 settings
// of a new namespace are copied from the host's, so each one that matters is written.
func nodeSysctls(n *Node, bcast bool, v6 bool) error {
	set := [][2]string{}
	if v6 {
		// No link-local addresses, no DAD, no router solicitations.
		set = append(set,
			[2]string{"net.ipv6.conf.all.disable_ipv6", "1"},
			[2]string{"net.ipv6.conf.default.disable_ipv6", "1"})
	}
	fwd, bc := "0", "0"
	if n.Kind == KindRouter {
		fwd = "1"
		if bcast {
			bc = "1"
		}
	}
	set = append(set,
		[2]string{"net.ipv4.ip_forward", fwd},
		// bc_forwarding is ANDed: "all" and the input interface must both be 1.
		[2]string{"net.ipv4.conf.all.bc_forwarding", bc},
		[2]string{"net.ipv4.conf.default.bc_forwarding", bc},
		[2]string{"net.ipv4.conf.all.rp_filter", "0"},
		[2]string{"net.ipv4.conf.default.rp_filter", "0"},
	)
	if n.Kind == KindClient {
		// ARP for the gateway from the link address, not from whichever client
		// identity sent the packet: the router then learns one neighbour, not one per
		// client (the ARP table size is a host-wide limit).
		set = append(set,
			[2]string{"net.ipv4.conf.all.arp_announce", "2"},
			[2]string{"net.ipv4.conf.default.arp_announce", "2"})
	}
	for _, kv := range set {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			return fmt.Errorf("namespace %s: %w", n.Name, err)
		}
	}
	return nil
}

// RunID is this run's ID, as used in pinned namespace names.
func (t *Topology) RunID() string { return t.runID }

// Nodes returns every namespace of the topology in creation order (copies).
func (t *Topology) Nodes() []Node {
	out := make([]Node, len(t.plan.nodes))
	copy(out, t.plan.nodes)
	return out
}

// Node returns one namespace by name.
func (t *Topology) Node(name string) (Node, bool) {
	i, ok := t.plan.byName[name]
	if !ok {
		return Node{}, false
	}
	return t.plan.nodes[i], true
}

// Addr is the address of node on segment, or the node's only address when segment is
// empty.
func (t *Topology) Addr(node, segment string) (netip.Addr, error) {
	n, ok := t.Node(node)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	for _, i := range n.Ifaces {
		if (segment == "" || i.Segment == segment) && i.Addr.IsValid() {
			return i.Addr.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s: no address on segment %q", node, segment)
}

// NS returns the handle of a node's namespace. It stays owned by the Topology: do not
// close it, and do not use it after Close.
func (t *Topology) NS(node string) (netns.NsHandle, error) {
	i, ok := t.plan.byName[node]
	if !ok {
		return netns.None(), fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return netns.None(), ErrClosed
	}
	return t.ns[i], nil
}

// Do runs fn inside a node's namespace on a locked OS thread. Sockets fn creates stay
// in that namespace after fn returns. If the thread cannot be switched back it is
// discarded, never reused.
func (t *Topology) Do(node string, fn func() error) error {
	h, err := t.NS(node)
	if err != nil {
		return err
	}
	if err := inNS(h, fn); err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	return nil
}

// Close stops captures and agents still running and releases every namespace: with
// no other holder, the kernel removes them with their links and nftables tables.
// Pinned namespaces (Options.Keep) stay until `portlab clean`. Close is idempotent.
func (t *Topology) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		agents := make([]*Agent, 0, len(t.agents))
		for a := range t.agents {
			agents = append(agents, a)
		}
		caps := t.captures
		t.captures = nil
		t.mu.Unlock()

		var errs []error
		for _, a := range agents {
			a.Kill()
			a.Wait() // its exit status is the caller's business, not Close's
		}
		for _, c := range caps {
			if err := c.close(); err != nil {
				errs = append(errs, err)
			}
		}
		for i, h := range t.ns {
			if err := h.Close(); err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: close: %w", t.plan.nodes[i].Name, err))
			}
		}
		t.ns = nil
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// captureName is the file name of one link's capture.
func captureName(dir, segment, node string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s.pcapng", segment, node))
}

// ensureDir creates dir for captures.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("capture dir %s: %w", dir, err)
	}
	return nil
}
