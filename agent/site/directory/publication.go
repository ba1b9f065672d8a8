package directory

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// DefaultVersion is the MP build number published when MP.Version is zero (ConfigMgr
// current branch 2010, the build in DOMAIN.md's sample MP list).
const DefaultVersion = 9141

// ErrInvalidPublication is wrapped by every Publication validation error.
var ErrInvalidPublication = errors.New("invalid publication")

// Publication is what the site has written to AD DS. Publish replaces the served
// objects with it, whole.
type Publication struct {
	// Domain is the DNS name of the domain whose System container holds the
	// publication ("corp.example" → DC=corp,DC=example). Required.
	Domain string
	// Forest is the DNS name of the forest root domain: mSSMSSourceForest and the
	// RootDSE's rootDomainNamingContext. Empty means Domain.
	Forest string
	// Enabled false serves the domain and its System container but no System
	// Management container, as if the site's publication had been removed.
	Enabled bool
	Sites   []Site
	MPs     []MP
	SLPs    []SLP // server locator points; optional, few scenarios want one
}

// Site is one mSSMSSite object.
type Site struct {
	Code string // three letters or digits; stored in upper case
	// GUID is the site's GUID ("{…}") inside mSSMSHealthState; empty derives a stable
	// one from the code.
	GUID string
	// RootSiteCode is the hierarchy's root site (a CAS, or this primary site) for the
	// MPs' <RootSiteCode>. Empty means Code.
	RootSiteCode string
	// RoamingBoundaries are mSSMSRoamingBoundaries values (subnet IDs, AD site names),
	// published as given.
	RoamingBoundaries []string
	// BoundaryRanges become mSSMSRoamingBoundaryRange objects, one per range.
	BoundaryRanges []IPRange
}

// IPRange is an IPv4 boundary range, both ends included.
type IPRange struct {
	Low, High netip.Addr
}

// Ports are a site's client request ports. Zero means the site has no such port.
type Ports struct {
	HTTP           uint16
	HTTPAlternate  uint16
	HTTPS          uint16
	HTTPSAlternate uint16
}

// IsZero reports whether no port is set.
func (p Ports) IsZero() bool { return p == Ports{} }

// MP is one mSSMSManagementPoint object.
type MP struct {
	// FQDN is the MP's intranet FQDN: dNSHostName, and in upper case mSSMSMPName and
	// the object name (CN=SMS-MP-<site>-<FQDN>). The client's MP name is its first label.
	FQDN     string
	SiteCode string     // must be one of Publication.Sites
	Addr     netip.Addr // optional: published as mSSMSMPAddress
	// Ports are the site's request ports as this MP's object publishes them (the one
	// place portlab puts them: see PortsElement). Zero publishes no ports element.
	Ports Ports
	// HTTPS says the MP accepts HTTPS clients: bit 0x1 of <SecurityModeMaskEx>.
	HTTPS    bool
	Version  int      // build number for mSSMSVersion; 0 means DefaultVersion
	Default  bool     // mSSMSDefaultMP
	DeviceMP bool     // mSSMSDeviceManagementPoint
	FSP      []string // fallback status points' FQDNs, for <FSP>
}

// SLP is one mSSMSServerLocatorPoint object.
type SLP struct {
	FQDN     string
	SiteCode string
}

// normalize validates p and returns a copy with codes in upper case, names in lower
// case and defaults filled.
func (p Publication) normalize() (Publication, error) {
	bad := func(format string, args ...any) (Publication, error) {
		return Publication{}, fmt.Errorf("publication: "+format+": %w", append(args, ErrInvalidPublication)...)
	}
	var err error
	out := Publication{Enabled: p.Enabled}
	if out.Domain, err = normalizeDomain(p.Domain); err != nil {
		return bad("%v", err)
	}
	out.Forest = out.Domain
	if p.Forest != "" {
		if out.Forest, err = normalizeDomain(p.Forest); err != nil {
			return bad("forest: %v", err)
		}
	}
	sites := map[string]bool{}
	for i, s := range p.Sites {
		n := Site{GUID: s.GUID, RoamingBoundaries: append([]string(nil), s.RoamingBoundaries...)}
		if n.Code, err = normalizeSiteCode(s.Code); err != nil {
			return bad("site[%d]: %v", i, err)
		}
		if sites[n.Code] {
			return bad("site[%d] %s: published twice", i, n.Code)
		}
		sites[n.Code] = true
		n.RootSiteCode = n.Code
		if s.RootSiteCode != "" {
			if n.RootSiteCode, err = normalizeSiteCode(s.RootSiteCode); err != nil {
				return bad("site[%d] %s: root site: %v", i, n.Code, err)
			}
		}
		if n.GUID == "" {
			n.GUID = siteGUID(n.Code)
		} else if !validGUID(n.GUID) {
			return bad("site[%d] %s: GUID %q: want {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", i, n.Code, n.GUID)
		}
		for j, b := range n.RoamingBoundaries {
			if b == "" || len(b) > 256 || strings.ContainsAny(b, "\x00\r\n") {
				return bad("site[%d] %s: roaming boundary %d: empty, longer than 256 bytes or with a control character", i, n.Code, j)
			}
		}
		for j, r := range s.BoundaryRanges {
			if !r.Low.Is4() || !r.High.Is4() || r.High.Less(r.Low) {
				return bad("site[%d] %s: boundary range %d: want two IPv4 addresses, low <= high", i, n.Code, j)
			}
			n.BoundaryRanges = append(n.BoundaryRanges, r)
		}
		out.Sites = append(out.Sites, n)
	}
	fqdns := map[string]bool{}
	for i, m := range p.MPs {
		n := MP{Addr: m.Addr, Ports: m.Ports, HTTPS: m.HTTPS, Version: m.Version, Default: m.Default, DeviceMP: m.DeviceMP}
		if n.FQDN, err = normalizeDomain(m.FQDN); err != nil {
			return bad("mp[%d]: %v", i, err)
		}
		if fqdns[n.FQDN] {
			return bad("mp[%d] %s: published twice", i, n.FQDN)
		}
		fqdns[n.FQDN] = true
		if n.SiteCode, err = normalizeSiteCode(m.SiteCode); err != nil {
			return bad("mp[%d] %s: %v", i, n.FQDN, err)
		}
		if !sites[n.SiteCode] {
			return bad("mp[%d] %s: site %s is not in Sites", i, n.FQDN, n.SiteCode)
		}
		if n.Version == 0 {
			n.Version = DefaultVersion
		}
		if n.Version < 0 || n.Version > 99999 {
			return bad("mp[%d] %s: version %d: want a build number 1..99999", i, n.FQDN, n.Version)
		}
		if err := checkPorts(n.Ports); err != nil {
			return bad("mp[%d] %s: %v", i, n.FQDN, err)
		}
		if m.Addr.IsValid() && m.Addr.Zone() != "" {
			return bad("mp[%d] %s: address %s has a zone", i, n.FQDN, m.Addr)
		}
		for j, f := range m.FSP {
			fs, err := normalizeDomain(f)
			if err != nil {
				return bad("mp[%d] %s: fsp %d: %v", i, n.FQDN, j, err)
			}
			n.FSP = append(n.FSP, fs)
		}
		out.MPs = append(out.MPs, n)
	}
	for i, s := range p.SLPs {
		var n SLP
		if n.FQDN, err = normalizeDomain(s.FQDN); err != nil {
			return bad("slp[%d]: %v", i, err)
		}
		if n.SiteCode, err = normalizeSiteCode(s.SiteCode); err != nil {
			return bad("slp[%d] %s: %v", i, n.FQDN, err)
		}
		out.SLPs = append(out.SLPs, n)
	}
	return out, nil
}

// checkPorts refuses a port used twice: a site cannot serve HTTP and HTTPS on one port
// (PORTSWITCH.VBS refuses it too).
func checkPorts(p Ports) error {
	seen := map[uint16]string{}
	for _, x := range []struct {
		name string
		port uint16
	}{{"http", p.HTTP}, {"http alternate", p.HTTPAlternate}, {"https", p.HTTPS}, {"https alternate", p.HTTPSAlternate}} {
		if x.port == 0 {
			continue
		}
		if other, ok := seen[x.port]; ok {
			return fmt.Errorf("ports: %s and %s are both %d", other, x.name, x.port)
		}
		seen[x.port] = x.name
	}
	return nil
}

// siteGUID derives a stable GUID from a site code, so that a rehearsal's publication
// is the same on every run.
func siteGUID(code string) string {
	h := sha1.Sum([]byte("portlab site " + code))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA-1)
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func validGUID(g string) bool {
	if len(g) != 38 || g[0] != '{' || g[37] != '}' {
		return false
	}
	for i := 1; i < 37; i++ {
		c := g[i]
		switch i {
		case 9, 14, 19, 24:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
