package netsim

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
)

// These tests need no privilege: the plan is pure.

func routesOf(p *plan, node string) []string {
	var out []string
	for _, r := range p.routes[p.byName[node]] {
		switch r.kind {
		case routeVia:
			out = append(out, fmt.Sprintf("%s via %s dev %s", r.dst, r.gw, r.dev))
		case routeLocal:
			out = append(out, fmt.Sprintf("local %s dev %s", r.dst, r.dev))
		case routeBroadcast:
			out = append(out, fmt.Sprintf("broadcast %s dev %s", r.dst, r.dev))
		}
	}
	sort.Strings(out)
	return out
}

func TestPlanSimple(t *testing.T) {
	spec := testSpec()
	p, err := makePlan(&spec)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range p.nodes {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, " "); got != "router-fw mp-mp1 mp-mp2 site client-lan client-lan2 switch-dc" {
		t.Errorf("nodes: %s", got)
	}
	// lan and lan2 are direct veths; dc's four members meet on switch-dc.
	if len(p.links) != 2+4 {
		t.Errorf("%d links", len(p.links))
	}
	fw := p.nodes[p.byName["router-fw"]]
	var ifs []string
	for _, i := range fw.Ifaces {
		ifs = append(ifs, i.Name+"="+i.Addr.String()+">"+i.Peer)
	}
	if got, want := strings.Join(ifs, " "), "lan=198.19.0.1/24>client-lan lan2=198.19.1.1/24>client-lan2 dc=198.19.2.1/24>switch-dc"; got != want {
		t.Errorf("router interfaces:\n got %s\nwant %s", got, want)
	}
	want := map[string][]string{
		"router-fw": {
			"198.18.0.0/17 via 198.19.0.2 dev lan",
			"198.18.128.0/20 via 198.19.1.2 dev lan2",
			"broadcast 198.18.127.255/32 dev lan",
			"broadcast 198.18.143.255/32 dev lan2",
		},
		"client-lan": {
			"198.18.128.0/20 via 198.19.0.1 dev eth0",
			"198.19.1.0/24 via 198.19.0.1 dev eth0",
			"198.19.2.0/24 via 198.19.0.1 dev eth0",
			"local 198.18.0.0/17 dev lo",
		},
		"mp-mp2": {
			"198.18.0.0/17 via 198.19.2.1 dev eth0",
			"198.18.128.0/20 via 198.19.2.1 dev eth0",
			"198.19.0.0/24 via 198.19.2.1 dev eth0",
			"198.19.1.0/24 via 198.19.2.1 dev eth0",
		},
		"switch-dc": nil,
	}
	for node, w := range want {
		if got := routesOf(p, node); strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s routes:\n%s\nwant:\n%s", node, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}

// A chain lan - r1 - mid - r2 - dc: two hops each way, and each router's routes point
// at the other for what lies beyond.
func TestPlanMultiHop(t *testing.T) {
	s := Spec{
		Segments: []Segment{
			{Name: "lan", Subnet: pfx("198.19.0.0/24"), Clients: pfx("198.18.16.0/20")},
			{Name: "mid", Subnet: pfx("198.19.1.0/24")},
			{Name: "dc", Subnet: pfx("198.19.2.0/24")},
		},
		Routers: []Router{{Name: "r1", Links: []string{"lan", "mid"}}, {Name: "r2", Links: []string{"mid", "dc"}}},
		MPs:     []Host{{Name: "mp1", Segment: "dc"}},
		Site:    &Host{Name: "site", Segment: "dc"},
	}
	p, err := makePlan(&s)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][]string{
		"router-r1": {
			"198.18.16.0/20 via 198.19.0.2 dev lan",
			"198.19.2.0/24 via 198.19.1.2 dev mid",
			"broadcast 198.18.31.255/32 dev lan",
		},
		"router-r2": {
			"198.18.16.0/20 via 198.19.1.1 dev mid",
			"198.19.0.0/24 via 198.19.1.1 dev mid",
		},
		"mp-mp1": {
			"198.18.16.0/20 via 198.19.2.1 dev eth0",
			"198.19.0.0/24 via 198.19.2.1 dev eth0",
			"198.19.1.0/24 via 198.19.2.1 dev eth0",
		},
	}
	for node, w := range checks {
		if got := routesOf(p, node); strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s routes:\n%s\nwant:\n%s", node, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}

func TestClientAddr(t *testing.T) {
	r := netip.MustParsePrefix("198.18.16.0/20")
	for _, c := range []struct {
		i    int
		want string
	}{{0, "198.18.16.1"}, {254, "198.18.16.255"}, {255, "198.18.17.0"}, {4093, "198.18.31.254"}, {4094, ""}, {-1, ""}} {
		a, ok := ClientAddr(r, c.i)
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != c.want {
			t.Errorf("ClientAddr(%s, %d) = %q, want %q", r, c.i, got, c.want)
		}
	}
	if got := BroadcastAddr(r); got.String() != "198.18.31.255" {
		t.Errorf("BroadcastAddr = %s", got)
	}
}

func TestCompileErrors(t *testing.T) {
	topo := &Topology{spec: testSpec()}
	for _, c := range []struct {
		rule Rule
		want string
	}{
		{Rule{Name: "x", Proto: ProtoICMP, Ports: PortRange{1, 1}, Action: Drop}, "port needs proto"},
		{Rule{Name: "x", From: "nowhere", Action: Drop}, "unknown node"},
		{Rule{Name: "default", Action: Drop}, "reserved"},
		{Rule{Name: "x", Action: "maybe"}, "unknown action"},
	} {
		_, err := topo.compile(Firewall{Rules: []Rule{c.rule}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.rule, err, c.want)
		}
	}
	// proto any with a port, from a segment with a client range: 2 protos x 2 prefixes.
	prog, err := topo.compile(Firewall{Rules: []Rule{{Name: "r", Ports: PortRange{80, 80}, From: "lan", Action: Reject}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != 4+1 {
		t.Errorf("%d kernel rules, want 5", len(prog))
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("hello "))
	b.Write([]byte("world"))
	if b.String() != "lo world" {
		t.Errorf("tail %q", b.String())
	}
	b.Write([]byte("0123456789"))
	if b.String() != "23456789" {
		t.Errorf("tail %q", b.String())
	}
}
