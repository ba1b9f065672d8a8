// Package plan lowers a validated scenario once into everything a run needs: the
// network as netsim builds it (netsim.Spec), one configuration per management point,
// per fleet (client segment) and for the site server, every client's identity, and the
// timeline as typed steps whose agent commands are worked out in advance.
//
//	scenarios.Scenario ──Lower──► Plan ─┬─► netsim.Build(Net)
//	 (defaults filled,               ├─► agent mp    ×MPs     (mp.Config)
//	  validated)                     ├─► agent fleet ×Fleets  (fleet.Config)
//	                                 ├─► agent site           (site.Config)
//	                                 └─► harness drives Steps at their offsets
//
// A new scenario knob touches the scenarios package (type, default, validation) and one
// lowering function here. The plan is pure: it builds nothing and starts nothing, so it
// is tested without privileges. It is not the runner (harness) and knows nothing of
// processes; the run's certificate authority and the agents' addresses on the host are
// added by the runner.
package plan

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/scenarios"
)

// Plan is one scenario, lowered.
type Plan struct {
	// Scenario is the scenario as run (defaults filled), for the result.
	Scenario *scenarios.Scenario
	// Net is the network to build.
	Net netsim.Spec
	// MPs in scenario order.
	MPs []MP
	// Fleets, one per client segment with clients, in order of first use.
	Fleets []Fleet
	// Site is the site server's configuration.
	Site site.Config
	// Groups in scenario order.
	Groups []Group
	// Steps in time order (ties keep the scenario's order).
	Steps []Step
	// Neighbors are the permanent ARP entries routers with static_neighbors keep for
	// their clients, added once the network exists.
	Neighbors []Neighbors
	// Firewalls lists, per router that ever has a firewall, its rules' actions by
	// counter name (the last action a rule of that name had), "default" included.
	Firewalls map[string]map[string]netsim.Action
	// Duration and Ramp of the load.
	Duration, Ramp time.Duration
}

// MP is one management point: its namespace, address and agent configuration. With
// Workers > 1 the MP is a web garden: that many agent processes, each with Config
// (and its Worker number), share its ports (SO_REUSEPORT).
type MP struct {
	Name    string
	Node    string
	Site    string
	Addr    netip.Addr
	Config  mp.Config
	Workers int
	// Clients is how many clients are expected at the MP (pinned groups, and an even
	// share of its site's unpinned ones): what the number of workers follows from.
	Clients int
}

// Fleet is one fleet agent process: a client segment's clients, or a share of them
// when the segment holds more than one process takes (Part of Parts).
type Fleet struct {
	Segment     string
	Node        string
	Config      fleet.Config
	Clients     int
	Part, Parts int // 1-based
}

// Name names the fleet process: the segment, with /part when it is split.
func (f Fleet) Name() string {
	if f.Parts <= 1 {
		return f.Segment
	}
	return fmt.Sprintf("%s/%d", f.Segment, f.Part)
}

// Group is one client group and where its clients live.
type Group struct {
	Name         string
	Fleets       []int // indexes into Plan.Fleets of the processes holding its clients
	First        int   // global index of the group's first client
	SegPos       int   // position of the first client in its segment's identity range
	Count        int
	MP           string // pinned MP, or ""
	Scheme       scenarios.Scheme
	Notification scenarios.NotifyMode
	identities   netip.Prefix
}

// Client returns the address and MAC of the group's i-th client.
func (g Group) Client(i int) (netip.Addr, net.HardwareAddr) {
	return fleet.AddrFor(g.identities, g.SegPos+i), fleet.MACFor(g.First + i)
}

// Options tune how a scenario is spread over processes.
type Options struct {
	// ClientsPerFleet is the most clients one fleet process runs (default 10,000): each
	// holds a notification session and, during a cycle, a request connection, and one
	// process may hold at most RLIMIT_NOFILE descriptors (20,000 on these machines).
	ClientsPerFleet int
	// SessionsPerWorker is the most clients one MP process serves (default 12,000);
	// an MP expected to serve more runs as a web garden of several worker processes,
	// unless the scenario sets management_points[].workers.
	SessionsPerWorker int
	// Shard, when set, lowers only that shard of the scenario (see Shard, LowerShard).
	Shard *Shard
}

func (o Options) normalize() Options {
	if o.ClientsPerFleet <= 0 {
		o.ClientsPerFleet = DefaultClientsPerFleet
	}
	if o.SessionsPerWorker <= 0 {
		o.SessionsPerWorker = DefaultSessionsPerWorker
	}
	return o
}

// Process sizing defaults (Options).
const (
	DefaultClientsPerFleet   = 10000
	DefaultSessionsPerWorker = 12000
)

// Neighbors are permanent ARP entries of one router on one link.
type Neighbors struct {
	Router, Link string
	Addrs        []netip.Addr
	MACs         []net.HardwareAddr
}

// Clients is the total number of simulated clients.
func (p *Plan) Clients() int {
	n := 0
	for _, f := range p.Fleets {
		n += f.Clients
	}
	return n
}

// Group returns the group named name.
func (p *Plan) Group(name string) (Group, bool) {
	for _, g := range p.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Lower turns a validated scenario (defaults filled: scenarios.Load, Parse, Resolve or
// Validate did that) into a Plan, with the default process sizing.
func Lower(s *scenarios.Scenario) (*Plan, error) { return LowerWith(s, Options{}) }

// LowerWith is Lower with process sizing options.
func LowerWith(s *scenarios.Scenario, opt Options) (*Plan, error) {
	opt = opt.normalize()
	p := &Plan{Scenario: s, Duration: s.Duration.D(), Ramp: s.Ramp.D(), Firewalls: map[string]map[string]netsim.Action{}}
	p.Net = network(s)
	if opt.Shard != nil {
		p.Net.MPs = slices.DeleteFunc(p.Net.MPs, func(h netsim.Host) bool { return !opt.Shard.HasMP(h.Name) })
	}
	nodes, err := netsim.Nodes(p.Net)
	if err != nil {
		return nil, fmt.Errorf("lower %s: %w", s.Name, err)
	}
	byName := map[string]netsim.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	for i, m := range s.ManagementPoints {
		if !opt.Shard.hasMP(m.Name) {
			continue // another shard's (i stays the scenario's index: the MP's seed)
		}
		n := byName[netsim.MPNode(m.Name)]
		if len(n.Ifaces) == 0 {
			return nil, fmt.Errorf("lower %s: mp %s has no address", s.Name, m.Name)
		}
		addr := n.Ifaces[0].Addr.Addr()
		p.MPs = append(p.MPs, MP{Name: m.Name, Node: n.Name, Site: m.Site, Addr: addr, Config: mpConfig(s, i, addr)})
	}
	for i := range p.MPs {
		for _, o := range p.MPs {
			if o.Name != p.MPs[i].Name && o.Site == p.MPs[i].Site {
				p.MPs[i].Config.Peers = append(p.MPs[i].Config.Peers, mp.Peer{Name: o.Name, Addr: o.Addr})
			}
		}
	}
	p.Site = site.Config{SiteCode: s.Site.Code}
	if n := byName[netsim.SiteNode]; len(n.Ifaces) > 0 {
		p.Site.Location = location(s, n.Ifaces[0].Addr.Addr(), p.MPs)
	}
	p.fleets(s, byName, opt.ClientsPerFleet, opt.Shard)
	p.workers(s, opt.SessionsPerWorker)
	p.neighbors(s)
	p.firewalls(s)
	if err := p.steps(s, opt.Shard); err != nil {
		return nil, fmt.Errorf("lower %s: %w", s.Name, err)
	}
	return p, nil
}

// network is the scenario's topology in netsim's terms.
func network(s *scenarios.Scenario) netsim.Spec {
	var spec netsim.Spec
	for _, seg := range s.Network.Segments {
		spec.Segments = append(spec.Segments, netsim.Segment{Name: seg.Name, Subnet: seg.Subnet.Prefix, Clients: seg.Clients.Prefix})
	}
	for _, r := range s.Network.Routers {
		nr := netsim.Router{Name: r.Name, Links: slices.Clone(r.Links), DirectedBroadcast: r.DirectedBroadcast}
		if r.Firewall != nil {
			fw := firewall(r.Firewall.Default, r.Firewall.Rules)
			nr.Firewall = &fw
		}
		spec.Routers = append(spec.Routers, nr)
	}
	for _, m := range s.ManagementPoints {
		spec.MPs = append(spec.MPs, netsim.Host{Name: m.Name, Segment: m.Segment})
	}
	if s.Site.Segment != "" {
		spec.Site = &netsim.Host{Name: netsim.SiteNode, Segment: s.Site.Segment}
	}
	return spec
}

// firewall lowers a scenario rule list (defaults filled: names, protocols).
func firewall(def scenarios.Action, rules []scenarios.Rule) netsim.Firewall {
	fw := netsim.Firewall{Default: netsim.Action(def)}
	for _, r := range rules {
		fw.Rules = append(fw.Rules, netsim.Rule{
			Name: r.Name, Proto: netsim.Proto(r.Proto), From: r.From, To: r.To, Action: netsim.Action(r.Action),
			Ports: netsim.PortRange{Lo: uint16(r.Port.Lo), Hi: uint16(r.Port.Hi)},
		})
	}
	return fw
}

// listen is an MP's listeners for the site's ports (secondary sites inherit them).
func listen(addr netip.Addr, p scenarios.SitePorts) mp.Listen {
	return mp.ListenPorts(addr, uint16(p.HTTP.Default), uint16(p.HTTP.Alternate), uint16(p.HTTPS.Default),
		uint16(p.HTTPS.Alternate), uint16(p.Notification))
}

func mpConfig(s *scenarios.Scenario, i int, addr netip.Addr) mp.Config {
	m := s.ManagementPoints[i]
	return mp.Config{
		Name:     m.Name,
		SiteCode: m.Site,
		Domain:   s.Site.Domain,
		Addr:     addr,
		Listen:   listen(addr, s.InitialSite().Ports),
		TLS:      mp.TLSConfig{Key: string(m.TLS.Key), Resumption: *m.TLS.Resumption},
		ServiceTime: mp.ServiceTime{Dist: string(m.ServiceTime.Dist), Mean: agent.Duration(m.ServiceTime.Mean),
			Min: agent.Duration(m.ServiceTime.Min), Max: agent.Duration(m.ServiceTime.Max)},
		ErrorRate:      m.ErrorRate,
		PolicyBytes:    m.PolicyBytes,
		MaxConnections: m.MaxConnections,
		Seed:           s.Seed + int64(i),
	}
}

func sitePorts(p scenarios.SitePorts) fleet.SitePorts {
	return fleet.SitePorts{
		HTTP:         fleet.RequestPort{Default: p.HTTP.Default, Alternate: p.HTTP.Alternate},
		HTTPS:        fleet.RequestPort{Default: p.HTTPS.Default, Alternate: p.HTTPS.Alternate},
		Notification: p.Notification,
	}
}

// group lowers one client group with global indexes [first, first+Count).
func group(g scenarios.ClientGroup, first int) fleet.Group {
	return fleet.Group{
		Name: g.Group, First: first, Count: g.Count, MP: g.MP, Scheme: string(g.Scheme),
		HTTPPort: g.HTTPPort, HTTPSPort: g.HTTPSPort, KnowsAlternate: *g.KnowsAlternate,
		Notification:      string(g.Notification),
		PolicyInterval:    agent.Duration(g.PolicyInterval),
		HeartbeatInterval: agent.Duration(g.HeartbeatInterval),
		ConnectTimeout:    agent.Duration(g.ConnectTimeout),
		Retries:           *g.Retries,
		UnmanagedAfter:    g.UnmanagedAfter,
		Asleep:            g.Asleep,
		KeepAlive:         agent.Duration(g.NotificationKeepalive),
		LongPollWait:      agent.Duration(g.LongPollWait),
		Membership:        string(g.Membership),
		LocationRefresh:   agent.Duration(g.LocationRefresh),
		FailoverFailures:  g.MPFailover.Failures,
		FailoverWindow:    agent.Duration(g.MPFailover.Window),
	}
}

// fleets lays the clients out: per client segment, its groups in scenario order one
// after the other in the segment's identity range, split over as many fleet processes
// as the segment needs (perFleet clients at most each).
// A shard's fleets hold only its groups, but every client keeps its global index and
// the ramp spreads the whole scenario's clients (RampOf), as without a shard.
func (p *Plan) fleets(s *scenarios.Scenario, nodes map[string]netsim.Node, perFleet int, shard *Shard) {
	var mps []fleet.MP
	for i, m := range p.MPs {
		mps = append(mps, fleet.MP{Name: m.Name, Addr: m.Addr, Site: m.Site, InternetFacing: s.ManagementPoints[i].InternetFacing})
	}
	// Global indexes (MACs, GUIDs) follow the scenario's group order.
	type seg struct {
		name   string
		ids    netip.Prefix
		groups []int // indexes into p.Groups
		n      int
	}
	var segs []*seg
	bySeg := map[string]*seg{}
	global := 0
	var groupOf []int // p.Groups index -> s.Clients index
	for ci, g := range s.Clients {
		if !shard.hasGroup(g.Group) {
			global += g.Count
			continue
		}
		sg := bySeg[g.Segment]
		if sg == nil {
			sg = &seg{name: g.Segment}
			for _, x := range s.Network.Segments {
				if x.Name == g.Segment {
					sg.ids = x.Clients.Prefix
				}
			}
			bySeg[g.Segment] = sg
			segs = append(segs, sg)
		}
		sg.groups = append(sg.groups, len(p.Groups))
		groupOf = append(groupOf, ci)
		p.Groups = append(p.Groups, Group{Name: g.Group, First: global, SegPos: sg.n, Count: g.Count,
			MP: g.MP, Scheme: g.Scheme, Notification: g.Notification, identities: sg.ids})
		sg.n += g.Count
		global += g.Count
	}
	yes := true
	for _, sg := range segs {
		parts := (sg.n + perFleet - 1) / perFleet
		node := netsim.ClientNode(sg.name)
		for part := range parts {
			lo, hi := part*sg.n/parts, (part+1)*sg.n/parts
			cfg := fleet.Config{
				Segment: sg.name, Identities: sg.ids, Offset: lo, RampOf: global, MPs: mps, SitePorts: sitePorts(s.InitialSite().Ports),
				SiteCode: s.Site.Code, Domain: s.Site.Domain, Seed: s.Seed, Duration: agent.Duration(s.Duration), Ramp: agent.Duration(s.Ramp),
				Location: p.fleetLocation(),
				// Per-client end states carry who fell back and which port worked.
				ClientStates: &yes,
			}
			if n := nodes[node]; len(n.Ifaces) > 0 {
				cfg.NIC = n.Ifaces[0].Name // sleeping clients' NICs read the segment here
			}
			fi := len(p.Fleets)
			for _, gi := range sg.groups {
				g := &p.Groups[gi]
				from, to := max(lo, g.SegPos), min(hi, g.SegPos+g.Count)
				if from >= to {
					continue
				}
				share := group(s.Clients[groupOf[gi]], g.First+from-g.SegPos)
				share.Count, share.GroupOffset, share.GroupCount = to-from, from-g.SegPos, g.Count
				cfg.Groups = append(cfg.Groups, share)
				g.Fleets = append(g.Fleets, fi)
			}
			p.Fleets = append(p.Fleets, Fleet{Segment: sg.name, Node: node, Config: cfg, Clients: hi - lo, Part: part + 1, Parts: parts})
		}
	}
}

// workers sizes each MP's web garden from the clients it is expected to serve.
func (p *Plan) workers(s *scenarios.Scenario, perWorker int) {
	for i := range p.MPs {
		m := &p.MPs[i]
		peers := 0
		for _, o := range p.MPs {
			if o.Site == m.Site {
				peers++
			}
		}
		for _, g := range p.Groups {
			switch {
			case g.MP == m.Name:
				m.Clients += g.Count
			case g.MP == "" && peers > 0:
				m.Clients += g.Count / peers
			}
		}
		m.Workers = max(1, (m.Clients+perWorker-1)/perWorker)
		if w := s.ManagementPoints[i].Workers; w > 0 {
			m.Workers = w // as the scenario says
		}
		m.Config.ReusePort = m.Workers > 1
	}
}

// neighbors lists every client behind a router with static neighbour entries.
func (p *Plan) neighbors(s *scenarios.Scenario) {
	for _, rt := range s.Network.Routers {
		if !rt.StaticNeighbors {
			continue
		}
		for _, link := range rt.Links {
			n := Neighbors{Router: rt.Name, Link: link}
			for _, g := range p.Groups {
				if p.Fleets[g.Fleets[0]].Segment != link {
					continue
				}
				for i := range g.Count {
					a, m := g.Client(i)
					n.Addrs = append(n.Addrs, a)
					n.MACs = append(n.MACs, m)
				}
			}
			if len(n.Addrs) > 0 {
				p.Neighbors = append(p.Neighbors, n)
			}
		}
	}
}

func (p *Plan) firewalls(s *scenarios.Scenario) {
	note := func(router string, def scenarios.Action, rules []scenarios.Rule) {
		m := p.Firewalls[router]
		if m == nil {
			m = map[string]netsim.Action{}
			p.Firewalls[router] = m
		}
		m[netsim.DefaultCounter] = netsim.Action(def)
		for _, r := range rules {
			m[r.Name] = netsim.Action(r.Action)
		}
	}
	for _, r := range s.Network.Routers {
		if r.Firewall != nil {
			note(r.Name, r.Firewall.Default, r.Firewall.Rules)
		}
	}
	for _, e := range s.Timeline {
		if f := e.Firewall; f != nil {
			note(f.Router, f.Default, f.Rules)
		}
	}
}

// DescribeRules is one line for a firewall: each rule, then the default.
func DescribeRules(fw netsim.Firewall) string {
	var parts []string
	for _, r := range fw.Rules {
		m := string(r.Proto)
		if !r.Ports.IsZero() {
			m += "/" + r.Ports.String()
		}
		if r.From != "" {
			m += " from " + r.From
		}
		if r.To != "" {
			m += " to " + r.To
		}
		parts = append(parts, fmt.Sprintf("%s: %s %s", r.Name, m, r.Action))
	}
	if len(parts) == 0 {
		parts = append(parts, "no rules")
	}
	return strings.Join(parts, "; ") + fmt.Sprintf(" (default %s)", fw.Default)
}
