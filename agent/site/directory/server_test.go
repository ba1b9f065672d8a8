package directory

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

const smDN = "CN=System Management,CN=System,DC=corp,DC=example"

func client(t *testing.T, addr netip.AddrPort) *ldap.Conn {
	t.Helper()
	l := ldap.NewConn(dial(t, addr), false)
	l.Start()
	l.SetTimeout(5 * time.Second)
	t.Cleanup(func() { l.Close() })
	if err := l.Bind("CN=anyone,DC=corp,DC=example", "any password"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	return l
}

func dns(r *ldap.SearchResult) []string {
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.DN)
	}
	return out
}

func TestSearchScopesAndFilters(t *testing.T) {
	_, addr, _ := startServer(t, testPublication())
	l := client(t, addr)
	mp1 := "CN=SMS-MP-PS1-MP1.CORP.EXAMPLE," + smDN
	mp2 := "CN=SMS-MP-PS1-MP2.CORP.EXAMPLE," + smDN
	mp3 := "CN=SMS-MP-PS2-MP3.CORP.EXAMPLE," + smDN
	site1 := "CN=SMS-Site-PS1," + smDN
	site2 := "CN=SMS-Site-PS2," + smDN
	slp := "CN=SMS-SLP-PS1-SLP1.CORP.EXAMPLE," + smDN
	rng := "CN=SMS-PS1-198.18.16.0-198.18.31.255," + smDN
	for _, tc := range []struct {
		name   string
		base   string
		scope  int
		filter string
		want   []string
	}{
		{"base", smDN, ldap.ScopeBaseObject, "(objectClass=*)", []string{smDN}},
		{"base miss", smDN, ldap.ScopeBaseObject, "(objectClass=mSSMSSite)", nil},
		{"one level", "CN=System,DC=corp,DC=example", ldap.ScopeSingleLevel, "(objectClass=*)", []string{smDN}},
		{"subtree equality", "DC=corp,DC=example", ldap.ScopeWholeSubtree, "(objectClass=mSSMSManagementPoint)", []string{mp1, mp2, mp3}},
		{"presence", smDN, ldap.ScopeSingleLevel, "(mSSMSMPAddress=*)", []string{mp1}},
		{"substring", smDN, ldap.ScopeWholeSubtree, "(cn=SMS-Site-*)", []string{site1, site2}},
		{"substring any", smDN, ldap.ScopeWholeSubtree, "(cn=*-PS2-*)", []string{mp3}},
		{"and", smDN, ldap.ScopeWholeSubtree, "(&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode=PS1))", []string{mp1, mp2}},
		{"or", smDN, ldap.ScopeWholeSubtree, "(|(objectClass=mSSMSSite)(objectClass=mSSMSServerLocatorPoint))", []string{site1, site2, slp}},
		{"not", smDN, ldap.ScopeSingleLevel, "(&(mSSMSSiteCode=PS1)(!(objectClass=mSSMSManagementPoint)))", []string{site1, rng, slp}},
		{"greater or equal", smDN, ldap.ScopeSingleLevel, "(mSSMSVersion>=9141)", []string{mp1, mp2}},
		{"less or equal", smDN, ldap.ScopeSingleLevel, "(mSSMSVersion<=9140)", []string{mp3}},
		{"approx", smDN, ldap.ScopeSingleLevel, "(dNSHostName~=MP2.CORP.EXAMPLE)", []string{mp2}},
		{"extensible bit and", smDN, ldap.ScopeSingleLevel, "(mSSMSVersion:1.2.840.113556.1.4.803:=16)", []string{mp1, mp2}},
		{"object category", "DC=corp,DC=example", ldap.ScopeWholeSubtree, "(objectCategory=mSSMSSite)", []string{site1, site2}},
		{"ranges", smDN, ldap.ScopeSingleLevel, "(&(objectClass=mSSMSRoamingBoundaryRange)(mSSMSRangedIPLow<=3323072522)(mSSMSRangedIPHigh>=3323072522))", []string{rng}},
		{"whole forest from the empty base", "", ldap.ScopeWholeSubtree, "(objectClass=mSSMSManagementPoint)", []string{mp1, mp2, mp3}},
		{"naming contexts", "", ldap.ScopeSingleLevel, "(objectClass=*)", []string{"DC=corp,DC=example"}},
		{"base DN spelled loosely", "cn=system management, cn=SYSTEM,dc=Corp,dc=example", ldap.ScopeBaseObject, "(objectClass=container)", []string{smDN}},
	} {
		r, err := l.Search(ldap.NewSearchRequest(tc.base, tc.scope, ldap.NeverDerefAliases, 0, 0, false, tc.filter, []string{"cn"}, nil))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := dns(r)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s\n got %q\nwant %q", tc.name, tc.filter, got, want)
		}
	}
}

func TestSearchAttributes(t *testing.T) {
	_, addr, gc := startServer(t, testPublication())
	l := client(t, addr)
	mp1 := "CN=SMS-MP-PS1-MP1.CORP.EXAMPLE," + smDN
	get := func(attrs []string, typesOnly bool) *ldap.Entry {
		t.Helper()
		r, err := l.Search(ldap.NewSearchRequest(mp1, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, typesOnly, "(objectClass=*)", attrs, nil))
		if err != nil || len(r.Entries) != 1 {
			t.Fatalf("search %v: %v %v", attrs, r, err)
		}
		return r.Entries[0]
	}
	names := func(e *ldap.Entry) []string {
		var out []string
		for _, a := range e.Attributes {
			out = append(out, a.Name)
		}
		return out
	}
	all := names(get(nil, false))
	for _, want := range []string{"objectClass", "cn", "mSSMSMPName", "dNSHostName", "mSSMSSiteCode", "mSSMSCapabilities",
		"mSSMSDefaultMP", "mSSMSDeviceManagementPoint", "mSSMSVersion", "mSSMSSourceForest", "mSSMSMPAddress", "objectCategory"} {
		if !slices.Contains(all, want) {
			t.Errorf("all attributes %v: no %s", all, want)
		}
	}
	if got := names(get([]string{"*"}, false)); !slices.Equal(got, all) {
		t.Errorf("'*' gave %v, want %v", got, all)
	}
	if got := names(get([]string{"1.1"}, false)); len(got) != 0 {
		t.Errorf("'1.1' gave %v", got)
	}
	e := get([]string{"MSSMSMPNAME", "dnshostname", "noSuchAttribute"}, false)
	if got := names(e); !slices.Equal(got, []string{"mSSMSMPName", "dNSHostName"}) {
		t.Errorf("two attributes: %v", got)
	}
	if e.GetAttributeValue("mSSMSMPName") != "MP1.CORP.EXAMPLE" || e.GetAttributeValue("dNSHostName") != "mp1.corp.example" {
		t.Errorf("values: %v", e.Attributes)
	}
	e = get([]string{"mSSMSCapabilities", "mSSMSDefaultMP"}, true)
	for _, a := range e.Attributes {
		if len(a.Values) != 0 {
			t.Errorf("typesOnly: %s has values %q", a.Name, a.Values)
		}
	}
	caps, err := ParseCapabilities(get([]string{"mSSMSCapabilities"}, false).GetAttributeValue("mSSMSCapabilities"))
	if err != nil {
		t.Fatal(err)
	}
	if caps.Ports != (Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}) || !caps.HTTPS() || caps.SiteCode() != "PS1" ||
		caps.RootSiteCode != "PS1" || caps.Version != "5.00.9141.1000" || !slices.Equal(caps.FSP, []string{"fsp1.corp.example"}) {
		t.Errorf("capabilities %+v", caps)
	}

	for _, tc := range []struct {
		addr netip.AddrPort
		gc   string
	}{{addr, "FALSE"}, {gc, "TRUE"}} {
		c := client(t, tc.addr)
		r, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil))
		if err != nil || len(r.Entries) != 1 {
			t.Fatalf("rootDSE: %v %v", r, err)
		}
		dse := r.Entries[0]
		for attr, want := range map[string]string{
			"defaultNamingContext": "DC=corp,DC=example", "rootDomainNamingContext": "DC=corp,DC=example",
			"namingContexts": "DC=corp,DC=example", "dnsHostName": "dc1.corp.example", "isGlobalCatalogReady": tc.gc,
		} {
			if got := dse.GetAttributeValue(attr); got != want {
				t.Errorf("rootDSE on %s: %s = %q, want %q", tc.addr, attr, got, want)
			}
		}
	}
}

func TestSearchLimitsAndErrors(t *testing.T) {
	s, addr, _ := startServer(t, testPublication())
	l := client(t, addr)
	r, err := l.Search(ldap.NewSearchRequest(smDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 2, 0, false, "(objectClass=*)", nil, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || r == nil || len(r.Entries) != 2 {
		t.Errorf("size limit 2: %v entries, err %v", r, err)
	}
	_, err = l.Search(ldap.NewSearchRequest("CN=Nope,"+smDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil))
	var lerr *ldap.Error
	if !errors.As(err, &lerr) || lerr.ResultCode != ldap.LDAPResultNoSuchObject || lerr.MatchedDN != smDN {
		t.Errorf("missing base: %v (matched %q)", err, func() string {
			if lerr != nil {
				return lerr.MatchedDN
			}
			return ""
		}())
	}
	_, err = l.Search(ldap.NewSearchRequest("not a dn", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidDNSyntax) {
		t.Errorf("bad base: %v", err)
	}
	big := "(|" + strings.Repeat("(cn=x)", MaxFilterNodes+1) + ")"
	_, err = l.Search(ldap.NewSearchRequest(smDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, big, nil, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded) {
		t.Errorf("huge filter: %v", err)
	}
	_, err = l.Search(ldap.NewSearchRequest(smDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
		slices.Repeat([]string{"cn"}, MaxAttributeCount+1), nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded) {
		t.Errorf("too many attributes: %v", err)
	}
	err = l.Add(ldap.NewAddRequest("CN=x,"+smDN, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Errorf("add: %v", err)
	}
	err = l.Del(ldap.NewDelRequest("CN=SMS-Site-PS1,"+smDN, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Errorf("delete: %v", err)
	}
	mod := ldap.NewModifyRequest("CN=SMS-Site-PS1,"+smDN, nil)
	mod.Replace("mSSMSSiteCode", []string{"XXX"})
	if err := l.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Errorf("modify: %v", err)
	}
	if _, err := l.WhoAmI(nil); err == nil {
		t.Errorf("whoami: no error")
	}
	st := s.Stats()[0]
	if st.Oversized != 2 || st.Unsupported != 4 || st.NoSuchObject != 1 || st.Errors != 2+4+1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPublishBeforeAndInvalid(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := context.Background()
	addr, err := s.Listen(ctx, loopback, LDAP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(t, addr, "corp.example", "PS1"); !errors.Is(err, ErrWrongDomain) {
		t.Errorf("before the first Publish: %v", err)
	}
	for name, mut := range map[string]func(*Publication){
		"no domain":        func(p *Publication) { p.Domain = "" },
		"bad domain":       func(p *Publication) { p.Domain = "corp_example" },
		"bad site":         func(p *Publication) { p.Sites[0].Code = "P$1" },
		"reserved site":    func(p *Publication) { p.Sites[0].Code = "SMS" },
		"twice":            func(p *Publication) { p.Sites[1].Code = "PS1" },
		"mp of no site":    func(p *Publication) { p.MPs[0].SiteCode = "ZZZ" },
		"equal ports":      func(p *Publication) { p.MPs[0].Ports.HTTPS = 80 },
		"bad guid":         func(p *Publication) { p.Sites[0].GUID = "nope" },
		"backwards range":  func(p *Publication) { p.Sites[0].BoundaryRanges[0].Low = netip.MustParseAddr("198.18.255.255") },
		"duplicate mp":     func(p *Publication) { p.MPs[1].FQDN = "MP1.corp.example." },
		"bad fsp":          func(p *Publication) { p.MPs[0].FSP = []string{"-x"} },
		"long label":       func(p *Publication) { p.MPs[0].FQDN = strings.Repeat("a", 64) + ".corp.example" },
		"negative version": func(p *Publication) { p.MPs[0].Version = -1 },
	} {
		p := testPublication()
		mut(&p)
		if err := s.Publish(p); !errors.Is(err, ErrInvalidPublication) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.Listen(ctx, netip.AddrPort{}, LDAP); err == nil {
		t.Error("listen on no address: no error")
	}
	if _, err := s.Listen(ctx, addr, LDAP); err == nil {
		t.Error("listen on a port in use: no error")
	}
}

func TestDomainDN(t *testing.T) {
	for in, want := range map[string]string{
		"corp.example": "DC=corp,DC=example", "Corp.Example.": "DC=corp,DC=example", "a.b.c": "DC=a,DC=b,DC=c", "lab": "DC=lab",
	} {
		if got, err := DomainDN(in); err != nil || got != want {
			t.Errorf("DomainDN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "a..b", "-a.b", "a-.b", "a_b.c", "a b.c", strings.Repeat("a.", 127) + "aa"} {
		if _, err := DomainDN(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("DomainDN(%q): %v, want ErrInvalidName", in, err)
		}
	}
}

// TestConcurrentPublishAndLookup: a lookup sees one publication or the other whole.
func TestConcurrentPublishAndLookup(t *testing.T) {
	s, addr, _ := startServer(t, testPublication())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := testPublication()
			port := uint16(8000 + i%2)
			for j := range p.MPs {
				p.MPs[j].Ports = Ports{HTTP: port}
			}
			if err := s.Publish(p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		res, err := lookup(t, addr, "corp.example", "PS1")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.MPs {
			if m.Ports.HTTP != 8000 && m.Ports.HTTP != 8001 && m.Ports.HTTP != 80 {
				t.Errorf("mp %s port %d", m.FQDN, m.Ports.HTTP)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// rawLDAP sends bytes on a fresh connection and reads until the server closes it.
func rawLDAP(t *testing.T, addr netip.AddrPort, msg []byte) []byte {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	b, _ := io.ReadAll(c)
	return b
}

func TestMalformedMessagesAreCounted(t *testing.T) {
	s, addr, _ := startServer(t, testPublication())
	seq := func(children ...*ber.Packet) []byte {
		p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		for _, c := range children {
			p.AppendChild(c)
		}
		return p.Bytes()
	}
	id := ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "")
	badSearch := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "search")
	badSearch.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, smDN, ""))
	badSearch.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "not a scope", ""))
	badBind := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "bind")
	badBind.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 2, "v2"))
	badBind.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	badBind.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "", ""))
	huge := make([]byte, 6)
	huge[0], huge[1] = 0x30, 0x84
	binary.BigEndian.PutUint32(huge[2:], 0xfffffff0)
	for name, msg := range map[string][]byte{
		"not a sequence":       {0x04, 0x03, 'a', 'b', 'c'},
		"sequence of nothing":  seq(),
		"no operation":         seq(id),
		"unknown operation":    seq(id, ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "")),
		"bad search":           seq(id, badSearch),
		"LDAPv2 bind":          seq(id, badBind),
		"message id as string": seq(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", ""), badSearch),
		"length over 4 GiB":    huge,
	} {
		start := time.Now()
		rawLDAP(t, addr, msg)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: the server took %v to drop the connection", name, d)
		}
	}
	// The server still answers.
	if _, err := lookup(t, addr, "corp.example", "PS1"); err != nil {
		t.Fatalf("after malformed input: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()[0]
		if st.Malformed+st.Oversized >= 8 || time.Now().After(deadline) {
			if st.Malformed < 7 || st.Oversized < 1 || st.Errors < st.Malformed+st.Oversized {
				t.Errorf("stats %+v", st)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseWithIdleClient: Close returns within ConnLifetime although a client holds a
// connection open, and counts the cut.
func TestCloseWithIdleClient(t *testing.T) {
	s := New(Options{ConnLifetime: 300 * time.Millisecond})
	if err := s.Publish(testPublication()); err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen(context.Background(), loopback, LDAP)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	defer c.Close()
	if _, err := c.Write([]byte{0x30}); err != nil { // half a message, then nothing
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("close took %v", d)
	}
	if st := s.Stats()[0]; st.Expired != 1 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := s.Listen(context.Background(), loopback, LDAP); err == nil {
		t.Error("listen after close: no error")
	}
}
