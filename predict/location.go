package predict

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/agent/site/sitedns"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/scenarios"
)

// Service location, as agent/fleet/locate.go runs it (DOMAIN.md, "How a client finds
// its MP"). The site server is the lab's domain controller and DNS server; what it
// publishes, and when, is World.Pub:
//
//	membership    AD DS (global catalog, tcp/3268)     DNS SRV (udp/53)            MPs
//	domain        at start and after a failed cycle    when the MP list fails      any
//	other-forest  -                                    when it relocates           any
//	workgroup     -                                    when it relocates           any
//	internet      -                                    -                           internet-facing
//
// A domain client takes every port AD DS publishes (and the alternates, if it knows
// them) whenever it reads it, even over a port it was just reconfigured with; an HTTP
// client takes the port of the SRV record it finds (an HTTPS client keeps its own). A
// workgroup or other-forest client locates again only when it has gone unmanaged or
// failed over, so a fixed SRV record helps it a few cycles late.

// Publication is what the site server publishes for service location at one moment.
type Publication struct {
	// Served: the run has a site server answering LDAP and DNS (else the clients have
	// the MP list only).
	Served bool
	// Site is the site server's address, Segment its segment.
	Site    netip.Addr
	Segment string
	Domain  string
	// AD and DNS: publication switched on (site.publish, timeline publish).
	AD, DNS bool
	// Ports are the request ports the site published last (in AD DS and in its SRV
	// records, whichever is on), at Since (0: at the start).
	Ports site.Ports
	Since time.Duration
	// Records are the hand-made SRV records, in the order made.
	Records []Record
}

// Record is a hand-made SRV record.
type Record struct {
	Owner  string // absolute, lower case, no trailing dot
	Target string // the MP's name (the label before the domain)
	Port   int
	At     time.Duration
}

// newPublication is the publication at the start of the run.
func newPublication(p *plan.Plan) Publication {
	l := p.Site.Location
	if l == nil {
		return Publication{}
	}
	seg := ""
	if p.Net.Site != nil {
		seg = p.Net.Site.Segment
	}
	return Publication{Served: true, Site: l.HostAddr, Segment: seg, Domain: strings.ToLower(l.Domain),
		AD: l.PublishAD, DNS: l.PublishDNS, Ports: l.Ports}
}

// publish applies a publish step at at: publication switched on or off, or a site
// change's ports reaching it.
func (pub *Publication) publish(a *plan.Publish, at time.Duration) {
	if a.Args.AD != nil {
		pub.AD = *a.Args.AD
	}
	if a.Args.DNS != nil {
		pub.DNS = *a.Args.DNS
	}
	if a.Args.Ports != nil {
		pub.Ports, pub.Since = *a.Args.Ports, at
	}
}

// addRecord adds a hand-made record, replacing one with the same owner and target (as
// site.LocationServer.AddRecord does).
func (pub *Publication) addRecord(a site.RecordArgs, code string, at time.Duration) {
	owner := strings.ToLower(strings.TrimSuffix(a.Name, "."))
	if owner == "" {
		owner = "_mssms_mp_" + strings.ToLower(code) + "._tcp"
	}
	if !strings.HasSuffix(a.Name, ".") && owner != pub.Domain && !strings.HasSuffix(owner, "."+pub.Domain) {
		owner += "." + pub.Domain
	}
	target, _, _ := strings.Cut(strings.ToLower(strings.TrimSuffix(a.Target, ".")), ".")
	r := Record{Owner: owner, Target: target, Port: int(a.Port), At: at}
	for i, o := range pub.Records {
		if o.Owner == r.Owner && o.Target == r.Target {
			pub.Records[i] = r
			return
		}
	}
	pub.Records = append(pub.Records, r)
}

// srv is one SRV record a client's DNS lookup may return.
type srv struct {
	target string
	port   int
	why    string
}

// srvRecords are the records the site's SRV name has now: the site's own (DNS
// publication on: one per MP, with the published HTTP port) and the hand-made ones.
func (w *World) srvRecords() []srv {
	var out []srv
	owner, err := sitedns.SRVName(w.Plan.Scenario.Site.Code, w.Pub.Domain)
	owner = strings.TrimSuffix(strings.ToLower(owner), ".")
	if w.Pub.DNS && err == nil {
		for _, m := range w.Plan.MPs {
			out = append(out, srv{target: strings.ToLower(m.Name), port: int(w.Pub.Ports.HTTP), why: "published by the site" + since(w.Pub.Since)})
		}
	}
	for _, r := range w.Pub.Records {
		if r.Owner == owner {
			out = append(out, srv{target: r.Target, port: r.Port, why: "made by hand at " + fmtDur(r.At)})
		}
	}
	return out
}

func since(at time.Duration) string {
	if at == 0 {
		return ""
	}
	return " at " + fmtDur(at)
}

// reachSite judges a lookup from the cohort's segment to the site server: the first
// packet of proto/port through each firewall on the path (nil: it gets through).
// timeout is what a dropped packet costs.
func reachSite(w *World, c *Client, proto netsim.Proto, port int, timeout time.Duration) *Verdict {
	return throughFirewalls(w, c, w.Pub.Site, w.Pub.Segment, proto, port, timeout)
}

// throughFirewalls judges the first packet of a flow from the cohort's segment to addr
// on segment to: each firewall on the path, the first matching rule or the default.
func throughFirewalls(w *World, c *Client, addr netip.Addr, to string, proto netsim.Proto, port int, timeout time.Duration) *Verdict {
	path, err := w.Path(netsim.ClientNode(c.Group.Segment), addr)
	if err != nil {
		return &Verdict{Outcome: "timeout", Why: "no route: " + err.Error(), Cost: timeout}
	}
	for _, r := range path {
		fw, ok := w.Firewalls[r]
		if !ok {
			continue
		}
		act, rule := match(fw, proto, port, c.Group.Segment, to)
		switch act {
		case netsim.Drop:
			return &Verdict{Outcome: "timeout", Why: fmt.Sprintf("%s drops %s/%d from %s (%s)", r, proto, port, c.Group.Segment, rule), Cost: timeout}
		case netsim.Reject:
			return &Verdict{Outcome: "reset", Why: fmt.Sprintf("%s rejects %s/%d from %s (%s)", r, proto, port, c.Group.Segment, rule), Cost: fastFail}
		}
	}
	return nil
}

// adLookup is what a domain client's read of the global catalog gives now: the
// published ports, or the rule that says why not (gc-blocked: tcp/3268 does not get
// through; publish-off: the site does not publish to AD DS) and its cost.
func adLookup(w *World, c *Client) (ports site.Ports, rule, why string, cost time.Duration) {
	if v := reachSite(w, c, netsim.ProtoTCP, site.PortGC, c.Group.ConnectTimeout.D()); v != nil {
		return site.Ports{}, "gc-blocked", "the global catalog is out of reach: " + v.Why, v.Cost
	}
	if !w.Pub.AD {
		return site.Ports{}, "publish-off", "AD DS has no System Management objects: the site does not publish there (publish ad off)", 0
	}
	return w.Pub.Ports, "", "", 0
}

// publishedPort is the request port and alternate of scheme in ports, the alternate
// only when the client knows it (as fleet.publishedFor).
func publishedPort(p site.Ports, scheme string, knowsAlt bool) (port, alt int) {
	port, alt = int(p.HTTP), int(p.HTTPAlternate)
	if scheme == "https" {
		port, alt = int(p.HTTPS), int(p.HTTPSAlternate)
	}
	if !knowsAlt || alt == port {
		alt = 0
	}
	return port, alt
}

func readsAD(c *Client) bool { return c.Group.Membership == scenarios.MemberDomain }

func readsDNS(c *Client) bool {
	switch c.Group.Membership {
	case scenarios.MemberDomain, scenarios.MemberOtherForest, scenarios.MemberWorkgroup:
		return true
	}
	return false
}

func knowsAlt(c *Client) bool { return c.Group.KnowsAlternate == nil || *c.Group.KnowsAlternate }

// adoptAD has the cohort take what AD DS publishes: both request ports and the
// alternates; the source is ad when the port of its scheme changed (as fleet.adopt).
func adoptAD(c *Client, p site.Ports, at time.Duration) {
	old := c.port(string(c.Group.Scheme))
	if p.HTTP != 0 {
		c.HTTPPort = int(p.HTTP)
	}
	if p.HTTPS != 0 {
		c.HTTPSPort = int(p.HTTPS)
	}
	c.ADAlt = [2]int{int(p.HTTPAlternate), int(p.HTTPSAlternate)}
	if c.port(string(c.Group.Scheme)) != old {
		c.Source, c.Installed = scenarios.LearnedAD, "from AD DS at "+fmtDur(at)
	}
}

// locateAD is a domain client's read of AD DS before a cycle that locates (at its
// start, on waking, after a failed cycle): it takes the published ports.
func locateAD(w *World, c *Client) {
	if !w.Pub.Served || !readsAD(c) {
		return
	}
	if p, rule, _, _ := adLookup(w, c); rule == "" {
		adoptAD(c, p, w.At)
	}
}

// ---------------------------------------------------------------------------------
// MP rule.

// internetMP: an internet client (membership internet) uses internet-facing MPs only,
// any MP when none is.
func internetMP(w *World, c *Client) []plan.MP {
	if c.Group.Membership != scenarios.MemberInternet {
		return nil
	}
	var out []plan.MP
	for _, m := range w.Plan.MPs {
		for _, s := range w.Plan.Scenario.ManagementPoints {
			if s.Name == m.Name && s.InternetFacing {
				out = append(out, m)
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------------
// Port rules.

// adPublished: a domain client whose ports fail reads AD DS again (at its next cycle)
// and tries what the site publishes there: the request port of its scheme and, if it
// knows alternates, the published alternate. When it cannot read it (gc-blocked,
// publish-off), the try it misses says what the publication would have given.
func adPublished(w *World, c *Client, mp plan.MP, scheme string, tries []Try) ([]Try, string) {
	switch {
	case !w.Pub.Served:
		return nil, ""
	case !readsAD(c):
		if c.Group.Membership == scenarios.MemberInternet {
			return nil, "internet clients locate by the MP list only, which carries no ports"
		}
		return nil, fmt.Sprintf("%s clients do not read AD DS", c.Group.Membership)
	}
	pub, rule, why, cost := adLookup(w, c)
	if rule != "" {
		port, _ := publishedPort(w.Pub.Ports, scheme, false)
		if tried(tries, port, mp, mp.Name) {
			return nil, why
		}
		return []Try{{Port: port, Scheme: scheme, Rule: rule, Missed: why, Cost: cost,
			Why: fmt.Sprintf("AD DS would give %s %d (the site's publication%s)", scheme, port, since(w.Pub.Since))}}, ""
	}
	port, alt := publishedPort(pub, scheme, knowsAlt(c))
	var more []Try
	for _, p := range []int{port, alt} {
		if p == 0 || tried(tries, p, mp, mp.Name) {
			continue
		}
		more = append(more, Try{Port: p, Scheme: scheme, Rule: "ad-published",
			Why:   fmt.Sprintf("AD DS's %s %d (published%s)", scheme, p, since(w.Pub.Since)),
			adopt: func(c *Client) { adoptAD(c, pub, w.At) }})
	}
	if len(more) == 0 {
		return nil, fmt.Sprintf("AD DS still publishes %s %d", scheme, port)
	}
	return more, ""
}

// dnsSRV: when the MP list fails (a domain client: in the same cycle; a workgroup or
// other-forest client: when it locates again), a client looks up the site's SRV record
// over udp/53 and goes to the MP and port it names, stale or not; an HTTP client takes
// the port (the record carries the HTTP port), an HTTPS client keeps its own. Its MP is
// the record of the MP it has, else any (a pinned client keeps its MP).
func dnsSRV(w *World, c *Client, mp plan.MP, scheme string, tries []Try) ([]Try, string) {
	if !w.Pub.Served || !readsDNS(c) {
		return nil, ""
	}
	recs := w.srvRecords()
	if scheme != "http" {
		if len(recs) > 0 {
			return nil, "the SRV record's port is the HTTP port: an HTTPS client keeps its own"
		}
		return nil, ""
	}
	relocate := !readsAD(c)
	if v := reachSite(w, c, netsim.ProtoUDP, site.PortDNS, sitedns.DefaultTimeout); v != nil {
		port := int(w.Pub.Ports.HTTP)
		if len(recs) > 0 {
			port = recs[0].port
		}
		if tried(tries, port, mp, mp.Name) {
			return nil, "DNS is out of reach: " + v.Why
		}
		return []Try{{Port: port, Scheme: scheme, Rule: "dns-blocked", Missed: "DNS is out of reach: " + v.Why, Cost: v.Cost,
			Why: fmt.Sprintf("the SRV record would give http %d", port)}}, ""
	}
	if len(recs) == 0 {
		port := int(w.Pub.Ports.HTTP)
		missed := "no SRV record: the site does not publish to DNS (publish dns off) and nobody made one"
		if tried(tries, port, mp, mp.Name) {
			return nil, missed
		}
		return []Try{{Port: port, Scheme: scheme, Rule: "publish-off", Missed: missed,
			Why: fmt.Sprintf("the site's SRV record would give http %d", port)}}, ""
	}
	pinned := c.Group.MP != ""
	cands := recs
	var mine []srv
	for _, r := range recs {
		if strings.EqualFold(r.target, mp.Name) {
			mine = append(mine, r)
		}
	}
	if len(mine) > 0 {
		cands = mine
	}
	r := cands[0]
	for _, o := range cands[1:] {
		if o.port != r.port || (!pinned && len(mine) == 0 && o.target != r.target) {
			return []Try{{Port: r.port, Scheme: scheme, Rule: "dns-srv", Uncertain: fmt.Sprintf("the SRV records disagree (%s %d, %s %d): which one a client takes is random",
				r.target, r.port, o.target, o.port)}}, ""
		}
	}
	t := Try{Port: r.port, Scheme: scheme, Rule: "dns-srv", Relocate: relocate,
		Why: fmt.Sprintf("the SRV record's http %d (%s)", r.port, r.why),
		adopt: func(c *Client) {
			c.HTTPPort, c.Source, c.Installed = r.port, scenarios.LearnedDNS, "from a DNS SRV record at "+fmtDur(w.At)
		}}
	if !pinned && !strings.EqualFold(r.target, mp.Name) {
		t.MP = r.target
		t.Why += " at " + r.target
	}
	if tried(tries, t.Port, mp, mpOf(t, mp)) {
		return nil, fmt.Sprintf("the SRV record still gives http %d", t.Port)
	}
	return []Try{t}, ""
}

// tried reports whether tries, made in a cycle at mp, already attempt port at the MP
// called at.
func tried(tries []Try, port int, mp plan.MP, at string) bool {
	for _, t := range tries {
		if t.Missed == "" && t.Uncertain == "" && t.Port == port && strings.EqualFold(mpOf(t, mp), at) {
			return true
		}
	}
	return false
}

// mpOf is the name of the MP a try goes to: its own, else the cycle's.
func mpOf(t Try, mp plan.MP) string {
	if t.MP != "" {
		return t.MP
	}
	return mp.Name
}

// lookupMP is the plan's MP called name (case-insensitive), else mp.
func lookupMP(w *World, name string, mp plan.MP) plan.MP {
	for _, m := range w.Plan.MPs {
		if strings.EqualFold(m.Name, name) {
			return m
		}
	}
	return mp
}
