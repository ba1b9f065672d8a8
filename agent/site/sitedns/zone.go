package sitedns

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Record parameters portlab publishes.
const (
	SRVTTL      = 14400 // Microsoft's documented TTL for _mssms_mp_ records
	HostTTL     = 3600  // A, NS, SOA
	SRVPriority = 0     // unused by clients
	SRVWeight   = 0     // unused by clients
)

var (
	// ErrInvalidZone is wrapped by every Zone validation error.
	ErrInvalidZone = errors.New("invalid zone")
	// ErrInvalidRecord is wrapped when a hand-made record cannot be served.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrNoZone: a hand-made record was added before the first Publish.
	ErrNoZone = errors.New("no zone published")
)

// Zone is what the site publishes in DNS. Publish replaces the published records with
// it, whole.
type Zone struct {
	// Domain is the zone apex and the MPs' DNS suffix ("corp.example"). Required.
	Domain string
	// NS is the name server's host name; empty means "ns1.<Domain>".
	NS string
	// NSAddr is NS's IPv4 address, for its A record. Optional.
	NSAddr netip.Addr
	MPs    []MP
	// Hosts are other A records of the zone (the site server, a domain controller).
	Hosts []Host
}

// Host is one A record.
type Host struct {
	Name string // inside the zone
	Addr netip.Addr
}

// MP is one management point as DNS publishes it.
type MP struct {
	FQDN     string     // intranet FQDN, inside the zone: the SRV target and the A record's name
	Addr     netip.Addr // IPv4; required, since clients need an A record for the target
	SiteCode string
	// The site's default request ports (0: the site has none). SRVPort picks one.
	HTTPPort  uint16
	HTTPSPort uint16
	HTTPS     bool // the MP accepts HTTPS clients
	// Internet marks an internet-only MP: its A record is served, no SRV record.
	Internet bool
}

// SRVPort is the port an MP's SRV record carries: the HTTPS port when the MP accepts
// HTTPS and the site has an HTTPS port, else the HTTP port; 0 if neither.
func SRVPort(m MP) uint16 {
	if m.HTTPS && m.HTTPSPort != 0 {
		return m.HTTPSPort
	}
	return m.HTTPPort
}

// SRVName is the owner name of a site's MP records: "_mssms_mp_ps1._tcp.corp.example.".
func SRVName(siteCode, domain string) (string, error) {
	code, err := normalizeSiteCode(siteCode)
	if err != nil {
		return "", err
	}
	d, err := normalizeName(domain)
	if err != nil {
		return "", err
	}
	return "_mssms_mp_" + strings.ToLower(code) + "._tcp." + d, nil
}

// normalizeName validates a host or domain name (letters, digits, inner hyphens;
// 1–63 bytes a label, 253 in all) and returns it lower case and fully qualified.
func normalizeName(name string) (string, error) {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("name %.60q: empty or longer than 253 bytes", name)
	}
	for l := range strings.SplitSeq(n, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("name %q: label %q: must be 1 to 63 bytes, no hyphen at either end", name, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("name %q: byte %q is not a letter, digit or hyphen", name, c)
			}
		}
	}
	return strings.ToLower(n) + ".", nil
}

// normalizeSiteCode validates a ConfigMgr site code: three letters or digits, not a
// reserved name.
func normalizeSiteCode(code string) (string, error) {
	c := strings.ToUpper(code)
	if len(c) != 3 {
		return "", fmt.Errorf("site code %q: must be 3 characters", code)
	}
	for i := 0; i < 3; i++ {
		if !(c[i] >= 'A' && c[i] <= 'Z' || c[i] >= '0' && c[i] <= '9') {
			return "", fmt.Errorf("site code %q: must be letters and digits", code)
		}
	}
	switch c {
	case "AUX", "CON", "NUL", "PRN", "SMS":
		return "", fmt.Errorf("site code %q: reserved", code)
	}
	return c, nil
}

// records validates z and returns its apex and every published record.
func (z Zone) records() (apex string, rrs []dns.RR, err error) {
	bad := func(format string, args ...any) (string, []dns.RR, error) {
		return "", nil, fmt.Errorf("zone: "+format+": %w", append(args, ErrInvalidZone)...)
	}
	if apex, err = normalizeName(z.Domain); err != nil {
		return bad("domain: %v", err)
	}
	inZone := func(what, name string) (string, error) {
		n, err := normalizeName(name)
		if err != nil {
			return "", fmt.Errorf("%s: %v", what, err)
		}
		if !dns.IsSubDomain(apex, n) {
			return "", fmt.Errorf("%s %s: not in zone %s", what, n, apex)
		}
		return n, nil
	}
	ns := "ns1." + apex
	if z.NS != "" {
		if ns, err = inZone("name server", z.NS); err != nil {
			return bad("%v", err)
		}
	}
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	rrs = append(rrs,
		&dns.SOA{Hdr: hdr(apex, dns.TypeSOA, HostTTL), Ns: ns, Mbox: "hostmaster." + apex,
			Serial: 1, Refresh: 900, Retry: 600, Expire: 86400, Minttl: HostTTL},
		&dns.NS{Hdr: hdr(apex, dns.TypeNS, HostTTL), Ns: ns})
	a := func(what, name string, addr netip.Addr) error {
		if !addr.Is4() {
			return fmt.Errorf("%s %s: address %v: want IPv4", what, name, addr)
		}
		rrs = append(rrs, &dns.A{Hdr: hdr(name, dns.TypeA, HostTTL), A: addr.AsSlice()})
		return nil
	}
	if z.NSAddr.IsValid() {
		if err := a("name server", ns, z.NSAddr); err != nil {
			return bad("%v", err)
		}
	}
	for i, h := range z.Hosts {
		n, err := inZone(fmt.Sprintf("host[%d]", i), h.Name)
		if err == nil {
			err = a(fmt.Sprintf("host[%d]", i), n, h.Addr)
		}
		if err != nil {
			return bad("%v", err)
		}
	}
	seen := map[string]bool{}
	for i, m := range z.MPs {
		what := fmt.Sprintf("mp[%d]", i)
		n, err := inZone(what, m.FQDN)
		if err != nil {
			return bad("%v", err)
		}
		if seen[n] {
			return bad("%s %s: published twice", what, n)
		}
		seen[n] = true
		if err := a(what, n, m.Addr); err != nil {
			return bad("%v", err)
		}
		code, err := normalizeSiteCode(m.SiteCode)
		if err != nil {
			return bad("%s %s: %v", what, n, err)
		}
		if m.Internet {
			continue
		}
		port := SRVPort(m)
		if port == 0 {
			return bad("%s %s: an intranet MP needs an HTTP or HTTPS port for its SRV record", what, n)
		}
		owner, _ := SRVName(code, apex)
		rrs = append(rrs, &dns.SRV{Hdr: hdr(owner, dns.TypeSRV, SRVTTL),
			Priority: SRVPriority, Weight: SRVWeight, Port: port, Target: n})
	}
	return apex, rrs, nil
}

// parseStatic reads one hand-made record in zone-file syntax, with names relative to
// apex allowed ("_mssms_mp_ps1._tcp 14400 IN SRV 0 0 80 mp1"), and checks it lies in
// the zone.
func parseStatic(text, apex string) (dns.RR, error) {
	if len(text) > 1024 {
		return nil, fmt.Errorf("record %.40q…: longer than 1024 bytes: %w", text, ErrInvalidRecord)
	}
	zp := dns.NewZoneParser(strings.NewReader(text), apex, "")
	zp.SetDefaultTTL(HostTTL)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("record %q: %v: %w", text, err, ErrInvalidRecord)
	}
	if !ok || rr == nil {
		return nil, fmt.Errorf("record %q: empty: %w", text, ErrInvalidRecord)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("record %q: more than one record: %w", text, ErrInvalidRecord)
	}
	h := rr.Header()
	h.Name = strings.ToLower(h.Name)
	if h.Class != dns.ClassINET {
		return nil, fmt.Errorf("record %q: class %s, want IN: %w", text, dns.ClassToString[h.Class], ErrInvalidRecord)
	}
	if !dns.IsSubDomain(apex, h.Name) {
		return nil, fmt.Errorf("record %q: %s is not in zone %s: %w", text, h.Name, apex, ErrInvalidRecord)
	}
	switch h.Rrtype {
	case dns.TypeSOA, dns.TypeOPT:
		return nil, fmt.Errorf("record %q: %s records cannot be added by hand: %w", text, dns.TypeToString[h.Rrtype], ErrInvalidRecord)
	}
	if srv, ok := rr.(*dns.SRV); ok {
		srv.Target = strings.ToLower(srv.Target)
	}
	return rr, nil
}
