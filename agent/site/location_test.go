package site

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/portlab/portlab/agent/site/directory"
	"github.com/portlab/portlab/agent/site/sitedns"
)

func startTestLocation(t *testing.T) *LocationServer {
	t.Helper()
	any := netip.MustParseAddrPort("127.0.0.1:0")
	s, err := StartLocation(t.Context(), Location{Domain: "corp.example", SiteCode: "PS1", Secondaries: []string{"SS1"},
		LDAP: any, GC: any, DNS: any, HostAddr: netip.MustParseAddr("127.0.0.1"), PublishAD: true, PublishDNS: false,
		Ports: Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443},
		MPs:   []PublishedMP{{Name: "mp1", Site: "PS1", Addr: netip.MustParseAddr("127.0.0.11")}, {Name: "mp2", Site: "SS1", Addr: netip.MustParseAddr("127.0.0.12")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func lookupAD(t *testing.T, addr netip.AddrPort, site string) (directory.Result, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return directory.Lookup(t.Context(), c, "corp.example", site)
}

// The publication follows Publish: ports, AD DS on and off, DNS SRV records on and off;
// hand-made records stay and a later one with the same name and target replaces them.
func TestLocationServerPublish(t *testing.T) {
	s := startTestLocation(t)
	ldap, gc, dns := s.Addrs()
	for _, a := range []netip.AddrPort{ldap, gc} {
		r, err := lookupAD(t, a, "PS1")
		if err != nil || len(r.MPs) != 1 || r.MPs[0].FQDN != "mp1.corp.example" || r.Ports != (directory.Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}) {
			t.Fatalf("%s: %+v %v", a, r, err)
		}
	}
	if r, err := lookupAD(t, gc, "SS1"); err != nil || len(r.MPs) != 1 || r.MPs[0].Name != "MP2" || r.Ports.HTTP != 80 {
		t.Errorf("secondary site: %+v %v; want mp2 with the primary's ports", r, err)
	}
	// DNS publication off: no SRV record, but the MPs' A records.
	if _, err := sitedns.LookupMP(t.Context(), nil, dns, "PS1", "corp.example"); !errors.Is(err, sitedns.ErrNoSRV) {
		t.Errorf("SRV with DNS publication off: %v", err)
	}
	if err := s.Publish(PublishArgs{DNS: ptr(true), Ports: &Ports{HTTP: 8081, HTTPS: 443}}); err != nil {
		t.Fatal(err)
	}
	ts, err := sitedns.LookupMP(t.Context(), nil, dns, "PS1", "corp.example")
	if err != nil || len(ts) != 1 || ts[0].Port != 8081 || ts[0].Addr != netip.MustParseAddr("127.0.0.11") {
		t.Fatalf("SRV after publishing 8081: %+v %v", ts, err)
	}
	if r, err := lookupAD(t, gc, "PS1"); err != nil || r.Ports.HTTP != 8081 || r.Ports.HTTPAlternate != 0 {
		t.Errorf("AD DS after publishing 8081: %+v %v", r.Ports, err)
	}
	// AD DS off: the System Management container is gone.
	if err := s.Publish(PublishArgs{AD: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lookupAD(t, gc, "PS1"); !errors.Is(err, directory.ErrNotPublished) {
		t.Errorf("lookup with AD DS publication off: %v", err)
	}
	// A hand-made record beside the published one, then fixed by hand.
	for _, port := range []uint16{80, 8082} {
		if _, err := s.AddRecord(RecordArgs{Name: "_mssms_mp_ps1._tcp", Port: port, Target: "mp1"}); err != nil {
			t.Fatal(err)
		}
	}
	ts, err = sitedns.LookupMP(t.Context(), nil, dns, "PS1", "corp.example")
	ports := map[uint16]bool{}
	for _, x := range ts {
		ports[x.Port] = true
	}
	if err != nil || len(ts) != 2 || !ports[8081] || !ports[8082] {
		t.Errorf("SRV with a hand-made record replaced: %+v %v; want the published 8081 and the fixed 8082", ts, err)
	}
	st := s.Stats()
	if len(st.Records) != 1 || st.PublishAD || !st.PublishDNS || st.Publications != 2 || len(st.LDAP) != 2 {
		t.Errorf("stats %+v", st)
	}
	if _, err := s.AddRecord(RecordArgs{Name: "_mssms_mp_ps1._tcp", Port: 0, Target: "mp1"}); !errors.Is(err, ErrRecord) {
		t.Errorf("record without a port: %v", err)
	}
	if _, err := s.AddRecord(RecordArgs{Name: "x.other.example.", Port: 80, Target: "mp1"}); err == nil {
		t.Error("record outside the zone accepted")
	}
	if err := s.Publish(PublishArgs{Ports: &Ports{HTTP: 443, HTTPS: 443}}); err == nil {
		t.Error("HTTP and HTTPS on one port published")
	} else if st := s.Stats(); st.Ports.HTTP != 8081 {
		t.Errorf("a refused publication changed the ports: %+v", st.Ports)
	}
}

func ptr[T any](v T) *T { return &v }
