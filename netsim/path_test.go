package netsim

import (
	"net/netip"
	"slices"
	"testing"
)

// RouterPath follows the routes Build installs: along the shortest path, ties to the
// router listed first, and the same routers both ways.
func TestRouterPath(t *testing.T) {
	pf := netip.MustParsePrefix
	// lan -- r1 -- mid -- r2 -- dc, and a second, equally long way lan -- r3 -- alt -- r4 -- dc
	// listed after it; a branch segment hangs off r2.
	s := Spec{
		Segments: []Segment{
			{Name: "lan", Subnet: pf("198.19.0.0/24"), Clients: pf("198.18.16.0/22")},
			{Name: "mid", Subnet: pf("198.19.1.0/24")},
			{Name: "dc", Subnet: pf("198.19.2.0/24")},
			{Name: "alt", Subnet: pf("198.19.3.0/24")},
			{Name: "branch", Subnet: pf("198.19.4.0/24"), Clients: pf("198.18.32.0/22")},
		},
		Routers: []Router{
			{Name: "r1", Links: []string{"lan", "mid"}},
			{Name: "r2", Links: []string{"mid", "dc", "branch"}},
			{Name: "r3", Links: []string{"lan", "alt"}},
			{Name: "r4", Links: []string{"alt", "dc"}},
		},
		MPs:  []Host{{Name: "mp1", Segment: "dc"}},
		Site: &Host{Name: SiteNode, Segment: "dc"},
	}
	nodes, err := Nodes(s)
	if err != nil {
		t.Fatal(err)
	}
	var mp netip.Addr
	for _, n := range nodes {
		if n.Name == MPNode("mp1") {
			mp = n.Ifaces[0].Addr.Addr()
		}
	}
	for _, c := range []struct {
		from string
		to   netip.Addr
		want []string
	}{
		{ClientNode("lan"), mp, []string{"r1", "r2"}},
		{ClientNode("branch"), mp, []string{"r2"}},
		{MPNode("mp1"), netip.MustParseAddr("198.18.16.77"), []string{"r2", "r1"}},
		{SiteNode, BroadcastAddr(pf("198.18.16.0/22")), []string{"r2", "r1"}},
		{SiteNode, BroadcastAddr(pf("198.18.32.0/22")), []string{"r2"}},
		{ClientNode("lan"), netip.MustParseAddr("198.18.32.5"), []string{"r1", "r2"}},
	} {
		got, err := RouterPath(s, c.from, c.to)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s -> %s: %v, %v; want %v", c.from, c.to, got, err, c.want)
		}
	}
	if _, err := RouterPath(s, "nope", mp); err == nil {
		t.Errorf("an unknown node has a path")
	}
}
