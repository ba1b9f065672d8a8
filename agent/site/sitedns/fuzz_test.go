package sitedns

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzReadAnswer: the client's reader of server answers takes any bytes; what it
// accepts yields well-formed targets.
func FuzzReadAnswer(f *testing.F) {
	z := testZone()
	for i := range 30 {
		z.MPs = append(z.MPs, MP{FQDN: fmt.Sprintf("big%02d.corp.example", i), Addr: netip.AddrFrom4([4]byte{198, 18, 6, byte(i)}),
			SiteCode: "PS3", HTTPPort: 80})
	}
	apex, rrs, err := z.records()
	if err != nil {
		f.Fatal(err)
	}
	x := newIndex(apex, rrs, nil)
	owner, _ := SRVName("PS1", "corp.example")
	q := new(dns.Msg)
	q.SetQuestion(owner, dns.TypeSRV)
	q.Id = 0x1234
	var c counters
	for _, name := range []string{owner, "_mssms_mp_ps3._tcp.corp.example.", "nope.corp.example."} {
		qq := q.Copy()
		qq.Question[0].Name = name
		resp := x.answer(qq, &c)
		resp.Question[0].Name = owner // so that the seed is an answer to q
		for _, size := range []int{dns.MinMsgSize, dns.MaxMsgSize} {
			r := resp.Copy()
			r.Truncate(size)
			if b, err := r.Pack(); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte{0x12, 0x34, 0x82, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}) // TC, cut after the header
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > dns.MaxMsgSize+1 {
			return
		}
		resp, err := readAnswer(q, raw)
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v does not wrap ErrBadAnswer", err)
			}
			return
		}
		if resp.Id != q.Id {
			t.Fatalf("accepted an answer with ID %#x", resp.Id)
		}
		found, missing := srvTargets(resp, owner)
		for _, tg := range append(found, missing...) {
			if tg.Port == 0 {
				t.Fatalf("target without a port: %+v", tg)
			}
			if _, err := normalizeName(tg.FQDN); err != nil {
				t.Fatalf("target with a bad name: %+v", tg)
			}
		}
		for _, tg := range found {
			if !tg.Addr.Is4() {
				t.Fatalf("found target without an IPv4 address: %+v", tg)
			}
		}
	})
}

// FuzzAnswerQuery: whatever query unpacks, the server's answer packs, and over UDP
// fits 512 bytes.
func FuzzAnswerQuery(f *testing.F) {
	apex, rrs, err := testZone().records()
	if err != nil {
		f.Fatal(err)
	}
	static, err := parseStatic("_mssms_mp_ps1._tcp 14400 IN SRV 0 0 80 mp1", apex)
	if err != nil {
		f.Fatal(err)
	}
	x := newIndex(apex, rrs, []dns.RR{static})
	for _, q := range []struct {
		name string
		t    uint16
	}{{"_mssms_mp_ps1._tcp.corp.example.", dns.TypeSRV}, {"corp.example.", dns.TypeANY}, {"x.other.", dns.TypeA}, {"_tcp.corp.example.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.t)
		m.SetEdns0(4096, false)
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > dns.MaxMsgSize {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			return // the server counts these as malformed before its handler
		}
		var c counters
		resp := x.answer(req, &c)
		resp.Truncate(dns.MinMsgSize)
		b, err := resp.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, resp)
		}
		if len(b) > dns.MinMsgSize && len(req.Question) == 1 && len(req.Question[0].Name) < 200 {
			t.Fatalf("UDP answer of %d bytes", len(b))
		}
	})
}
