package directory

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// testPublication is one primary site PS1 with two MPs, one HTTPS capable and default,
// and a second site PS2 with one MP.
func testPublication() Publication {
	return Publication{
		Domain:  "corp.example",
		Enabled: true,
		Sites: []Site{
			{Code: "PS1", RoamingBoundaries: []string{"198.18.16.0"},
				BoundaryRanges: []IPRange{{netip.MustParseAddr("198.18.16.0"), netip.MustParseAddr("198.18.31.255")}}},
			{Code: "ps2"},
		},
		MPs: []MP{
			{FQDN: "mp1.corp.example", SiteCode: "PS1", Addr: netip.MustParseAddr("198.18.1.10"),
				Ports: Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}, HTTPS: true, Default: true,
				FSP: []string{"fsp1.corp.example"}},
			{FQDN: "MP2.corp.example", SiteCode: "PS1", Ports: Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}},
			{FQDN: "mp3.corp.example", SiteCode: "PS2", Ports: Ports{HTTP: 80}, Version: 9122},
		},
		SLPs: []SLP{{FQDN: "slp1.corp.example", SiteCode: "PS1"}},
	}
}

// startServer publishes pub and listens on one LDAP and one global catalog port.
func startServer(t testing.TB, pub Publication) (s *Server, ldapAddr, gcAddr netip.AddrPort) {
	t.Helper()
	s = New(Options{ConnLifetime: 5 * time.Second})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := s.Publish(pub); err != nil {
		t.Fatalf("publish: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if ldapAddr, err = s.Listen(ctx, loopback, LDAP); err != nil {
		t.Fatalf("listen ldap: %v", err)
	}
	if gcAddr, err = s.Listen(ctx, loopback, GlobalCatalog); err != nil {
		t.Fatalf("listen gc: %v", err)
	}
	return s, ldapAddr, gcAddr
}

func dial(t testing.TB, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

func lookup(t testing.TB, addr netip.AddrPort, domain, site string) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Lookup(ctx, dial(t, addr), domain, site)
}
