package fleet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/metrics"
)

// closePort stops listening on one of the fake MP's ports.
func (m *fakeMP) closePort(port int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.ls[port]; l != nil {
		l.Close()
		delete(m.ls, port)
	}
}

// Service location over real LDAP and DNS on loopback: the site moves its HTTP port and
// republishes; a domain client reads the new port from AD DS (the global catalog), a
// workgroup client gives up on its MP after two failed attempts and finds the port in
// the SRV record, a client without a membership never learns it.
func TestLocationFollowsPublication(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of real lookups")
	}
	mp := newFakeMP(t, "mp1")
	oldPort := mp.open(0)
	loc := site.Location{Domain: "corp.example", SiteCode: "PS1",
		GC: netip.MustParseAddrPort("127.0.0.1:0"), DNS: netip.MustParseAddrPort("127.0.0.1:0"),
		PublishAD: true, PublishDNS: true, Ports: site.Ports{HTTP: uint16(oldPort), HTTPS: 443},
		MPs: []site.PublishedMP{{Name: "mp1", Site: "PS1", Addr: mp.ip}}}
	srv, err := site.StartLocation(t.Context(), loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, gc, dns := srv.Addrs()
	group := func(name, member string, retries int) Group {
		return Group{Name: name, Count: 3, Membership: member, PolicyInterval: Duration(200 * time.Millisecond),
			ConnectTimeout: Duration(300 * time.Millisecond), Retries: retries, KnowsAlternate: member == "domain",
			FailoverFailures: 2, FailoverWindow: Duration(5 * time.Second), LocationRefresh: Duration(time.Minute)}
	}
	site0 := SitePorts{HTTP: RequestPort{Default: oldPort}, HTTPS: RequestPort{Default: 443}}
	cfg := testConfig(mp, site0, 30*time.Second, group("dom", "domain", 0), group("wg", "workgroup", 0), group("none", "", 0))
	cfg.Location = &Location{GlobalCatalog: gc, DNS: dns}
	cfg.SiteCode, cfg.Domain = "PS1", "corp.example"
	f := startFleet(t, cfg, Options{})
	addrs := func(groups ...string) []netip.Addr {
		var out []netip.Addr
		for _, c := range f.clients {
			for _, g := range groups {
				if c.g.Name == g {
					out = append(out, c.addr)
				}
			}
		}
		return out
	}
	// Everyone is served on the old port first.
	waitHits := func(port int, who []netip.Addr, what string) {
		t.Helper()
		if !poll(15*time.Second, func() bool {
			h := mp.hitsOn(port)
			for _, a := range who {
				if h[a] == 0 {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("%s: not every client reached port %d (hits %v)", what, port, mp.hitsOn(port))
		}
	}
	waitHits(oldPort, addrs("dom", "wg", "none"), "before the change")
	// The site moves: it republishes first, then the MP's old port closes.
	newPort := mp.open(0)
	if err := srv.Publish(site.PublishArgs{Ports: &site.Ports{HTTP: uint16(newPort), HTTPS: 443}}); err != nil {
		t.Fatal(err)
	}
	site1 := site0
	site1.HTTP.Default = newPort
	f.SetSitePorts(site1)
	mp.closePort(oldPort)
	waitHits(newPort, addrs("dom", "wg"), "after the change")
	rep, err := f.Final()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dom": "ad", "wg": "dns", "none": LearnedNever}
	for _, c := range rep.Clients {
		if c.Learned != want[c.Group] {
			t.Errorf("client %d of %s: learned %q, want %q (port %d)", c.Index, c.Group, c.Learned, want[c.Group], c.HTTPPort)
		}
	}
	if n := mp.hitsOn(newPort); n[addrs("none")[0]] != 0 {
		t.Errorf("a client without a membership reached the new port %d times", n[addrs("none")[0]])
	}
	tot := f.Total()
	if tot.Counter(metrics.CLDAPQueries, "dom") == 0 || tot.Counter(metrics.CLDAPQueries, "wg") != 0 || tot.Counter(metrics.CLDAPQueries, "none") != 0 {
		t.Errorf("LDAP lookups dom %d wg %d none %d; want only the domain clients", tot.Counter(metrics.CLDAPQueries, "dom"),
			tot.Counter(metrics.CLDAPQueries, "wg"), tot.Counter(metrics.CLDAPQueries, "none"))
	}
	if tot.Counter(metrics.CDNSQueries, "wg") == 0 || tot.Counter(metrics.CFailovers, "wg") == 0 {
		t.Errorf("workgroup: %d DNS lookups, %d failovers; want both", tot.Counter(metrics.CDNSQueries, "wg"), tot.Counter(metrics.CFailovers, "wg"))
	}
	for _, g := range []string{"dom", "wg"} {
		if h := tot.Query(metrics.Key{Metric: metrics.FollowTime, Group: g}); h.TotalCount() != 3 {
			t.Errorf("%s: %d follow times, want 3", g, h.TotalCount())
		}
	}
	st := srv.Stats()
	if st.DNS.UDP.SRV == 0 || len(st.LDAP) != 1 || st.LDAP[0].SearchTotal() == 0 {
		t.Errorf("server side: %+v", st)
	}
}

// poll checks cond every 20ms until it holds or d passes.
func poll(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
