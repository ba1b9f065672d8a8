package directory

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Bounds on a search request beyond its filter: what a client may ask for.
const (
	MaxBaseDNLen      = 1024
	MaxAttributeCount = 64
)

type attr struct {
	name   string   // as published (the schema's lDAPDisplayName)
	key    string   // folded name
	values []string // as published
	folded []string // folded values, for matching
}

type rdn struct{ typ, value string } // both folded

type entry struct {
	dn       string
	ndn      string // normalized DN
	parent   string // normalized DN of the parent; "" for a naming context
	rdns     []rdn
	category string // folded class name that objectCategory=<name> matches
	attrs    []attr
}

func (e *entry) attr(key string) *attr {
	for i := range e.attrs {
		if e.attrs[i].key == key {
			return &e.attrs[i]
		}
	}
	return nil
}

func (e *entry) add(name string, values ...string) {
	if len(values) == 0 {
		return
	}
	a := attr{name: name, key: strings.ToLower(name), values: values, folded: make([]string, len(values))}
	for i, v := range values {
		a.folded[i] = strings.ToLower(v)
	}
	e.attrs = append(e.attrs, a)
}

var errBadDN = errors.New("invalid DN syntax")

// parseDN splits a DN into folded RDNs. Escaped commas and plus signs stay inside
// their value; multi-valued RDNs are kept as one value.
func parseDN(dn string) ([]rdn, error) {
	dn = strings.TrimSpace(dn)
	if dn == "" {
		return nil, nil
	}
	var out []rdn
	start := 0
	for i := 0; i <= len(dn); i++ {
		if i < len(dn) && dn[i] == '\\' {
			i++
			continue
		}
		if i < len(dn) && dn[i] != ',' && dn[i] != ';' {
			continue
		}
		part := dn[start:i]
		start = i + 1
		t, v, ok := strings.Cut(part, "=")
		t, v = strings.TrimSpace(t), strings.TrimSpace(v)
		if !ok || !validOIDOrName(t) {
			return nil, fmt.Errorf("%q: %w", dn, errBadDN)
		}
		out = append(out, rdn{typ: strings.ToLower(t), value: strings.ToLower(v)})
	}
	return out, nil
}

func joinRDNs(r []rdn) string {
	var b strings.Builder
	for i, x := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.typ)
		b.WriteByte('=')
		b.WriteString(x.value)
	}
	return b.String()
}

// normalizeDN folds a DN for comparison: "CN=System, DC=Corp" → "cn=system,dc=corp".
func normalizeDN(dn string) (string, error) {
	r, err := parseDN(dn)
	if err != nil {
		return "", err
	}
	return joinRDNs(r), nil
}

// tree is one immutable snapshot of what is served; Publish swaps it whole.
type tree struct {
	domainDN string
	forestDN string
	entries  []*entry // parents before children
	byDN     map[string]*entry
	rootDSE  [2]*entry // by Kind
}

func (t *tree) addEntry(dn, category string, objectClass []string) *entry {
	r, err := parseDN(dn)
	if err != nil { // every DN here is built by this package from validated names
		panic(fmt.Sprintf("directory: built a bad DN %q: %v", dn, err))
	}
	e := &entry{dn: dn, ndn: joinRDNs(r), parent: joinRDNs(r[1:]), rdns: r, category: strings.ToLower(category)}
	e.add("objectClass", objectClass...)
	cn := dn[strings.IndexByte(dn, '=')+1 : strings.IndexByte(dn+",", ',')]
	if r[0].typ == "cn" {
		e.add("cn", cn)
	} else {
		e.add("dc", cn)
	}
	e.add("name", cn)
	e.add("distinguishedName", dn)
	if t.forestDN != "" {
		e.add("objectCategory", "CN="+schemaClassCN[category]+",CN=Schema,CN=Configuration,"+t.forestDN)
	}
	t.entries = append(t.entries, e)
	t.byDN[e.ndn] = e
	return e
}

// schemaClassCN names each class's schema object (the objectCategory DN).
var schemaClassCN = map[string]string{
	"domainDNS":                 "Domain-DNS",
	"container":                 "Container",
	"mSSMSSite":                 "MS-SMS-Site",
	"mSSMSManagementPoint":      "MS-SMS-Management-Point",
	"mSSMSServerLocatorPoint":   "MS-SMS-Server-Locator-Point",
	"mSSMSRoamingBoundaryRange": "MS-SMS-Roaming-Boundary-Range",
}

// scpClasses is the class chain of a serviceConnectionPoint, which the MP and SLP
// classes extend.
var scpClasses = []string{"top", "leaf", "connectionPoint", "serviceConnectionPoint"}

// SystemManagementDN is the container that holds the publication in domainDN.
func SystemManagementDN(domainDN string) string {
	return "CN=System Management,CN=System," + domainDN
}

// buildTree turns a normalized publication into the served objects.
func buildTree(p Publication, hostName string) *tree {
	domainDN, _ := DomainDN(p.Domain)
	forestDN, _ := DomainDN(p.Forest)
	t := &tree{domainDN: domainDN, forestDN: forestDN, byDN: map[string]*entry{}}
	t.rootDSE[LDAP] = rootDSE(domainDN, forestDN, p.Domain, hostName, LDAP)
	t.rootDSE[GlobalCatalog] = rootDSE(domainDN, forestDN, p.Domain, hostName, GlobalCatalog)

	d := t.addEntry(domainDN, "domainDNS", []string{"top", "domain", "domainDNS"})
	d.parent = "" // a naming context
	d.add("rootDomainNamingContext", forestDN)
	t.addEntry("CN=System,"+domainDN, "container", []string{"top", "container"})
	if !p.Enabled {
		return t
	}
	sm := SystemManagementDN(domainDN)
	t.addEntry(sm, "container", []string{"top", "container"})
	for _, s := range p.Sites {
		e := t.addEntry("CN=SMS-Site-"+s.Code+","+sm, "mSSMSSite", []string{"top", "mSSMSSite"})
		e.add("mSSMSSiteCode", s.Code)
		e.add("mSSMSSourceForest", p.Forest)
		e.add("mSSMSHealthState", healthState(s))
		e.add("mSSMSRoamingBoundaries", s.RoamingBoundaries...)
		for _, r := range s.BoundaryRanges {
			b := t.addEntry("CN=SMS-"+s.Code+"-"+r.Low.String()+"-"+r.High.String()+","+sm,
				"mSSMSRoamingBoundaryRange", []string{"top", "mSSMSRoamingBoundaryRange"})
			b.add("mSSMSSiteCode", s.Code)
			b.add("mSSMSAssignmentSiteCode", s.Code)
			b.add("mSSMSRangedIPLow", strconv.FormatUint(uint64(ipv4Number(r.Low)), 10))
			b.add("mSSMSRangedIPHigh", strconv.FormatUint(uint64(ipv4Number(r.High)), 10))
			b.add("mSSMSSourceForest", p.Forest)
		}
	}
	root := map[string]string{}
	for _, s := range p.Sites {
		root[s.Code] = s.RootSiteCode
	}
	for _, m := range p.MPs {
		upper := strings.ToUpper(m.FQDN)
		e := t.addEntry("CN=SMS-MP-"+m.SiteCode+"-"+upper+","+sm, "mSSMSManagementPoint",
			append(append([]string(nil), scpClasses...), "mSSMSManagementPoint"))
		e.add("mSSMSMPName", upper)
		e.add("dNSHostName", m.FQDN)
		e.add("mSSMSSiteCode", m.SiteCode)
		e.add("mSSMSSourceForest", p.Forest)
		if m.Addr.IsValid() {
			e.add("mSSMSMPAddress", m.Addr.String())
		}
		e.add("mSSMSDefaultMP", adBool(m.Default))
		e.add("mSSMSDeviceManagementPoint", adBool(m.DeviceMP))
		e.add("mSSMSVersion", strconv.Itoa(m.Version))
		e.add(PortsAttribute, mpCapabilities(m, root[m.SiteCode]).String())
	}
	for _, s := range p.SLPs {
		upper := strings.ToUpper(s.FQDN)
		e := t.addEntry("CN=SMS-SLP-"+s.SiteCode+"-"+upper+","+sm, "mSSMSServerLocatorPoint",
			append(append([]string(nil), scpClasses...), "mSSMSServerLocatorPoint"))
		e.add("mSSMSMPName", upper)
		e.add("dNSHostName", s.FQDN)
		e.add("mSSMSSiteCode", s.SiteCode)
		e.add("mSSMSSourceForest", p.Forest)
	}
	return t
}

func mpCapabilities(m MP, rootSite string) Capabilities {
	c := Capabilities{
		Version:      fmt.Sprintf("5.00.%d.1000", m.Version),
		CommandLine:  "SMSSITECODE=" + m.SiteCode,
		RootSiteCode: rootSite,
		FSP:          m.FSP,
		Ports:        m.Ports,
		HasPorts:     !m.Ports.IsZero(),
	}
	if m.HTTPS {
		c.SecurityModeMaskEx |= SecuritySSLEnabled
	}
	return c
}

// healthState is mSSMSHealthState. Public tools read the site GUID from it as
// "<code>.{GUID}"; the rest of the shape is unconfirmed, so portlab publishes a small
// document around that.
func healthState(s Site) string {
	return `<SiteHealth><SiteID>` + s.Code + "." + s.GUID + `</SiteID><State>Active</State></SiteHealth>`
}

func adBool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// ipv4Number is an IPv4 address as the integer mSSMSRangedIPLow/High hold.
func ipv4Number(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func rootDSE(domainDN, forestDN, domain, host string, kind Kind) *entry {
	e := &entry{}
	e.add("objectClass", "top")
	e.add("namingContexts", domainDN)
	e.add("defaultNamingContext", domainDN)
	e.add("rootDomainNamingContext", forestDN)
	e.add("configurationNamingContext", "CN=Configuration,"+forestDN)
	e.add("schemaNamingContext", "CN=Schema,CN=Configuration,"+forestDN)
	e.add("dnsHostName", host)
	shortHost, _, _ := strings.Cut(host, ".")
	e.add("ldapServiceName", domain+":"+strings.ToLower(shortHost)+"$@"+strings.ToUpper(domain))
	e.add("supportedLDAPVersion", "3")
	e.add("isSynchronized", "TRUE")
	e.add("isGlobalCatalogReady", adBool(kind == GlobalCatalog))
	return e
}

// emptyRootDSE is served before the first Publish.
func emptyRootDSE() *entry {
	e := &entry{}
	e.add("objectClass", "top")
	e.add("supportedLDAPVersion", "3")
	return e
}

// searchResult is what one search found, before attribute selection.
type searchResult struct {
	entries []*entry
	code    int
	matched string
	diag    string
}

// search runs one search on t (nil before the first Publish).
func (t *tree) search(kind Kind, baseDN string, scope int64, f *filter, sizeLimit int64) searchResult {
	base, err := normalizeDN(baseDN)
	if err != nil {
		return searchResult{code: resultInvalidDNSyntax, diag: err.Error()}
	}
	var candidates []*entry
	switch {
	case base == "" && scope == scopeBase:
		if t == nil {
			candidates = []*entry{emptyRootDSE()}
		} else {
			candidates = []*entry{t.rootDSE[kind]}
		}
	case base == "":
		// The naming contexts (one level) or everything (subtree), as a global
		// catalog answers a search of the whole forest.
		if t != nil {
			for _, e := range t.entries {
				if scope == scopeSubtree || e.parent == "" {
					candidates = append(candidates, e)
				}
			}
		}
	default:
		var b *entry
		if t != nil {
			b = t.byDN[base]
		}
		if b == nil {
			return searchResult{code: resultNoSuchObject, matched: t.matchedDN(base), diag: "no such object"}
		}
		for _, e := range t.entries {
			switch scope {
			case scopeBase:
				if e == b {
					candidates = append(candidates, e)
				}
			case scopeOne:
				if e.parent == b.ndn {
					candidates = append(candidates, e)
				}
			default:
				if e == b || strings.HasSuffix(e.ndn, ","+b.ndn) {
					candidates = append(candidates, e)
				}
			}
		}
	}
	var out searchResult
	for _, e := range candidates {
		if !f.match(e) {
			continue
		}
		if sizeLimit > 0 && int64(len(out.entries)) >= sizeLimit {
			out.code = resultSizeLimitExceeded
			return out
		}
		out.entries = append(out.entries, e)
	}
	return out
}

// matchedDN is the longest existing ancestor of a missing base (as published).
func (t *tree) matchedDN(base string) string {
	if t == nil {
		return ""
	}
	for n := base; n != ""; {
		if e := t.byDN[n]; e != nil {
			return e.dn
		}
		_, rest, ok := strings.Cut(n, ",")
		if !ok {
			break
		}
		n = rest
	}
	return ""
}

// selected is one attribute of an entry as returned.
type selected struct {
	name   string
	values []string
}

// selectAttrs applies a request's attribute list: none or "*" is every attribute,
// "1.1" alone is none, "+" adds nothing (nothing operational is served), other names
// pick attributes case-insensitively.
func selectAttrs(e *entry, want []string, typesOnly bool) []selected {
	all := len(want) == 0
	for _, w := range want {
		if w == "*" {
			all = true
		}
	}
	out := make([]selected, 0, len(e.attrs))
	for i := range e.attrs {
		a := &e.attrs[i]
		if !all && !wanted(a.key, want) {
			continue
		}
		s := selected{name: a.name, values: a.values}
		if typesOnly {
			s.values = nil
		}
		out = append(out, s)
	}
	return out
}

func wanted(key string, want []string) bool {
	for _, w := range want {
		if t, _, _ := strings.Cut(w, ";"); strings.EqualFold(t, key) {
			return true
		}
	}
	return false
}

// LDAP result codes and scopes (RFC 4511) used here.
const (
	resultSuccess            = 0
	resultProtocolError      = 2
	resultSizeLimitExceeded  = 4
	resultAuthMethodNotSupp  = 7
	resultAdminLimitExceeded = 11
	resultNoSuchObject       = 32
	resultInvalidDNSyntax    = 34
	resultUnwillingToPerform = 53
	resultOther              = 80

	scopeBase    = 0
	scopeOne     = 1
	scopeSubtree = 2
)
