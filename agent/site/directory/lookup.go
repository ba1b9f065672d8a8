package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// DefaultLookupTimeout bounds a Lookup whose ctx has no deadline.
const DefaultLookupTimeout = 10 * time.Second

// MaxLookupBytes bounds what one Lookup reads from the directory: a site's MP objects
// are a few kilobytes, so more is a broken or hostile server.
const MaxLookupBytes = 1 << 20

var (
	// ErrNotPublished: the domain has no System Management container (the site does
	// not publish to AD DS, or its publication was removed).
	ErrNotPublished = errors.New("no System Management container in the domain")
	// ErrSiteNotFound: the container has no mSSMSSite object for the site code.
	ErrSiteNotFound = errors.New("site not published")
	// ErrNoMP: the site is published but has no usable mSSMSManagementPoint object.
	ErrNoMP = errors.New("no management point published for the site")
	// ErrWrongDomain: the directory's default naming context is another domain.
	ErrWrongDomain = errors.New("directory serves another domain")
)

// LocatedMP is one MP as a client reads it from AD DS.
type LocatedMP struct {
	Name     string     // NetBIOS name: the first label of mSSMSMPName
	FQDN     string     // dNSHostName
	SiteCode string     // mSSMSSiteCode
	Addr     netip.Addr // mSSMSMPAddress; invalid when not published
	HTTPS    bool       // HTTPS capable (<SecurityModeMaskEx> bit 0x1)
	Default  bool       // mSSMSDefaultMP
	Version  int        // mSSMSVersion
	// Ports are the request ports from the MP's PortsElement; HasPorts says it was there.
	Ports    Ports
	HasPorts bool
}

// Result is what one Lookup learned.
type Result struct {
	DomainDN     string // the directory's default naming context
	SiteCode     string
	SourceForest string // the site object's mSSMSSourceForest
	MPs          []LocatedMP
	// Ports are the site's request ports as the client takes them: from the default
	// MP that publishes ports, else from the first MP that does. Zero if none does.
	Ports Ports
	// Skipped counts MP objects the client could not use (a bad mSSMSCapabilities).
	Skipped int
}

// lookupAttrs are the MP attributes a client reads.
var lookupAttrs = []string{"mSSMSMPName", "dNSHostName", "mSSMSSiteCode", "mSSMSCapabilities",
	"mSSMSDefaultMP", "mSSMSVersion", "mSSMSMPAddress"}

// Lookup runs a domain client's AD DS service location for siteCode over conn, which
// the caller dialed (from the client's own source address) to an LDAP or global
// catalog listener. It binds anonymously, reads the RootDSE, finds the site object and
// then the site's MP objects under CN=System Management, and closes conn. It reads at
// most MaxLookupBytes; ctx bounds the whole exchange (DefaultLookupTimeout if ctx has
// no deadline).
func Lookup(ctx context.Context, conn net.Conn, domain, siteCode string) (Result, error) {
	ctx, domainDN, code, done, err := startLookup(ctx, conn, domain, siteCode)
	defer done()
	if err != nil {
		return Result{}, err
	}

	l := ldap.NewConn(&limitedConn{Conn: conn, left: MaxLookupBytes}, false)
	l.Start()
	defer l.Close()
	fail := func(step string, err error) (Result, error) {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("ldap lookup %s: %w (%v)", step, ctx.Err(), err)
		}
		// The socket's deadline can fire a moment before ctx's timer does.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return Result{}, fmt.Errorf("ldap lookup %s: %w (%v)", step, context.DeadlineExceeded, err)
		}
		return Result{}, fmt.Errorf("ldap lookup %s: %w", step, err)
	}

	if err := l.UnauthenticatedBind(""); err != nil {
		return fail("bind", err)
	}
	dse, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"defaultNamingContext"}, nil))
	if err != nil {
		return fail("rootDSE", err)
	}
	res := Result{SiteCode: code}
	if len(dse.Entries) > 0 {
		res.DomainDN = dse.Entries[0].GetEqualFoldAttributeValue("defaultNamingContext")
	}
	if a, errA := normalizeDN(res.DomainDN); errA != nil || a != mustNormalizeDN(domainDN) {
		return fail("rootDSE", fmt.Errorf("default naming context %q, want %s: %w", res.DomainDN, domainDN, ErrWrongDomain))
	}

	sm := SystemManagementDN(domainDN)
	sites, err := l.Search(ldap.NewSearchRequest(sm, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=mSSMSSite)(mSSMSSiteCode="+ldap.EscapeFilter(code)+"))",
		[]string{"mSSMSSiteCode", "mSSMSSourceForest"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return fail("site", fmt.Errorf("%s: %w", sm, ErrNotPublished))
	}
	if err != nil {
		return fail("site", err)
	}
	if len(sites.Entries) == 0 {
		return fail("site", fmt.Errorf("%s: %w", code, ErrSiteNotFound))
	}
	res.SourceForest = sites.Entries[0].GetEqualFoldAttributeValue("mSSMSSourceForest")

	if err := searchMPs(l, sm, code, &res); err != nil {
		return fail("mp", err)
	}
	_ = l.Unbind()
	return res, nil
}

// searchMPs reads the site's MP objects under the System Management container sm into
// res (MPs, Skipped, Ports).
func searchMPs(l *ldap.Conn, sm, code string, res *Result) error {
	mps, err := l.Search(ldap.NewSearchRequest(sm, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode="+ldap.EscapeFilter(code)+"))", lookupAttrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return fmt.Errorf("%s: %w", sm, ErrNotPublished)
	}
	if err != nil {
		return err
	}
	var firstErr error
	for _, e := range mps.Entries {
		m, err := decodeMP(e.GetEqualFoldAttributeValue)
		if err != nil {
			res.Skipped++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", e.DN, err)
			}
			continue
		}
		res.MPs = append(res.MPs, m)
	}
	if len(res.MPs) == 0 {
		if firstErr != nil {
			return fmt.Errorf("%s: %w: %w", code, ErrNoMP, firstErr)
		}
		return fmt.Errorf("%s: %w", code, ErrNoMP)
	}
	res.Ports = sitePorts(res.MPs)
	return nil
}

func mustNormalizeDN(dn string) string {
	n, _ := normalizeDN(dn)
	return n
}

// decodeMP reads one MP object's attributes, as get returns them.
func decodeMP(get func(string) string) (LocatedMP, error) {
	m := LocatedMP{
		FQDN:     strings.ToLower(strings.TrimSuffix(get("dNSHostName"), ".")),
		SiteCode: strings.ToUpper(get("mSSMSSiteCode")),
		Default:  strings.EqualFold(get("mSSMSDefaultMP"), "TRUE"),
	}
	name := get("mSSMSMPName")
	if name == "" {
		name = m.FQDN
	}
	if m.FQDN == "" {
		m.FQDN = strings.ToLower(strings.TrimSuffix(name, "."))
	}
	if _, err := normalizeDomain(m.FQDN); err != nil {
		return LocatedMP{}, fmt.Errorf("mp host name: %w", err)
	}
	first, _, _ := strings.Cut(name, ".")
	m.Name = strings.ToUpper(first)
	if v := get("mSSMSVersion"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return LocatedMP{}, fmt.Errorf("mSSMSVersion %q: not an integer", v)
		}
		m.Version = n
	}
	if a := get("mSSMSMPAddress"); a != "" {
		if addr, err := netip.ParseAddr(a); err == nil {
			m.Addr = addr
		}
	}
	v := get(PortsAttribute)
	if v == "" { // an MP object without capabilities (SMS 2003's schema): no ports, HTTP
		return m, nil
	}
	caps, err := ParseCapabilities(v)
	if err != nil {
		return LocatedMP{}, err
	}
	m.HTTPS = caps.HTTPS()
	m.Ports, m.HasPorts = caps.Ports, caps.HasPorts
	return m, nil
}

func sitePorts(mps []LocatedMP) Ports {
	for _, m := range mps {
		if m.Default && m.HasPorts {
			return m.Ports
		}
	}
	for _, m := range mps {
		if m.HasPorts {
			return m.Ports
		}
	}
	return Ports{}
}

// limitedConn fails reads past a byte budget.
type limitedConn struct {
	net.Conn
	left int
}

var errAnswerTooLarge = fmt.Errorf("directory answer over %d bytes", MaxLookupBytes)

func (c *limitedConn) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errAnswerTooLarge
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}

// startLookup readies a lookup on conn: ctx with DefaultLookupTimeout unless it has a
// deadline, conn's deadline set to it (cancelling ctx puts the deadline in the past,
// which fails any read or write in progress), and the domain's DN and the site code
// checked. done closes conn and releases the rest; call it whatever err is.
func startLookup(ctx context.Context, conn net.Conn, domain, siteCode string) (_ context.Context, domainDN, code string, done func(), err error) {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultLookupTimeout)
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	done = func() { stop(); cancel(); conn.Close() }
	if domainDN, err = DomainDN(domain); err != nil {
		return ctx, "", "", done, fmt.Errorf("ldap lookup: %w", err)
	}
	if code, err = normalizeSiteCode(siteCode); err != nil {
		return ctx, "", "", done, fmt.Errorf("ldap lookup: %w", err)
	}
	return ctx, domainDN, code, done, nil
}
