// Package directory is the site's Active Directory Domain Services publication, served
// over real LDAP, and the client-side lookup the simulated clients run against it.
//
// A ConfigMgr site that publishes to AD DS writes objects under
//
//	CN=System Management,CN=System,<domain DN>
//
// and domain clients of the same forest, on the intranet, read them at their next
// service-location refresh: that is how they learn a new management point (MP) or new
// request ports. This package serves that container (anonymous read, as a domain
// computer account would read it; simple binds with any name and password succeed too)
// on any number of LDAP listeners — the site agent passes 389 and the global catalog
// 3268 — and gives the fleet [Lookup], which binds anonymously and runs the searches a
// client runs, over a connection the fleet dialed from the client's own address.
//
// What is served, for a domain corp.example (DC=corp,DC=example):
//
//	DC=corp,DC=example                                   domain, domainDNS
//	└─ CN=System                                         container
//	   └─ CN=System Management                           container (gone when Publication.Enabled is false)
//	      ├─ CN=SMS-Site-PS1                             mSSMSSite
//	      ├─ CN=SMS-MP-PS1-MP1.CORP.EXAMPLE              mSSMSManagementPoint
//	      ├─ CN=SMS-SLP-PS1-SLP1.CORP.EXAMPLE            mSSMSServerLocatorPoint (optional)
//	      └─ CN=SMS-PS1-198.18.16.0-198.18.31.255        mSSMSRoamingBoundaryRange (optional)
//
// plus the RootDSE (base "", scope base). Object classes, attribute names and syntaxes
// follow the ConfigMgr schema extension (ConfigMgr_ad_schema.ldf): mSSMSManagementPoint
// and mSSMSServerLocatorPoint are serviceConnectionPoints; mSSMSDefaultMP and
// mSSMSDeviceManagementPoint are Booleans (TRUE/FALSE); mSSMSVersion is an integer;
// mSSMSRoamingBoundaryRange is a class of its own (mSSMSRangedIPLow/High as integers),
// while the site object carries mSSMSRoamingBoundaries. Object names follow public AD
// dumps: an MP object is named by its site code and its FQDN in upper case.
//
// # Where the request ports are (a portlab choice)
//
// No public source says which attribute carries a site's client request ports (see
// DOMAIN.md: "unconfirmed"). portlab puts them in exactly one place, the MP object's
// mSSMSCapabilities XML, as an element of <ClientOperationalSettings>:
//
//	<IISPorts HTTP="80" HTTPAlternate="8080" HTTPS="443" HTTPSAlternate="8443"/>
//
// (an attribute is left out when the site has no such port). The element is named after
// the site control file's IISPortsList/IISSSLPortsList. [PortsElement] and the
// PortAttr constants name it; [ParseCapabilities] and so [Lookup] read the ports from
// there and nowhere else. Other unconfirmed shapes, each a portlab choice: the
// mSSMSHealthState document (public tools only read "<code>.{GUID}" from it),
// mSSMSMPAddress (the MP's IP address as text), the <Version> of
// <ClientOperationalSettings> ("5.00.<build>.1000"), HTTPS capability as bit 0x1 of
// <SecurityModeMaskEx>, the names of server locator point and boundary range objects,
// and the searches a client runs (RootDSE, then site, then MPs, each under the System
// Management container, filtered on objectClass and mSSMSSiteCode).
//
// # What it is not
//
// Not a directory server: no writes, no schema, no referrals, no paging, no TLS, no
// Kerberos or NTLM (a SASL bind closes the connection). The global-catalog listener
// serves the same tree as the LDAP one (the MP and site attributes are all in the
// partial attribute set). The server is built on github.com/jimlambrt/gldap, which owns
// its listening sockets: see Server.Listen for what that costs.
package directory

// Where the request ports are published: an element of the MP object's mSSMSCapabilities
// XML, with one attribute per port. A port the site does not have is left out.
const (
	// PortsAttribute is the LDAP attribute that holds the ports.
	PortsAttribute = "mSSMSCapabilities"
	// PortsElement is the XML path of the ports element inside that attribute's value.
	PortsElement = "ClientOperationalSettings/IISPorts"

	PortAttrHTTP           = "HTTP"
	PortAttrHTTPAlternate  = "HTTPAlternate"
	PortAttrHTTPS          = "HTTPS"
	PortAttrHTTPSAlternate = "HTTPSAlternate"
)
