package directory

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestLookupReadsPublishedPorts(t *testing.T) {
	_, ldapAddr, gcAddr := startServer(t, testPublication())
	for _, addr := range []netip.AddrPort{ldapAddr, gcAddr} {
		res, err := lookup(t, addr, "corp.example", "ps1")
		if err != nil {
			t.Fatalf("%s: lookup: %v", addr, err)
		}
		if want := (Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}); res.Ports != want {
			t.Errorf("%s: ports %+v, want %+v", addr, res.Ports, want)
		}
		if len(res.MPs) != 2 {
			t.Fatalf("%s: %d MPs, want 2: %+v", addr, len(res.MPs), res.MPs)
		}
		m := res.MPs[0]
		if m.Name != "MP1" || m.FQDN != "mp1.corp.example" || !m.HTTPS || !m.Default || m.Version != DefaultVersion ||
			m.Addr != netip.MustParseAddr("198.18.1.10") || m.SiteCode != "PS1" {
			t.Errorf("%s: mp1 = %+v", addr, m)
		}
		if m := res.MPs[1]; m.Name != "MP2" || m.FQDN != "mp2.corp.example" || m.HTTPS || m.Default || m.Addr.IsValid() {
			t.Errorf("%s: mp2 = %+v", addr, m)
		}
		if res.SourceForest != "corp.example" || res.DomainDN != "DC=corp,DC=example" || res.SiteCode != "PS1" {
			t.Errorf("%s: result %+v", addr, res)
		}
	}
}

func TestLookupFollowsRepublication(t *testing.T) {
	s, addr, _ := startServer(t, testPublication())
	pub := testPublication()
	for i := range pub.MPs {
		pub.MPs[i].Ports.HTTP = 8081
	}
	if err := s.Publish(pub); err != nil {
		t.Fatal(err)
	}
	res, err := lookup(t, addr, "corp.example", "PS1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Ports.HTTP != 8081 {
		t.Errorf("after republication: HTTP port %d, want 8081", res.Ports.HTTP)
	}

	pub.Enabled = false
	if err := s.Publish(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(t, addr, "corp.example", "PS1"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("publication off: err %v, want ErrNotPublished", err)
	}
	pub.Enabled = true
	if err := s.Publish(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(t, addr, "corp.example", "PS1"); err != nil {
		t.Errorf("publication back on: %v", err)
	}
	st := s.Stats()[0]
	if st.NoSuchObject == 0 || st.Binds != 3 || st.Anonymous != 3 || st.RootDSE != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestLookupErrors(t *testing.T) {
	_, addr, _ := startServer(t, testPublication())
	for _, tc := range []struct {
		domain, site string
		want         error
	}{
		{"corp.example", "XYZ", ErrSiteNotFound},
		{"other.example", "PS1", ErrWrongDomain},
		{"bad_domain", "PS1", ErrInvalidName},
		{"corp.example", "P1", ErrInvalidName},
	} {
		if _, err := lookup(t, addr, tc.domain, tc.site); !errors.Is(err, tc.want) {
			t.Errorf("%s %s: err %v, want %v", tc.domain, tc.site, err, tc.want)
		}
	}
}

func TestDecodeMP(t *testing.T) {
	attrs := map[string]string{
		"mSSMSMPName": "MP9.CORP.EXAMPLE", "dNSHostName": "mp9.corp.example.", "mSSMSSiteCode": "ps1",
		"mSSMSDefaultMP": "true", "mSSMSVersion": "9141", "mSSMSMPAddress": "198.18.1.9",
		"mSSMSCapabilities": `<ClientOperationalSettings><SecurityConfiguration><SecurityModeMaskEx>3</SecurityModeMaskEx></SecurityConfiguration><IISPorts HTTP="81" HTTPS="8443"/></ClientOperationalSettings>`,
	}
	get := func(k string) string { return attrs[k] }
	m, err := decodeMP(get)
	if err != nil {
		t.Fatal(err)
	}
	want := LocatedMP{Name: "MP9", FQDN: "mp9.corp.example", SiteCode: "PS1", Addr: netip.MustParseAddr("198.18.1.9"),
		HTTPS: true, Default: true, Version: 9141, Ports: Ports{HTTP: 81, HTTPS: 8443}, HasPorts: true}
	if m != want {
		t.Errorf("decodeMP = %+v\nwant       %+v", m, want)
	}
	for k, v := range map[string]string{
		"mSSMSVersion":      "x",
		"mSSMSCapabilities": `<ClientOperationalSettings><IISPorts HTTP="0"/></ClientOperationalSettings>`,
		"dNSHostName":       "bad host",
	} {
		old := attrs[k]
		attrs[k] = v
		if _, err := decodeMP(get); err == nil {
			t.Errorf("%s=%q: no error", k, v)
		}
		attrs[k] = old
	}
}

// TestLookupDeadline: a directory that accepts and never answers costs the client its
// context's deadline, no more.
func TestLookupDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Lookup(ctx, dial(t, netip.MustParseAddrPort(ln.Addr().String())), "corp.example", "PS1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}
