package plan

import (
	"net/netip"

	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/scenarios"
)

// The site server is the lab's domain controller and DNS server: the site agent serves
// the AD DS publication on 389 and the global catalog on 3268, and the DNS zone on 53,
// at the site server's address; the clients ask there, through the routers and
// firewalls between their segment and the site's.

// location is the site's service location publication at the start of the run.
func location(s *scenarios.Scenario, addr netip.Addr, mps []MP) *site.Location {
	l := &site.Location{
		Domain: s.Site.Domain, SiteCode: s.Site.Code, Secondaries: s.Site.Secondaries,
		LDAP: netip.AddrPortFrom(addr, site.PortLDAP), GC: netip.AddrPortFrom(addr, site.PortGC),
		DNS: netip.AddrPortFrom(addr, site.PortDNS), HostAddr: addr,
		PublishAD: *s.Site.Publish.AD, PublishDNS: *s.Site.Publish.DNS,
		Ports: publishedPorts(s.InitialSite().Ports),
	}
	for _, m := range mps {
		l.MPs = append(l.MPs, site.PublishedMP{Name: m.Name, Site: m.Site, Addr: m.Addr})
	}
	return l
}

// publishedPorts are the request ports the site publishes in AD DS (and DNS's SRV port).
func publishedPorts(p scenarios.SitePorts) site.Ports {
	return site.Ports{HTTP: uint16(p.HTTP.Default), HTTPAlternate: uint16(p.HTTP.Alternate),
		HTTPS: uint16(p.HTTPS.Default), HTTPSAlternate: uint16(p.HTTPS.Alternate)}
}

// fleetLocation is where the clients ask: the site server's global catalog and DNS.
func (p *Plan) fleetLocation() *fleet.Location {
	if p.Site.Location == nil {
		return nil
	}
	return &fleet.Location{GlobalCatalog: p.Site.Location.GC, DNS: p.Site.Location.DNS}
}
