package sitedns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, network string, server netip.AddrPort, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	r, _, err := c.Exchange(q, server.String())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

func srvPorts(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
	}
	slices.Sort(out)
	return out
}

func TestAnswers(t *testing.T) {
	s, addr := startServer(t, testZone())
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, network, addr, "_mssms_mp_ps1._tcp.corp.example", dns.TypeSRV, 0)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("%s SRV: %v", network, r)
		}
		if got, want := srvPorts(r), []string{"mp1.corp.example.:443", "mp2.corp.example.:80"}; !slices.Equal(got, want) {
			t.Errorf("%s SRV: %v, want %v", network, got, want)
		}
		for _, rr := range r.Answer {
			if srv := rr.(*dns.SRV); srv.Hdr.Ttl != SRVTTL || srv.Priority != SRVPriority || srv.Weight != SRVWeight {
				t.Errorf("%s SRV: %v", network, srv)
			}
		}
		var extra []string
		for _, rr := range r.Extra {
			if a, ok := rr.(*dns.A); ok {
				extra = append(extra, a.Hdr.Name+"="+a.A.String())
			}
		}
		slices.Sort(extra)
		if want := []string{"mp1.corp.example.=198.18.1.10", "mp2.corp.example.=198.18.1.11"}; !slices.Equal(extra, want) {
			t.Errorf("%s SRV additional: %v, want %v", network, extra, want)
		}
	}
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer int
	}{
		{"_mssms_mp_ps2._tcp.corp.example", dns.TypeSRV, dns.RcodeSuccess, 1},
		{"_MSSMS_MP_PS2._TCP.CORP.EXAMPLE", dns.TypeSRV, dns.RcodeSuccess, 1},
		{"mp1.corp.example", dns.TypeA, dns.RcodeSuccess, 1},
		{"cmg.corp.example", dns.TypeA, dns.RcodeSuccess, 1},
		{"site.corp.example", dns.TypeA, dns.RcodeSuccess, 1},
		{"mp1.corp.example", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"corp.example", dns.TypeSOA, dns.RcodeSuccess, 1},
		{"corp.example", dns.TypeNS, dns.RcodeSuccess, 1},
		{"corp.example", dns.TypeANY, dns.RcodeSuccess, 2},
		{"ns1.corp.example", dns.TypeA, dns.RcodeSuccess, 1},
		{"_tcp.corp.example", dns.TypeSRV, dns.RcodeSuccess, 0}, // an empty non-terminal
		{"_mssms_mp_ps9._tcp.corp.example", dns.TypeSRV, dns.RcodeNameError, 0},
		{"nope.corp.example", dns.TypeA, dns.RcodeNameError, 0},
		{"www.other.example", dns.TypeA, dns.RcodeRefused, 0},
		{"example", dns.TypeSOA, dns.RcodeRefused, 0},
	} {
		r := ask(t, "udp", addr, tc.name, tc.qtype, 0)
		if r.Rcode != tc.rcode || len(r.Answer) != tc.answer {
			t.Errorf("%s %s: rcode %s, %d answers; want %s, %d", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode], tc.answer)
		}
		if (tc.rcode == dns.RcodeNameError || tc.rcode == dns.RcodeSuccess && tc.answer == 0) &&
			(len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s %s: authority %v, want the SOA", tc.name, dns.TypeToString[tc.qtype], r.Ns)
		}
	}
	st := s.Stats()
	if st.TCP.SRV != 1 || st.TCP.Answers != 1 || st.UDP.NXDomain != 2 || st.UDP.Refused != 2 || st.UDP.NoData != 2 ||
		st.UDP.SRV != 5 || st.UDP.A != 6 || st.UDP.AAAA != 1 || st.UDP.ANY != 1 || st.UDP.Queries != 16 {
		t.Errorf("stats %+v", st)
	}
}

func TestTruncationAndTCPFallback(t *testing.T) {
	z := testZone()
	for i := range 30 {
		z.MPs = append(z.MPs, MP{FQDN: fmt.Sprintf("mp-extra-%02d.corp.example", i),
			Addr: netip.AddrFrom4([4]byte{198, 18, 4, byte(i)}), SiteCode: "PS3", HTTPPort: 8081})
	}
	s, addr := startServer(t, z)
	r := ask(t, "udp", addr, "_mssms_mp_ps3._tcp.corp.example", dns.TypeSRV, 0)
	r.Compress = true // as it came: Len counts the compressed size
	if !r.Truncated || r.Len() > dns.MinMsgSize {
		t.Errorf("udp: truncated %v, %d bytes", r.Truncated, r.Len())
	}
	r = ask(t, "udp", addr, "_mssms_mp_ps3._tcp.corp.example", dns.TypeSRV, 4096)
	r.Compress = true
	if !r.Truncated || r.Len() > MaxUDPSize {
		t.Errorf("udp edns 4096: truncated %v, %d bytes, want at most %d", r.Truncated, r.Len(), MaxUDPSize)
	}
	if r := ask(t, "tcp", addr, "_mssms_mp_ps3._tcp.corp.example", dns.TypeSRV, 0); r.Truncated || len(r.Answer) != 30 || len(r.Extra) != 30 {
		t.Errorf("tcp: truncated %v, %d answers, %d additional", r.Truncated, len(r.Answer), len(r.Extra))
	}
	targets, err := lookupMP(t, addr, "PS3")
	if err != nil || len(targets) != 30 {
		t.Fatalf("lookup: %d targets, %v", len(targets), err)
	}
	for _, tg := range targets {
		if tg.Port != 8081 || !tg.Addr.Is4() || !strings.HasPrefix(tg.FQDN, "mp-extra-") {
			t.Errorf("target %+v", tg)
		}
	}
	if st := s.Stats(); st.UDP.Truncated < 3 || st.TCP.Queries < 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestStaticRecordsSurviveRepublication(t *testing.T) {
	s, addr := startServer(t, testZone())
	if err := s.AddStatic("_mssms_mp_ps1._tcp 14400 IN SRV 0 0 80 mp1", "old-mp.corp.example. 3600 IN A 198.18.9.9",
		"_mssms_mp_ps4._tcp.corp.example. 14400 IN SRV 0 0 80 old-mp.corp.example."); err != nil {
		t.Fatal(err)
	}
	z := testZone()
	z.MPs[0].HTTPSPort = 8443 // the site moves HTTPS
	if err := s.Publish(z); err != nil {
		t.Fatal(err)
	}
	r := ask(t, "udp", addr, "_mssms_mp_ps1._tcp.corp.example", dns.TypeSRV, 0)
	if got, want := srvPorts(r), []string{"mp1.corp.example.:80", "mp1.corp.example.:8443", "mp2.corp.example.:80"}; !slices.Equal(got, want) {
		t.Errorf("after republication: %v, want %v (the hand-made :80 record stays)", got, want)
	}
	targets, err := lookupMP(t, addr, "PS4")
	if err != nil || len(targets) != 1 || targets[0] != (Target{FQDN: "old-mp.corp.example", Port: 80, Addr: netip.MustParseAddr("198.18.9.9")}) {
		t.Errorf("stale site: %+v, %v", targets, err)
	}
	if n, err := s.RemoveStatic("_mssms_mp_ps1._tcp.corp.example. 1 IN SRV 0 0 80 mp1.corp.example."); err != nil || n != 1 {
		t.Errorf("remove: %d, %v", n, err)
	}
	if got := s.Static(); len(got) != 2 {
		t.Errorf("static after remove: %q", got)
	}
	r = ask(t, "udp", addr, "_mssms_mp_ps1._tcp.corp.example", dns.TypeSRV, 0)
	if got, want := srvPorts(r), []string{"mp1.corp.example.:8443", "mp2.corp.example.:80"}; !slices.Equal(got, want) {
		t.Errorf("after remove: %v, want %v", got, want)
	}
	for _, bad := range []string{
		"www.other.example. 60 IN A 198.18.1.1",
		"x 60 CH TXT hello",
		"corp.example. 60 IN SOA a. b. 1 2 3 4 5",
		"x IN A not-an-address",
		"",
		"a 60 IN A 198.18.0.1\nb 60 IN A 198.18.0.2",
		strings.Repeat("a", 2000),
	} {
		if err := s.AddStatic(bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("AddStatic(%.30q): %v", bad, err)
		}
	}
	z.Domain = "other.example"
	for i := range z.MPs {
		z.MPs[i].FQDN = strings.Replace(z.MPs[i].FQDN, "corp.example", "other.example", 1)
	}
	z.Hosts = nil
	if err := s.Publish(z); !errors.Is(err, ErrInvalidZone) {
		t.Errorf("moving the zone away from hand-made records: %v", err)
	}
}

func TestPublishValidation(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if err := s.AddStatic("a 60 IN A 198.18.0.1"); !errors.Is(err, ErrNoZone) {
		t.Errorf("static before publish: %v", err)
	}
	for name, mut := range map[string]func(*Zone){
		"no domain":      func(z *Zone) { z.Domain = "" },
		"bad domain":     func(z *Zone) { z.Domain = "corp..example" },
		"mp outside":     func(z *Zone) { z.MPs[0].FQDN = "mp1.other.example" },
		"mp no address":  func(z *Zone) { z.MPs[0].Addr = netip.Addr{} },
		"mp ipv6":        func(z *Zone) { z.MPs[0].Addr = netip.MustParseAddr("2001:db8::1") },
		"mp no port":     func(z *Zone) { z.MPs[2].HTTPPort = 0 },
		"mp bad site":    func(z *Zone) { z.MPs[0].SiteCode = "P_1" },
		"mp twice":       func(z *Zone) { z.MPs[1].FQDN = "mp1.corp.example" },
		"ns outside":     func(z *Zone) { z.NS = "ns.other.example" },
		"host bad":       func(z *Zone) { z.Hosts[0].Name = "-x.corp.example" },
		"reserved site":  func(z *Zone) { z.MPs[0].SiteCode = "CON" },
		"label too long": func(z *Zone) { z.MPs[0].FQDN = strings.Repeat("m", 64) + ".corp.example" },
	} {
		z := testZone()
		mut(&z)
		if err := s.Publish(z); !errors.Is(err, ErrInvalidZone) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Before any zone every query is refused.
	addr, err := s.Listen(context.Background(), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(t, "udp", addr, "mp1.corp.example", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Errorf("before publish: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestSRVPort(t *testing.T) {
	for _, tc := range []struct {
		m    MP
		want uint16
	}{
		{MP{HTTPPort: 80, HTTPSPort: 443, HTTPS: true}, 443},
		{MP{HTTPPort: 80, HTTPSPort: 443}, 80},
		{MP{HTTPPort: 80, HTTPS: true}, 80},
		{MP{HTTPSPort: 443}, 0},
		{MP{HTTPSPort: 8443, HTTPS: true}, 8443},
	} {
		if got := SRVPort(tc.m); got != tc.want {
			t.Errorf("SRVPort(%+v) = %d, want %d", tc.m, got, tc.want)
		}
	}
	if n, err := SRVName("PS1", "Corp.Example."); err != nil || n != "_mssms_mp_ps1._tcp.corp.example." {
		t.Errorf("SRVName = %q, %v", n, err)
	}
}

// TestBadPacketsAreCounted: unreadable and refused messages are counted, never
// answered with a crash, and the server keeps answering.
func TestBadPacketsAreCounted(t *testing.T) {
	s, addr := startServer(t, testZone())
	q := new(dns.Msg)
	q.SetQuestion("mp1.corp.example.", dns.TypeA)
	good, _ := q.Pack()
	resp := q.Copy()
	resp.Response = true
	respWire, _ := resp.Pack()
	two := q.Copy()
	two.Question = append(two.Question, two.Question[0])
	twoWire, _ := two.Pack()
	upd := q.Copy()
	upd.Opcode = dns.OpcodeUpdate
	updWire, _ := upd.Pack()
	bad := map[string][]byte{
		"short header":    good[:5],
		"cut question":    good[:len(good)-3],
		"a response":      respWire,
		"two questions":   twoWire,
		"update":          updWire,
		"garbage":         []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff"),
		"name loop":       {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1},
		"count too large": {0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0},
	}
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range bad {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// TCP too: a length prefix that promises more than is sent, then the end.
	tc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0x00, 0x40, 0x12, 0x34})
	_ = tc.(*net.TCPConn).CloseWrite()
	tc.Close()
	tc, err = net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write(append([]byte{0x00, byte(len(twoWire))}, twoWire...))
	_ = tc.(*net.TCPConn).CloseWrite()
	tc.Close()

	if r := ask(t, "udp", addr, "mp1.corp.example", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("after bad packets: %v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if st.UDP.Malformed >= uint64(len(bad)) && st.TCP.Malformed >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want %d malformed over UDP and 1 over TCP", st, len(bad))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseIdempotentAndServeAfterClose(t *testing.T) {
	s := New(Options{})
	if err := s.Publish(testZone()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(context.Background(), loopback); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListenUDP(context.Background(), loopback); err == nil {
		t.Error("listen after close: no error")
	}
}
