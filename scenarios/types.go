// Package scenarios is portlab's scenario format (version 1): the Go types a scenario
// YAML file decodes into, the strict loader that reports every problem of a file with
// file:line:col, the one place where defaults are filled (ApplyDefaults), semantic
// validation, the JSON Schema generated from the types, the gate metrics, and the
// built-in scenarios and the starter file embedded in the binary.
//
// It is not the run: plan lowers a validated scenario into what the agents need, and
// nothing here touches the network or starts a process. It imports no other portlab
// package.
package scenarios

// CurrentVersion is the only scenario format version this build reads.
const CurrentVersion = 1

// Scenario is one rehearsal of a port change: a site and its ports, a network of
// segments joined by routers and firewalls, management points, groups of simulated
// clients, a timeline of changes, and the gates that decide pass or fail.
//
// Every field is documented here; the JSON Schema (scenario.schema.json) is generated
// from these types, so the comments are also what an editor shows on hover.
type Scenario struct {
	// Format version; must be 1.
	Version int `yaml:"version" json:"version" jsonschema:"enum=1"`
	// Short name, used in result directory names: lower case letters, digits and dashes,
	// at most 63 characters (as every name of a scenario).
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9][a-z0-9-]*$,maxLength=63"`
	// One-line description shown by `portlab list`.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// How long the load runs (for example 60s). Required; at most 1h, so no run is unbounded.
	Duration Duration `yaml:"duration" json:"duration"`
	// Clients start spread evenly over this window at the beginning of the run, every group over the whole window, the groups interleaved (default 5s, at most the duration).
	Ramp Duration `yaml:"ramp,omitempty" json:"ramp,omitempty"`
	// Seed for every random choice (jitter, MAC addresses, error injection); same seed, same schedule.
	Seed int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// The primary site: its code and the client communication ports it publishes.
	Site Site `yaml:"site" json:"site"`
	// Segments (subnets) and the routers/firewalls joining them.
	Network Network `yaml:"network" json:"network"`
	// Fake management points, each in its own namespace on a segment.
	ManagementPoints []ManagementPoint `yaml:"management_points" json:"management_points"`
	// Groups of simulated clients, each installed with its own ports and settings.
	Clients []ClientGroup `yaml:"clients" json:"clients"`
	// Changes applied during the run, at offsets from its start.
	Timeline []Event `yaml:"timeline,omitempty" json:"timeline,omitempty"`
	// Checks on the result; any failing gate makes the run exit 1.
	Gates []Gate `yaml:"gates,omitempty" json:"gates,omitempty"`
}

// Site is the primary site (and its secondary sites, which inherit its ports).
type Site struct {
	// Three-character site code, such as PS1.
	Code string `yaml:"code" json:"code" jsonschema:"pattern=^[A-Za-z0-9]{3}$"`
	// Codes of secondary sites under this primary. They inherit the primary site's ports;
	// a management point names its site with `site:`.
	Secondaries []string `yaml:"secondaries,omitempty" json:"secondaries,omitempty"`
	// Segment the site server (which sends wake-up packets) sits on (default: the first
	// management point's segment).
	Segment string `yaml:"segment,omitempty" json:"segment,omitempty"`
	// Client request, notification and wake-up ports the site publishes.
	Ports SitePorts `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Site systems use the custom website (SMSWEB in IIS): `true`, or its ports
	// `{enabled: true, http: 8008, https: 4433}`. While it is on, every site system
	// answers on the custom website's ports instead of the default ports above.
	CustomWebsite CustomWebsite `yaml:"custom_website,omitempty" json:"custom_website,omitempty"`
	// The site's AD DS and DNS domain (default corp.example): the directory's
	// DC=corp,DC=example, the DNS zone of the MPs' records and the clients' FQDNs.
	Domain string `yaml:"domain,omitempty" json:"domain,omitempty" jsonschema:"maxLength=253"`
	// Service location publication: whether the site publishes to AD DS and DNS, and how
	// long a site change takes to reach them.
	Publish Publish `yaml:"publish,omitempty" json:"publish,omitempty"`
}

// CustomWebsite is the site's custom website (SMSWEB): off, or on with its ports.
type CustomWebsite struct {
	// The site systems use the custom website.
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// HTTP request port of the custom website (default: the site's HTTP default port).
	HTTP int `yaml:"http,omitempty" json:"http,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// HTTPS request port of the custom website (default: the site's HTTPS default port).
	HTTPS int `yaml:"https,omitempty" json:"https,omitempty" jsonschema:"minimum=1,maximum=65535"`
}

// Publish is the site's service location publication (the site's "Publish this site in
// Active Directory Domain Services" and DNS publishing options).
type Publish struct {
	// Publish the site and its MPs to AD DS, where domain clients read them (default true).
	AD *bool `yaml:"ad,omitempty" json:"ad,omitempty"`
	// Publish the MPs' _mssms_mp_<site>._tcp SRV records in DNS (default true).
	DNS *bool `yaml:"dns,omitempty" json:"dns,omitempty"`
	// How long a site change (site_ports, custom_website) takes to reach AD DS and DNS:
	// the site republishes on its own schedule (default 10s; 0s: at once).
	Delay *Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
}

// SitePorts are the ports configured on the site's Ports tab (Configure client communication ports).
type SitePorts struct {
	// Client request port for HTTP (default 80, no alternate).
	HTTP RequestPort `yaml:"http,omitempty" json:"http,omitempty"`
	// Client request port for HTTPS (default 443, no alternate).
	HTTPS RequestPort `yaml:"https,omitempty" json:"https,omitempty"`
	// Client notification port, TCP (default 10123).
	Notification int `yaml:"notification,omitempty" json:"notification,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Wake-up port, UDP (default 9).
	Wakeup int `yaml:"wakeup,omitempty" json:"wakeup,omitempty" jsonschema:"minimum=1,maximum=65535"`
}

// RequestPort is a request port with an optional alternate. A client tries the default
// and, when communication fails there, the alternate (if it knows it).
type RequestPort struct {
	// The default port.
	Default int `yaml:"default,omitempty" json:"default,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// The alternate port; 0 or absent means none.
	Alternate int `yaml:"alternate,omitempty" json:"alternate,omitempty" jsonschema:"minimum=0,maximum=65535"`
}

// Network is the topology: segments (subnets) and routers joining them.
type Network struct {
	// Subnets. A segment with `clients` is a client segment: its clients live there.
	Segments []Segment `yaml:"segments" json:"segments"`
	// Routers, optionally with a firewall, each linking two or more segments.
	Routers []Router `yaml:"routers,omitempty" json:"routers,omitempty"`
}

// Segment is one subnet. Every address comes from 198.18.0.0/15 (RFC 2544).
type Segment struct {
	// Unique name, referred to by routers, management points and client groups.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z][a-z0-9-]*$,maxLength=63"`
	// The segment's link subnet, where routers and management points get their addresses.
	// Default: the next free /24 from 198.19.0.0/16.
	Subnet Prefix `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	// Client identity range: each client binds its own source address from it. Must lie
	// inside 198.18.0.0/15 and outside every subnet, so the gateway is never inside it.
	// Subnet-directed broadcasts for wake-up go to this range's broadcast address.
	Clients Prefix `yaml:"clients,omitempty" json:"clients,omitempty"`
	// Internet-facing segment: clients here are internet-based. Recorded in the result
	// only in this version; what they reach is the firewalls' job.
	Internet bool `yaml:"internet,omitempty" json:"internet,omitempty"`
}

// Router joins segments and forwards between them; with `firewall` it filters too.
type Router struct {
	// Unique name.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z][a-z0-9-]*$,maxLength=63"`
	// Names of the segments this router has an interface on (at least two).
	Links []string `yaml:"links" json:"links" jsonschema:"minItems=2"`
	// Forward subnet-directed broadcasts (net.ipv4.conf.*.bc_forwarding=1 in the router).
	// Usually off on real networks; wake-up by broadcast needs it on every router in the path.
	DirectedBroadcast bool `yaml:"directed_broadcast,omitempty" json:"directed_broadcast,omitempty"`
	// Keep static neighbour (ARP) entries for client addresses, as the Wake on LAN
	// documentation advises: a sleeping host answers no ARP, so unicast wake-up needs them.
	StaticNeighbors bool `yaml:"static_neighbors,omitempty" json:"static_neighbors,omitempty"`
	// Packet filter for traffic forwarded by this router. Absent: forward everything.
	Firewall *Firewall `yaml:"firewall,omitempty" json:"firewall,omitempty"`
}

// Firewall is an ordered rule list; the first matching rule decides, otherwise the default.
type Firewall struct {
	// Action for packets no rule matches (default accept).
	Default Action `yaml:"default,omitempty" json:"default,omitempty"`
	// Rules in order; the first match wins.
	Rules []Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// Rule is one firewall rule. Empty match fields match everything.
type Rule struct {
	// Name used for the rule's counters in the result (default rule<N>, 1-based).
	Name string `yaml:"name,omitempty" json:"name,omitempty" jsonschema:"pattern=^[a-z0-9][a-z0-9_-]*$,maxLength=63"`
	// Protocol: tcp, udp, icmp or any (default any).
	Proto Proto `yaml:"proto,omitempty" json:"proto,omitempty"`
	// Destination port or range, such as 443 or 8000-8999 (tcp and udp only).
	Port PortRange `yaml:"port,omitempty" json:"port,omitempty"`
	// Source segment name.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	// Destination segment name.
	To string `yaml:"to,omitempty" json:"to,omitempty"`
	// accept, drop (the client sees a connect timeout) or reject (TCP reset or ICMP port
	// unreachable: the client sees it at once).
	Action Action `yaml:"action" json:"action"`
}

// ManagementPoint is one fake MP.
type ManagementPoint struct {
	// Unique name; also the MP's host name in MPLIST.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z][a-z0-9-]*$,maxLength=63"`
	// Segment the MP sits on.
	Segment string `yaml:"segment" json:"segment"`
	// Site code this MP belongs to (default the primary site). An MP of a secondary site
	// listens on the primary site's ports, as secondary sites inherit them.
	Site string `yaml:"site,omitempty" json:"site,omitempty"`
	// TLS for the HTTPS request port and HTTPS long polling.
	TLS TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Time the MP spends on each request before answering: a fixed duration such as 2ms,
	// or a distribution (default 1ms fixed).
	ServiceTime ServiceTime `yaml:"service_time,omitempty" json:"service_time,omitempty"`
	// Fraction (0 to 1) of requests answered 500 or 503 (default 0).
	ErrorRate float64 `yaml:"error_rate,omitempty" json:"error_rate,omitempty" jsonschema:"minimum=0,maximum=1"`
	// Policy body size in bytes (default 4096).
	PolicyBytes int `yaml:"policy_bytes,omitempty" json:"policy_bytes,omitempty" jsonschema:"minimum=0"`
	// Maximum concurrent connections across all ports; 0 means no limit.
	MaxConnections int `yaml:"max_connections,omitempty" json:"max_connections,omitempty" jsonschema:"minimum=0"`
	// Worker processes sharing the MP's ports (SO_REUSEPORT), as an IIS web garden does.
	// Default: one per 12,000 clients the MP serves (portlab run --sessions-per-worker),
	// because one process may hold at most 20,000 open files here. The MP's cost is the
	// sum of its workers.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty" jsonschema:"minimum=0,maximum=64"`
	// Internet-facing MP ("allow intranet and Internet connections"): the only MPs
	// internet clients use. When no MP is internet-facing, internet clients use any.
	InternetFacing bool `yaml:"internet_facing,omitempty" json:"internet_facing,omitempty"`
}

// TLS configures the MP's server certificate, issued by a per-run CA the clients trust.
type TLS struct {
	// Key type: ecdsa-p256, rsa-2048 or rsa-3072 (default rsa-2048, as most ConfigMgr PKI).
	Key TLSKey `yaml:"key,omitempty" json:"key,omitempty"`
	// Allow TLS session resumption (default true).
	Resumption *bool `yaml:"resumption,omitempty" json:"resumption,omitempty"`
}

// ServiceTime is how long an MP works on a request.
type ServiceTime struct {
	// fixed, uniform or exponential (default fixed).
	Dist Dist `yaml:"dist,omitempty" json:"dist,omitempty"`
	// fixed: the time; exponential: the mean.
	Mean Duration `yaml:"mean,omitempty" json:"mean,omitempty"`
	// uniform: lower bound.
	Min Duration `yaml:"min,omitempty" json:"min,omitempty"`
	// uniform: upper bound.
	Max Duration `yaml:"max,omitempty" json:"max,omitempty"`
}

// ClientGroup is a set of identical simulated clients.
type ClientGroup struct {
	// Unique group name, used by timeline events and gates.
	Group string `yaml:"group" json:"group" jsonschema:"pattern=^[a-z][a-z0-9_-]*$,maxLength=63"`
	// Number of clients (1 to 100000).
	Count int `yaml:"count" json:"count" jsonschema:"minimum=1,maximum=100000"`
	// Client segment the group lives on (a segment with a `clients` range).
	Segment string `yaml:"segment" json:"segment"`
	// Management point the group is assigned to, as a boundary group would (default: each
	// client picks one at random from the MPLIST of its site, seeded).
	MP string `yaml:"mp,omitempty" json:"mp,omitempty"`
	// Request protocol: http or https (default http; https is an HTTPS-only client with a PKI certificate).
	Scheme Scheme `yaml:"scheme,omitempty" json:"scheme,omitempty"`
	// HTTP request port the client was installed with (CCMHTTPPORT; default the site's HTTP default).
	HTTPPort int `yaml:"http_port,omitempty" json:"http_port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// HTTPS request port the client was installed with (CCMHTTPSPORT; default the site's HTTPS default).
	HTTPSPort int `yaml:"https_port,omitempty" json:"https_port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Where the clients belong, which decides how they find their MP and its ports:
	// domain (MP list, AD DS, DNS), other-forest and workgroup (MP list, DNS) or internet
	// (internet-facing MPs only, no AD DS). Default domain; internet on an internet segment.
	Membership Membership `yaml:"membership,omitempty" json:"membership,omitempty"`
	// Service location refresh interval, compressed from the real 25 h (default 30s).
	LocationRefresh Duration `yaml:"location_refresh,omitempty" json:"location_refresh,omitempty"`
	// MP failover: after this many failed attempts within the window the client runs
	// service location again and picks another MP at random (default 5 in 20s, the real
	// 5 in 10 minutes compressed).
	MPFailover MPFailover `yaml:"mp_failover,omitempty" json:"mp_failover,omitempty"`
	// Whether the client knows the site's alternate port (default: domain clients do,
	// from the AD publication; workgroup, other-forest and internet clients do not).
	KnowsAlternate *bool `yaml:"knows_alternate,omitempty" json:"knows_alternate,omitempty"`
	// Notification channel: tcp (the notification port, falling back to long polling),
	// http or https (long polling only), off (default tcp).
	Notification NotifyMode `yaml:"notification,omitempty" json:"notification,omitempty"`
	// Machine policy polling interval, compressed from the real 60 min (default 10s).
	PolicyInterval Duration `yaml:"policy_interval,omitempty" json:"policy_interval,omitempty"`
	// Keep-alive interval of the TCP notification session, compressed from the real
	// ~15 min (default 60s).
	NotificationKeepalive Duration `yaml:"notification_keepalive,omitempty" json:"notification_keepalive,omitempty"`
	// How long a long poll at /bgb/handler.ashx asks the MP to hold before it polls again
	// (undocumented on a real site; default 30s).
	LongPollWait Duration `yaml:"longpoll_wait,omitempty" json:"longpoll_wait,omitempty"`
	// Heartbeat discovery interval, compressed from the real 7 days (default 60s).
	HeartbeatInterval Duration `yaml:"heartbeat_interval,omitempty" json:"heartbeat_interval,omitempty"`
	// Connect timeout per attempt (default 5s).
	ConnectTimeout Duration `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty"`
	// Retries on a port before moving on (default 1).
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty" jsonschema:"minimum=0,maximum=10"`
	// A client is unmanaged after this many consecutive failed cycles (default 3).
	UnmanagedAfter int `yaml:"unmanaged_after,omitempty" json:"unmanaged_after,omitempty" jsonschema:"minimum=1,maximum=100"`
	// Clients start asleep and send nothing until a wake-up packet reaches them.
	Asleep bool `yaml:"asleep,omitempty" json:"asleep,omitempty"`
}

// MPFailover is when a client gives up on its MP.
type MPFailover struct {
	// Failed attempts (requests that got no answer or an error) that trigger failover (default 5).
	Failures int `yaml:"failures,omitempty" json:"failures,omitempty" jsonschema:"minimum=1,maximum=100"`
	// Window the failures must fall in, counted from the first of them (default 20s).
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
}

// Event is one timeline entry: `at` plus exactly one action.
type Event struct {
	// Offset from the start of the run; must lie within the duration.
	At Duration `yaml:"at" json:"at"`
	// Change the site's ports (only the fields given change).
	SitePorts *SitePortsChange `yaml:"site_ports,omitempty" json:"site_ports,omitempty"`
	// Reconfigure a client group's installed ports.
	Reconfigure *Reconfigure `yaml:"reconfigure,omitempty" json:"reconfigure,omitempty"`
	// Replace a router's firewall rules (atomically).
	Firewall *FirewallChange `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	// Push a client notification (for example "download computer policy").
	Notify *Notify `yaml:"notify,omitempty" json:"notify,omitempty"`
	// Send wake-up packets from the site server.
	Wake *Wake `yaml:"wake,omitempty" json:"wake,omitempty"`
	// Stop or start a management point.
	MP *MPAction `yaml:"mp,omitempty" json:"mp,omitempty"`
	// Turn the site's AD DS or DNS publication off or on (at once, no delay).
	Publish *PublishChange `yaml:"publish,omitempty" json:"publish,omitempty"`
	// Add a DNS SRV record by hand, one nobody updates afterwards; a later record with
	// the same name and target replaces it (the record fixed by hand).
	DNSRecord *DNSRecord `yaml:"dns_record,omitempty" json:"dns_record,omitempty"`
}

// PublishChange switches publication to AD DS or DNS; an absent field is unchanged.
type PublishChange struct {
	// on or off: the site's objects in CN=System Management.
	AD Switch `yaml:"ad,omitempty" json:"ad,omitempty"`
	// on or off: the MPs' _mssms_mp_<site>._tcp SRV records.
	DNS Switch `yaml:"dns,omitempty" json:"dns,omitempty"`
}

// DNSRecord is a hand-made management point SRV record.
type DNSRecord struct {
	// Owner name, relative to the site's domain or absolute inside it (default
	// _mssms_mp_<site code>._tcp).
	Name string `yaml:"name,omitempty" json:"name,omitempty" jsonschema:"maxLength=253"`
	// The port the record advertises.
	Port int `yaml:"port" json:"port" jsonschema:"minimum=1,maximum=65535"`
	// The management point the record points at (its name; the target is <name>.<domain>).
	Target string `yaml:"target" json:"target"`
}

// SitePortsChange changes some of the site's ports; absent fields keep their value.
type SitePortsChange struct {
	// New HTTP request port settings.
	HTTP *RequestPortChange `yaml:"http,omitempty" json:"http,omitempty"`
	// New HTTPS request port settings.
	HTTPS *RequestPortChange `yaml:"https,omitempty" json:"https,omitempty"`
	// New notification port.
	Notification *int `yaml:"notification,omitempty" json:"notification,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// New wake-up port.
	Wakeup *int `yaml:"wakeup,omitempty" json:"wakeup,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Turn the custom website on (every site system moves to its ports, site.custom_website)
	// or off (back to the default ports the site had before). Ports given in the same
	// event win.
	CustomWebsite *bool `yaml:"custom_website,omitempty" json:"custom_website,omitempty"`
}

// RequestPortChange changes a request port; absent fields keep their value, alternate 0 removes it.
type RequestPortChange struct {
	// New default port.
	Default *int `yaml:"default,omitempty" json:"default,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// New alternate port (0 removes the alternate).
	Alternate *int `yaml:"alternate,omitempty" json:"alternate,omitempty" jsonschema:"minimum=0,maximum=65535"`
}

// Reconfigure changes what a group of clients has installed, as client push (the site's
// current ports), CCMSetup properties (CCMHTTPPORT/CCMHTTPSPORT) or PORTSWITCH.VBS would.
type Reconfigure struct {
	// Group to reconfigure.
	Group string `yaml:"group" json:"group"`
	// push, ccmsetup or portswitch (default portswitch). push takes the site's current
	// ports; the others take the ports given here.
	Method Method `yaml:"method,omitempty" json:"method,omitempty"`
	// New HTTP request port.
	HTTPPort int `yaml:"http_port,omitempty" json:"http_port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// New HTTPS request port.
	HTTPSPort int `yaml:"https_port,omitempty" json:"https_port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Fraction of the group reconfigured, 0 to 1 (default 1): the first clients of the group in order.
	Fraction float64 `yaml:"fraction,omitempty" json:"fraction,omitempty" jsonschema:"minimum=0,maximum=1"`
	// Spread the reconfiguration evenly over this window (default 0: all at once).
	Over Duration `yaml:"over,omitempty" json:"over,omitempty"`
}

// FirewallChange replaces a router's firewall in one atomic transaction.
type FirewallChange struct {
	// Router whose firewall changes.
	Router string `yaml:"router" json:"router"`
	// New default action (absent: unchanged).
	Default Action `yaml:"default,omitempty" json:"default,omitempty"`
	// The new rule list, replacing the old one.
	Rules []Rule `yaml:"rules" json:"rules"`
}

// Notify pushes a client notification through the notification channel.
type Notify struct {
	// Group to notify (absent: every group).
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// What the notification asks for (default machine-policy).
	Action NotifyAction `yaml:"action,omitempty" json:"action,omitempty"`
}

// Wake sends magic packets from the site server to the site's wake-up port.
type Wake struct {
	// Group whose clients are woken.
	Group string `yaml:"group" json:"group"`
	// unicast (to each client's address) or broadcast (subnet-directed) (default unicast).
	Mode WakeMode `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Extra transmissions of each packet (default 2, as the site server's retries).
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty" jsonschema:"minimum=0,maximum=10"`
	// Packets per second the site server sends at most (default 1000).
	Rate int `yaml:"rate,omitempty" json:"rate,omitempty" jsonschema:"minimum=1,maximum=100000"`
}

// MPAction stops or starts a management point.
type MPAction struct {
	// Management point name.
	Name string `yaml:"name" json:"name"`
	// stop or start.
	Action MPOp `yaml:"action" json:"action"`
}

// Gate is one pass/fail check on the result: metric, optional filters, comparison, value.
type Gate struct {
	// Metric name; `portlab schema` lists them under Gate.metric and README explains each.
	Metric string `yaml:"metric" json:"metric"`
	// Only this client group.
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// Only this operation: location, registration, policy, heartbeat, longpoll.
	Operation Operation `yaml:"operation,omitempty" json:"operation,omitempty"`
	// Only requests to this port.
	Port int `yaml:"port,omitempty" json:"port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Only this transport: http, https or tcp.
	Transport Transport `yaml:"transport,omitempty" json:"transport,omitempty"`
	// Only this outcome (for error_rate): refused, timeout, reset, tls_error, http_5xx...
	Outcome Outcome `yaml:"outcome,omitempty" json:"outcome,omitempty"`
	// Only this management point (MP cost metrics, and requests it served).
	MP string `yaml:"mp,omitempty" json:"mp,omitempty"`
	// Only this router (firewall counters).
	Router string `yaml:"router,omitempty" json:"router,omitempty"`
	// Only this firewall rule (firewall counters).
	Rule string `yaml:"rule,omitempty" json:"rule,omitempty"`
	// Only clients that learned their ports this way (learned_fraction): install, push,
	// ad, dns or never.
	Source LearnedSource `yaml:"source,omitempty" json:"source,omitempty"`
	// Comparison: <, <=, >, >=, ==, !=.
	Op Comparison `yaml:"op" json:"op"`
	// Threshold: a number, a fraction or percentage (0.5, 50%), a duration (250ms) or a size (64MiB), as the metric needs.
	// With relative_to it is a ratio: a number (0.9) or a percentage (110%).
	Value Value `yaml:"value" json:"value"`
	// Compare with the same metric measured in the same run under other filters: the gate
	// then judges measured / reference (for example MP CPU per client of mp-tcp relative
	// to mp-http < 1). Fields given here replace the gate's own; the rest are shared.
	RelativeTo *GateFilter `yaml:"relative_to,omitempty" json:"relative_to,omitempty"`
}

// GateFilter is the reference side of a relative gate: the filters that differ.
type GateFilter struct {
	Group     string    `yaml:"group,omitempty" json:"group,omitempty"`
	Operation Operation `yaml:"operation,omitempty" json:"operation,omitempty"`
	Port      int       `yaml:"port,omitempty" json:"port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	Transport Transport `yaml:"transport,omitempty" json:"transport,omitempty"`
	Outcome   Outcome   `yaml:"outcome,omitempty" json:"outcome,omitempty"`
	MP        string    `yaml:"mp,omitempty" json:"mp,omitempty"`
	Router    string    `yaml:"router,omitempty" json:"router,omitempty"`
	Rule      string    `yaml:"rule,omitempty" json:"rule,omitempty"`
}

// Reference is the gate whose measurement a relative gate divides by: g with the
// relative_to fields in place of its own. ok is false for an absolute gate.
func (g Gate) Reference() (ref Gate, ok bool) {
	r := g.RelativeTo
	if r == nil {
		return g, false
	}
	ref = g
	ref.RelativeTo = nil
	if r.Group != "" {
		ref.Group = r.Group
	}
	if r.Operation != "" {
		ref.Operation = r.Operation
	}
	if r.Port != 0 {
		ref.Port = r.Port
	}
	if r.Transport != "" {
		ref.Transport = r.Transport
	}
	if r.Outcome != "" {
		ref.Outcome = r.Outcome
	}
	if r.MP != "" {
		ref.MP = r.MP
	}
	if r.Router != "" {
		ref.Router = r.Router
	}
	if r.Rule != "" {
		ref.Rule = r.Rule
	}
	return ref, true
}
