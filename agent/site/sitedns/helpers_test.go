package sitedns

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

func testZone() Zone {
	return Zone{
		Domain: "corp.example",
		NSAddr: netip.MustParseAddr("198.18.1.2"),
		MPs: []MP{
			{FQDN: "mp1.corp.example", Addr: netip.MustParseAddr("198.18.1.10"), SiteCode: "PS1", HTTPPort: 80, HTTPSPort: 443, HTTPS: true},
			{FQDN: "MP2.corp.example.", Addr: netip.MustParseAddr("198.18.1.11"), SiteCode: "ps1", HTTPPort: 80, HTTPSPort: 443},
			{FQDN: "mp3.corp.example", Addr: netip.MustParseAddr("198.18.2.10"), SiteCode: "PS2", HTTPPort: 8080},
			{FQDN: "cmg.corp.example", Addr: netip.MustParseAddr("198.18.3.10"), SiteCode: "PS1", HTTPSPort: 443, HTTPS: true, Internet: true},
		},
		Hosts: []Host{{Name: "site.corp.example", Addr: netip.MustParseAddr("198.18.1.3")}},
	}
}

func startServer(t testing.TB, z Zone) (*Server, netip.AddrPort) {
	t.Helper()
	s := New(Options{})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := s.Publish(z); err != nil {
		t.Fatalf("publish: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := s.Listen(ctx, loopback)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return s, addr
}

func lookupMP(t testing.TB, server netip.AddrPort, site string) ([]Target, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return LookupMP(ctx, SourceDialer(netip.MustParseAddr("127.0.0.1")), server, site, "corp.example")
}
