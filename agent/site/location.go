package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/portlab/portlab/agent/site/directory"
	"github.com/portlab/portlab/agent/site/sitedns"
)

// The site server is also the lab's domain controller and DNS server: one namespace
// (the site server's, on site.segment) serves the AD DS publication over LDAP on 389 and
// the global catalog on 3268, and the DNS zone on 53 over UDP and TCP. A firewall rule
// towards the site segment on those ports has the effect it has on a real network.
//
//	client ──TCP 3268──► directory (gldap)   CN=System Management,CN=System,DC=corp,DC=example
//	client ──UDP/TCP 53─► sitedns (miekg/dns) _mssms_mp_ps1._tcp.corp.example SRV, MPs' A
//
// Location holds what the site publishes when the run starts; Publish changes it as the
// site republishes (the orchestrator calls it after the scenario's publication delay).

// Well-known service location ports.
const (
	PortLDAP = 389
	PortGC   = 3268
	PortDNS  = 53
)

// Ports are a site's client request ports as the site publishes them (0: none).
type Ports struct {
	HTTP           uint16 `json:"http"`
	HTTPAlternate  uint16 `json:"http_alternate,omitempty"`
	HTTPS          uint16 `json:"https"`
	HTTPSAlternate uint16 `json:"https_alternate,omitempty"`
}

// PublishedMP is one management point the site publishes.
type PublishedMP struct {
	Name string     `json:"name"` // host name; FQDN is <name>.<domain>
	Site string     `json:"site"` // its site code (a secondary site's MP publishes the primary's ports)
	Addr netip.Addr `json:"addr"`
}

// Location is the site's service location publication and where it is served.
type Location struct {
	Domain      string   `json:"domain"`
	SiteCode    string   `json:"site_code"`
	Secondaries []string `json:"secondaries,omitempty"`
	// Listeners; an invalid address is not served.
	LDAP netip.AddrPort `json:"ldap"`
	GC   netip.AddrPort `json:"gc"`
	DNS  netip.AddrPort `json:"dns"`
	// HostAddr is the site server's own address, its A record (dc1.<domain>, ns1.<domain>).
	HostAddr netip.Addr `json:"host_addr,omitzero"`
	// Whether the site publishes to AD DS and the MPs' SRV records to DNS.
	PublishAD  bool          `json:"publish_ad"`
	PublishDNS bool          `json:"publish_dns"`
	Ports      Ports         `json:"ports"`
	MPs        []PublishedMP `json:"mps"`
}

// PublishArgs are the "publish" command's Args: what changes in the publication; absent
// fields keep their value.
type PublishArgs struct {
	AD    *bool  `json:"ad,omitempty"`
	DNS   *bool  `json:"dns,omitempty"`
	Ports *Ports `json:"ports,omitempty"`
}

// RecordArgs are the "dns_record" command's Args: a hand-made SRV record. It replaces
// an earlier hand-made record with the same name and target.
type RecordArgs struct {
	Name   string `json:"name"`   // relative to the domain, or absolute inside it
	Port   uint16 `json:"port"`   // the port it advertises
	Target string `json:"target"` // an MP's name, or an FQDN inside the domain
}

// LocationStats are the publication's state and the servers' counters.
type LocationStats struct {
	PublishAD    bool                      `json:"publish_ad"`
	PublishDNS   bool                      `json:"publish_dns"`
	Ports        Ports                     `json:"ports"`
	Publications int                       `json:"publications"` // Publish calls that changed something
	Records      []string                  `json:"records,omitempty"`
	LDAP         []directory.ListenerStats `json:"ldap,omitempty"`
	DNS          sitedns.Stats             `json:"dns"`
}

// LocationServer serves a Location: the directory and the DNS zone.
type LocationServer struct {
	dir *directory.Server
	dns *sitedns.Server

	mu      sync.Mutex
	loc     Location
	pubs    int
	records map[string]string // name and target -> the record as served
	addrs   [3]netip.AddrPort // ldap, gc, dns as bound
}

// StartLocation validates loc, publishes it and starts its listeners. On error nothing
// is left listening.
func StartLocation(ctx context.Context, loc Location, log *slog.Logger) (*LocationServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &LocationServer{loc: loc, records: map[string]string{},
		dir: directory.New(directory.Options{Logger: log}), dns: sitedns.New(sitedns.Options{Logger: log})}
	if err := s.publishLocked(); err != nil {
		return nil, err
	}
	fail := func(err error) (*LocationServer, error) {
		_ = s.Close()
		return nil, err
	}
	var err error
	if loc.LDAP.IsValid() {
		if s.addrs[0], err = s.dir.Listen(ctx, loc.LDAP, directory.LDAP); err != nil {
			return fail(err)
		}
	}
	if loc.GC.IsValid() {
		if s.addrs[1], err = s.dir.Listen(ctx, loc.GC, directory.GlobalCatalog); err != nil {
			return fail(err)
		}
	}
	if loc.DNS.IsValid() {
		if s.addrs[2], err = s.dns.Listen(ctx, loc.DNS); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// Addrs returns the LDAP, global catalog and DNS addresses served (invalid: not served).
func (s *LocationServer) Addrs() (ldap, gc, dns netip.AddrPort) {
	return s.addrs[0], s.addrs[1], s.addrs[2]
}

// Location returns the publication as it stands.
func (s *LocationServer) Location() Location {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loc
}

// Publish applies a change of the publication to both servers at once.
func (s *LocationServer) Publish(a PublishArgs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.loc
	if a.AD != nil {
		s.loc.PublishAD = *a.AD
	}
	if a.DNS != nil {
		s.loc.PublishDNS = *a.DNS
	}
	if a.Ports != nil {
		s.loc.Ports = *a.Ports
	}
	if err := s.publishLocked(); err != nil {
		s.loc = old
		_ = s.publishLocked()
		return err
	}
	if s.loc.PublishAD != old.PublishAD || s.loc.PublishDNS != old.PublishDNS || s.loc.Ports != old.Ports {
		s.pubs++
	}
	return nil
}

// publishLocked builds the publication and the zone from s.loc and serves them.
func (s *LocationServer) publishLocked() error {
	l := s.loc
	dp := directory.Ports{HTTP: l.Ports.HTTP, HTTPAlternate: l.Ports.HTTPAlternate, HTTPS: l.Ports.HTTPS, HTTPSAlternate: l.Ports.HTTPSAlternate}
	pub := directory.Publication{Domain: l.Domain, Enabled: l.PublishAD}
	for _, c := range append([]string{l.SiteCode}, l.Secondaries...) {
		pub.Sites = append(pub.Sites, directory.Site{Code: c, RootSiteCode: l.SiteCode})
	}
	zone := sitedns.Zone{Domain: l.Domain, NSAddr: l.HostAddr}
	if l.HostAddr.IsValid() {
		zone.Hosts = append(zone.Hosts, sitedns.Host{Name: "dc1." + l.Domain, Addr: l.HostAddr})
	}
	defaults := map[string]bool{}
	for _, m := range l.MPs {
		site := m.Site
		if site == "" {
			site = l.SiteCode
		}
		fqdn := m.Name + "." + l.Domain
		pub.MPs = append(pub.MPs, directory.MP{FQDN: fqdn, SiteCode: site, Addr: m.Addr, Ports: dp, Default: !defaults[site]})
		defaults[site] = true
		if l.PublishDNS {
			// The SRV record carries the HTTP request port (sitedns.SRVPort of an HTTP MP).
			zone.MPs = append(zone.MPs, sitedns.MP{FQDN: fqdn, Addr: m.Addr, SiteCode: site, HTTPPort: l.Ports.HTTP, HTTPSPort: l.Ports.HTTPS})
		} else {
			// Not published for service location, but still a host of the domain.
			zone.Hosts = append(zone.Hosts, sitedns.Host{Name: fqdn, Addr: m.Addr})
		}
	}
	if err := s.dir.Publish(pub); err != nil {
		return fmt.Errorf("publish to AD DS: %w", err)
	}
	if err := s.dns.Publish(zone); err != nil {
		return fmt.Errorf("publish to DNS: %w", err)
	}
	return nil
}

// ErrRecord is wrapped when a hand-made record cannot be added.
var ErrRecord = errors.New("bad DNS record")

// AddRecord adds a hand-made SRV record, replacing one with the same name and target,
// and returns it as served.
func (s *LocationServer) AddRecord(a RecordArgs) (string, error) {
	if a.Port == 0 {
		return "", fmt.Errorf("dns record %s: no port: %w", a.Name, ErrRecord)
	}
	absolute := strings.HasSuffix(a.Name, ".")
	name := strings.ToLower(strings.TrimSuffix(a.Name, "."))
	if name == "" {
		return "", fmt.Errorf("dns record: no name: %w", ErrRecord)
	}
	target := strings.ToLower(strings.TrimSuffix(a.Target, "."))
	s.mu.Lock()
	defer s.mu.Unlock()
	dom := strings.ToLower(s.loc.Domain)
	if !strings.Contains(target, ".") {
		target += "." + dom
	}
	// Relative to the domain, unless absolute (a trailing dot) or ending with it.
	if !absolute && name != dom && !strings.HasSuffix(name, "."+dom) {
		name += "." + dom
	}
	text := fmt.Sprintf("%s. %d IN SRV %d %d %d %s.", name, sitedns.SRVTTL, sitedns.SRVPriority, sitedns.SRVWeight, a.Port, target)
	key := name + " " + target
	if old, ok := s.records[key]; ok {
		if _, err := s.dns.RemoveStatic(old); err != nil {
			return "", fmt.Errorf("dns record %s: replace: %w", key, err)
		}
	}
	if err := s.dns.AddStatic(text); err != nil {
		if old, ok := s.records[key]; ok {
			_ = s.dns.AddStatic(old)
		}
		return "", fmt.Errorf("dns record %s: %w: %w", key, ErrRecord, err)
	}
	s.records[key] = text
	return text, nil
}

// Stats returns the publication's state and both servers' counters.
func (s *LocationServer) Stats() LocationStats {
	s.mu.Lock()
	st := LocationStats{PublishAD: s.loc.PublishAD, PublishDNS: s.loc.PublishDNS, Ports: s.loc.Ports, Publications: s.pubs}
	for _, r := range s.records {
		st.Records = append(st.Records, r)
	}
	s.mu.Unlock()
	sort.Strings(st.Records)
	st.LDAP = s.dir.Stats()
	st.DNS = s.dns.Stats()
	return st
}

// Close stops both servers (idempotent).
func (s *LocationServer) Close() error {
	return errors.Join(s.dir.Close(), s.dns.Close())
}
