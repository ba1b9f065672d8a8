package netsim

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Spec is the network netsim builds: segments, the routers (and firewalls) joining them,
// and the hosts on them. It is netsim's own description, independent of any scenario
// format: the plan package lowers a scenario into it. Every address must lie inside
// BenchmarkRange (198.18.0.0/15); Build refuses anything else.
type Spec struct {
	// Segments in order; their order decides interface MACs and tie-breaking of routes.
	Segments []Segment `json:"segments"`
	// Routers in order; ties between equally short routes go to the router listed first.
	Routers []Router `json:"routers,omitempty"`
	// MPs are the management points' hosts, one namespace each (MPNode).
	MPs []Host `json:"mps,omitempty"`
	// Site is the site server's host (SiteNode); nil: no site server.
	Site *Host `json:"site,omitempty"`
}

// Segment is one subnet. A segment with Clients is a client segment: it gets a client
// namespace whose lo routes the whole range (AnyIP), one address per simulated client.
type Segment struct {
	Name string `json:"name"`
	// Subnet of the segment's links: routers, hosts and the client namespace get
	// addresses here in that order (.1, .2, ...).
	Subnet netip.Prefix `json:"subnet"`
	// Clients is the client identity range (invalid: not a client segment). It must lie
	// outside every subnet, so the gateway is never inside it.
	Clients netip.Prefix `json:"clients,omitzero"`
}

// Router joins two or more segments and forwards between them.
type Router struct {
	Name  string   `json:"name"`
	Links []string `json:"links"` // segment names
	// DirectedBroadcast sets bc_forwarding=1: subnet-directed broadcasts are forwarded.
	DirectedBroadcast bool `json:"directed_broadcast,omitempty"`
	// Firewall filters forwarded traffic (nil: forward everything).
	Firewall *Firewall `json:"firewall,omitempty"`
}

// Host is a named machine with one interface on one segment.
type Host struct {
	Name    string `json:"name"`
	Segment string `json:"segment"`
}

// Firewall is an ordered rule list; the first match wins, otherwise Default.
type Firewall struct {
	Default Action `json:"default"`
	Rules   []Rule `json:"rules,omitempty"`
}

// Rule is one firewall rule. Empty match fields match everything.
type Rule struct {
	// Name of the rule's counter (unique within the firewall; "default" is reserved).
	Name string `json:"name"`
	// Proto is tcp, udp, icmp or any ("" = any).
	Proto Proto `json:"proto,omitempty"`
	// Ports is the destination port range (tcp and udp only); zero: any port.
	Ports PortRange `json:"ports,omitzero"`
	// From and To name segments: the source and destination lie in the segment's subnet
	// or client range. Empty: any.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Action decides what happens to a matching new connection.
	Action Action `json:"action"`
}

// Action is what a firewall does with a packet.
type Action string

// Firewall actions.
const (
	Accept Action = "accept"
	Drop   Action = "drop"   // discarded: the client sees a connect timeout
	Reject Action = "reject" // TCP reset or ICMP port unreachable: seen at once
)

// Proto is the IP protocol a rule matches.
type Proto string

// Protocols.
const (
	ProtoAny  Proto = "any"
	ProtoTCP  Proto = "tcp"
	ProtoUDP  Proto = "udp"
	ProtoICMP Proto = "icmp"
)

// PortRange is an inclusive destination port range; Lo 0 means any port.
type PortRange struct {
	Lo uint16 `json:"lo"`
	Hi uint16 `json:"hi"`
}

// IsZero reports "any port".
func (r PortRange) IsZero() bool { return r.Lo == 0 }

func (r PortRange) String() string {
	if r.Hi == 0 || r.Hi == r.Lo {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// benchmarkRange is the only address space netsim ever configures (RFC 2544). The
// scenario loader refuses other addresses too; netsim checks again because it is the
// last step before the kernel.
var benchmarkRange = netip.MustParsePrefix("198.18.0.0/15")

// BenchmarkRange returns 198.18.0.0/15.
func BenchmarkRange() netip.Prefix { return benchmarkRange }

// ErrIncapable marks a failure of this machine rather than of the spec: a missing
// privilege or kernel feature (network namespaces, veth, nftables, AF_PACKET).
// `portlab doctor` says which; the CLI exits 3 on it.
var ErrIncapable = errors.New("this machine cannot build the network")

// ErrSpec marks a spec netsim cannot build (unknown names, addresses outside
// BenchmarkRange, a subnet too small): invalid input, not a machine problem.
var ErrSpec = errors.New("invalid network spec")

// classify marks a build error caused by the machine (a missing privilege or kernel
// feature) with ErrIncapable, keeping the step and the kernel's error in the chain.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrIncapable) || errors.Is(err, ErrSpec) {
		return err
	}
	for _, e := range []error{unix.EPERM, unix.EACCES, unix.EOPNOTSUPP, unix.EPROTONOSUPPORT,
		unix.EAFNOSUPPORT, unix.ENOSYS, unix.ENODEV} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrIncapable, err)
		}
	}
	return err
}

// Nodes returns the namespaces Build would make for spec, with their interfaces and
// addresses, computed without any syscall: the plan package reads the MPs' and the
// site's addresses from it before anything is built.
func Nodes(spec Spec) ([]Node, error) {
	p, err := makePlan(&spec)
	if err != nil {
		return nil, err
	}
	return p.nodes, nil
}
