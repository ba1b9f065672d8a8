package predict

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/scenarios"
)

// Rules are the pieces of client behaviour a prediction is made of, grouped by the
// question they answer. Each list is tried in order; a new behaviour (service location
// through AD and DNS, say) is a new rule in the right list, and its name is what a
// prediction and a disagreement cite.
type Rules struct {
	// MPs: which management points a cohort's clients talk to. The first rule that
	// answers decides.
	MPs []MPRule
	// Ports: which request ports a client tries, in order. Every rule may add tries.
	Ports []PortRule
	// Conn: whether a connection to an MP on a port gets through. The first rule that
	// objects decides the attempt; none objecting, it connects.
	Conn []ConnRule
	// Served: once connected, whether the MP serves the cycle. The first rule that
	// answers decides; none answering, it is served.
	Served []ServedRule
	// Wake: whether a wake-up packet reaches a sleeping client. The first rule that
	// objects decides; none objecting, the client wakes.
	Wake []WakeRule
}

// MPRule names the MPs a cohort's clients talk to (nil: no answer, ask the next rule).
type MPRule struct {
	Name string
	MPs  func(w *World, c *Client) []plan.MP
}

// Try is one port a client tries, and why it tries it.
type Try struct {
	Port   int
	Scheme string // http, https, or tcp (the notification port)
	Rule   string // the port rule that added it
	Why    string // "installed https 8443 (by ccmsetup at 9s)"
	// MP is the MP the try goes to when not the cycle's (a DNS SRV record's target).
	MP string
	// Missed says why the client cannot learn this port (its source is out of reach or
	// publishes nothing): the try is not made, but if the cycle fails and the try would
	// have worked, its Rule (gc-blocked, publish-off, dns-blocked) is what decides.
	Missed string
	// Uncertain says why the rules cannot tell which port the source gives.
	Uncertain string
	// Cost is what learning the port costs the cycle (a lookup's timeout).
	Cost time.Duration
	// Relocate: the client gets to this try only when it locates again, after going
	// unmanaged or failing over (a workgroup client's DNS lookup).
	Relocate bool
	// adopt is what the cohort takes from the try's source when it works.
	adopt func(c *Client)
}

// PortRule adds the ports a client of c tries for scheme to tries in a cycle at mp, or
// says in note why it adds none ("no alternate known").
type PortRule struct {
	Name  string
	Tries func(w *World, c *Client, mp plan.MP, scheme string, tries []Try) (more []Try, note string)
}

// Verdict is a rule's objection to an attempt.
type Verdict struct {
	Outcome string        // refused, timeout, reset, tls_error, http_400, error (as the fleet classifies)
	Why     string        // "edge drops tcp/8443 from internet (rule internet-rest)"
	Cost    time.Duration // how long the attempt takes to fail
}

// portFailure reports an outcome after which a client moves on to its next port (as
// agent/fleet does): the MP did not answer, rather than answered with an error.
func (v *Verdict) portFailure() bool { return v.Outcome != "http_400" }

// ConnRule objects to an attempt (nil: no objection).
type ConnRule struct {
	Name  string
	Judge func(w *World, c *Client, mp plan.MP, t Try) *Verdict
}

// ServedRule judges a cycle once connected (nil: no answer).
type ServedRule struct {
	Name  string
	Judge func(w *World, c *Client, mp plan.MP) *CycleResult
}

// WakeRule objects to a wake-up packet (ok false, with why), given the routers on its
// path from the site server; decided false: no objection.
type WakeRule struct {
	Name  string
	Judge func(w *World, c *Client, wk *plan.Wake, path []string) (decided bool, why string)
}

// DefaultRules are the behaviours of this build's clients, network and MPs.
//
// Service location (location.go) follows agent/fleet/locate.go: a client asks a
// management point (the one it is pinned to; an internet client an internet-facing one;
// else one at random) for MPLIST, which carries no ports; where its ports come from
// depends on its membership and on what the site publishes, and when (World.Pub, fed by
// the plan's publish and dns_record steps: a site change reaches the publication after
// site.publish.delay):
//
//   - installed-port: the ports the cohort holds: installed, pushed, or learned from
//     AD DS or DNS earlier (the rule is then ad-published or dns-srv);
//   - alternate: the alternate it knows (a domain client: AD DS's, others: the site's);
//   - ad-published: a domain client reads AD DS at its start and after every failed
//     cycle, through the global catalog (tcp/3268 to the site server, judged by the
//     firewalls on the path), and takes the ports published there, even over a port it
//     was just reconfigured with; it misses them when tcp/3268 does not get through
//     (gc-blocked) or the site does not publish to AD DS (publish-off);
//   - dns-srv: when the MP list fails, a client that reads DNS (domain, other-forest,
//     workgroup) looks up the site's SRV record over udp/53 and takes its port, the
//     HTTP one (an HTTPS client keeps its own): the site's record, after the
//     publication, or a hand-made one, stale or not; it misses it when udp/53 does not
//     get through (dns-blocked) or there is no record (publish-off). A workgroup client
//     gets there only when it locates again: once unmanaged, or after failover.
//
// A missed source decides a failing cycle when the port it would have given would have
// worked. Still unmodelled: failover after repeated failures settling a random MP
// choice (mp-choice stays uncertain), the location refresh replacing a working port
// with a published one, and the MP list of AD DS narrowing the MPs a client picks.
func DefaultRules() Rules {
	return Rules{
		MPs: []MPRule{{"mp-pinned", mpPinned}, {"internet-mp", internetMP}, {"mp-choice", mpChoice}},
		Ports: []PortRule{{"installed-port", installedPort}, {"alternate", alternatePort},
			{"ad-published", adPublished}, {"dns-srv", dnsSRV}},
		Conn:   []ConnRule{{"mp-running", mpRunning}, {"firewall-path", firewallPath}, {"mp-listens", mpListens}},
		Served: []ServedRule{{"mp-errors", mpErrors}},
		Wake:   []WakeRule{{"wake-firewall", wakeFirewall}, {"wake-delivery", wakeDelivery}},
	}
}

// ---------------------------------------------------------------------------------
// The cycle.

// Cycle is what a policy cycle of cohort c does in world w: for each MP the clients may
// use, the ports they try in order, each judged by the connection rules (retries+1
// times: a dropped SYN costs the connect timeout each time), and the first that
// connects judged by the served rules. Clients that may use several MPs agree only if
// every MP gives the same answer.
func Cycle(rules Rules, w *World, c *Client) CycleResult {
	var mps []plan.MP
	for _, r := range rules.MPs {
		if mps = r.MPs(w, c); mps != nil {
			break
		}
	}
	if len(mps) == 0 {
		return CycleResult{Uncertain: true, Rule: "mp-choice", Why: "no management point to talk to"}
	}
	var results []CycleResult
	for _, mp := range mps {
		results = append(results, cycleAt(rules, w, c, mp))
	}
	first := results[0]
	for i, r := range results[1:] {
		if r.OK != first.OK || r.Uncertain {
			return CycleResult{Uncertain: true, Rule: "mp-choice", Why: fmt.Sprintf("clients pick an MP at random: at %s %s; at %s %s",
				mps[0].Name, short(first), mps[i+1].Name, short(r))}
		}
	}
	if len(mps) > 1 {
		first.Why += " (at every MP the clients may pick: " + mpNames(mps) + ")"
	}
	return first
}

func short(r CycleResult) string {
	if r.OK {
		return "a cycle succeeds"
	}
	return "a cycle fails: " + r.Why
}

func mpNames(mps []plan.MP) string {
	var n []string
	for _, m := range mps {
		n = append(n, m.Name)
	}
	return strings.Join(n, ", ")
}

func cycleAt(rules Rules, w *World, c *Client, mp plan.MP) CycleResult {
	scheme := string(c.Group.Scheme)
	var tries []Try
	var notes []string
	for _, r := range rules.Ports {
		more, note := r.Tries(w, c, mp, scheme, tries)
		tries = append(tries, more...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	attempts := 1
	if c.Group.Retries != nil {
		attempts += *c.Group.Retries
	}
	var cost time.Duration
	var failed []string
	var missed []Try
	lastRule, made := "", 0
	for _, t := range tries {
		cost += t.Cost
		switch {
		case t.Missed != "":
			missed = append(missed, t)
			continue
		case t.Uncertain != "":
			return CycleResult{Uncertain: true, Rule: t.Rule, Why: strings.Join(append(failed, t.Uncertain), "; ")}
		}
		at := mp
		if t.MP != "" {
			at = lookupMP(w, t.MP, mp)
		}
		rule, v := judge(rules, w, c, at, t)
		if v == nil {
			res := CycleResult{OK: true, Rule: t.Rule, Why: t.Why + " reaches " + at.Name + pathNote(w, c, at), Port: t.Port, adopt: t.adopt}
			switch {
			case made > 0 && t.Rule == "alternate":
				res.Why = strings.Join(failed, "; ") + "; falls back to the alternate: " + res.Why
			case made > 0:
				res.Why = strings.Join(failed, "; ") + "; then " + res.Why
			}
			if t.Relocate && made > 0 {
				res.Relocate = relocateAfter(c, attempts*made)
				res.Cost = cost
				res.Why += fmt.Sprintf(" (they look it up when they locate again: unmanaged or failed over, after %d failed cycles)", res.Relocate)
			}
			for _, s := range rules.Served {
				if r := s.Judge(w, c, at); r != nil {
					r.Why = res.Why + "; but " + r.Why
					if !r.OK {
						r.Cost = cost
					}
					return *r
				}
			}
			return res
		}
		made++
		cost += time.Duration(attempts) * v.Cost
		failed = append(failed, fmt.Sprintf("%s: %s (%s)", t.Why, v.Why, v.Outcome))
		lastRule = rule
		if !v.portFailure() {
			break // the MP answered: the next port would not help
		}
	}
	if made == 0 {
		return CycleResult{Rule: "installed-port", Why: "no request port to try"}
	}
	why := strings.Join(failed, "; ")
	// A source the clients missed decides when the port it would have given works.
	for _, t := range missed {
		at := mp
		if t.MP != "" {
			at = lookupMP(w, t.MP, mp)
		}
		if _, v := judge(rules, w, c, at, t); v == nil && served(rules, w, c, at) {
			return CycleResult{Rule: t.Rule, Why: fmt.Sprintf("%s; %s: %s, which would reach %s", why, t.Missed, t.Why, at.Name), Cost: cost}
		}
		notes = append(notes, t.Missed)
	}
	if len(notes) > 0 {
		why += "; " + strings.Join(notes, "; ")
	}
	return CycleResult{Rule: lastRule, Why: why, Cost: cost}
}

// served reports whether a cycle connected to mp would be served (no served rule
// objects, or it answers ok).
func served(rules Rules, w *World, c *Client, mp plan.MP) bool {
	for _, s := range rules.Served {
		if r := s.Judge(w, c, mp); r != nil {
			return r.OK && !r.Uncertain
		}
	}
	return true
}

// relocateAfter is how many failed cycles, of failed attempts each, a located client
// goes through before it locates again: unmanaged_after of them (it is unmanaged and
// looks again), or fewer when they add up to the MP failover's count first.
func relocateAfter(c *Client, failed int) int {
	ua := max(1, c.Group.UnmanagedAfter)
	f := c.Group.MPFailover.Failures
	if f <= 0 || failed <= 0 {
		return ua
	}
	n := (f + failed - 1) / failed
	if n < ua && time.Duration(n-1)*c.Group.PolicyInterval.D()*12/10 <= c.Group.MPFailover.Window.D() {
		return n
	}
	return ua
}

// judge runs the connection rules on one attempt: the first objection and its rule.
func judge(rules Rules, w *World, c *Client, mp plan.MP, t Try) (string, *Verdict) {
	for _, r := range rules.Conn {
		if v := r.Judge(w, c, mp, t); v != nil {
			return r.Name, v
		}
	}
	return "", nil
}

// pathNote says which firewalls the request crossed, if any.
func pathNote(w *World, c *Client, mp plan.MP) string {
	path, err := w.Path(netsim.ClientNode(c.Group.Segment), mp.Addr)
	if err != nil {
		return ""
	}
	var fws []string
	for _, r := range path {
		if _, ok := w.Firewalls[r]; ok {
			fws = append(fws, r)
		}
	}
	if len(fws) == 0 {
		return ""
	}
	return " through the firewall of " + strings.Join(fws, ", ")
}

// ---------------------------------------------------------------------------------
// MP rules.

// mpPinned: a group pinned to an MP (a boundary group) talks to it alone.
func mpPinned(w *World, c *Client) []plan.MP {
	if c.Group.MP == "" {
		return nil
	}
	for _, m := range w.Plan.MPs {
		if m.Name == c.Group.MP {
			return []plan.MP{m}
		}
	}
	return nil
}

// mpChoice: an unpinned client asks a random MP for MPLIST and picks one of its site at
// random; after going unmanaged it looks again. Any MP may serve it.
func mpChoice(w *World, c *Client) []plan.MP { return w.Plan.MPs }

// ---------------------------------------------------------------------------------
// Port rules.

// installedPort: a client tries the request port it holds for its scheme: installed
// (CCMHTTPPORT / CCMHTTPSPORT), pushed, or learned from AD DS or DNS (the try then
// names that rule). The MP list carries no ports.
func installedPort(w *World, c *Client, _ plan.MP, scheme string, _ []Try) ([]Try, string) {
	port := c.port(scheme)
	rule := "installed-port"
	switch c.Source {
	case scenarios.LearnedAD:
		rule = "ad-published"
	case scenarios.LearnedDNS:
		rule = "dns-srv"
	}
	why := fmt.Sprintf("installed %s %d (%s)", scheme, port, c.Installed)
	if rule != "installed-port" {
		why = fmt.Sprintf("%s %d (%s)", scheme, port, c.Installed)
	}
	return []Try{{Port: port, Scheme: scheme, Rule: rule, Why: why}}, ""
}

// alternatePort: when its port fails, a client that knows the site's alternate port
// (knows_alternate) tries it: a domain client the alternate AD DS published when it
// last read it, any other the site's as it is now.
func alternatePort(w *World, c *Client, mp plan.MP, scheme string, tries []Try) ([]Try, string) {
	rp := w.Ports.HTTP
	if scheme == "https" {
		rp = w.Ports.HTTPS
	}
	alt, whose := rp.Alternate, "the site has"
	if readsAD(c) {
		alt, whose = c.ADAlt[0], "AD DS publishes"
		if scheme == "https" {
			alt = c.ADAlt[1]
		}
	}
	switch {
	case alt == 0:
		return nil, fmt.Sprintf("%s no %s alternate port", whose, scheme)
	case !knowsAlt(c):
		return nil, fmt.Sprintf("the clients do not know the alternate %d (knows_alternate: false)", alt)
	}
	if tried(tries, alt, mp, mp.Name) {
		return nil, ""
	}
	return []Try{{Port: alt, Scheme: scheme, Rule: "alternate", Why: fmt.Sprintf("alternate %s %d", scheme, alt)}}, ""
}

// ---------------------------------------------------------------------------------
// Connection rules.

const fastFail = time.Millisecond // a refused or reset connection: at once

// mpRunning: a stopped MP refuses every connection.
func mpRunning(w *World, c *Client, mp plan.MP, t Try) *Verdict {
	if w.Down[mp.Name] {
		return &Verdict{Outcome: "refused", Why: mp.Name + " is stopped", Cost: fastFail}
	}
	return nil
}

// firewallPath: each router firewall between the client's segment and the MP's judges
// the connection's first packet; the first matching rule decides, else the default.
// Established connections pass (the tables are stateful), so a rule change meets the
// next cycle's SYN. drop costs the connect timeout, reject nothing.
func firewallPath(w *World, c *Client, mp plan.MP, t Try) *Verdict {
	return throughFirewalls(w, c, mp.Addr, mpSegment(w.Plan, mp.Name), netsim.ProtoTCP, t.Port, c.Group.ConnectTimeout.D())
}

// match is a firewall's verdict on a new flow: the first matching rule's action and a
// description of the rule, or the default's.
func match(fw netsim.Firewall, proto netsim.Proto, port int, from, to string) (netsim.Action, string) {
	for _, r := range fw.Rules {
		if r.Proto != "" && r.Proto != netsim.ProtoAny && r.Proto != proto {
			continue
		}
		if !r.Ports.IsZero() {
			hi := r.Ports.Hi
			if hi == 0 {
				hi = r.Ports.Lo
			}
			if port < int(r.Ports.Lo) || port > int(hi) {
				continue
			}
		}
		if (r.From != "" && r.From != from) || (r.To != "" && r.To != to) {
			continue
		}
		return r.Action, "rule " + r.Name
	}
	def := fw.Default
	if def == "" {
		def = netsim.Accept
	}
	return def, "the firewall's default"
}

func mpSegment(p *plan.Plan, name string) string {
	for _, h := range p.Net.MPs {
		if h.Name == name {
			return h.Segment
		}
	}
	return ""
}

// mpListens: every MP listens on the site's current ports (secondary sites inherit
// them): HTTP on the HTTP default and alternate, HTTPS (TLS) on the HTTPS ones, the
// notification protocol on the notification port. Elsewhere it refuses. A TLS client
// on a plain HTTP port fails its handshake (and moves on); a plain HTTP client on a TLS
// port is answered 400, which is not a reason to try another port.
func mpListens(w *World, c *Client, mp plan.MP, t Try) *Verdict {
	p := w.Ports
	serves := map[int]string{}
	for _, x := range []struct {
		port   int
		scheme string
	}{{p.HTTP.Default, "http"}, {p.HTTP.Alternate, "http"}, {p.HTTPS.Default, "https"}, {p.HTTPS.Alternate, "https"}, {p.Notification, "tcp"}} {
		if x.port != 0 {
			serves[x.port] = x.scheme
		}
	}
	got, ok := serves[t.Port]
	switch {
	case !ok:
		return &Verdict{Outcome: "refused", Why: fmt.Sprintf("nothing listens on %d at %s (the site serves %s)", t.Port, mp.Name, servedPorts(p)), Cost: fastFail}
	case got == t.Scheme:
		return nil
	case t.Scheme == "https":
		return &Verdict{Outcome: "tls_error", Why: fmt.Sprintf("%d is the site's %s port: no TLS there", t.Port, got), Cost: fastFail}
	case t.Scheme == "http" && got == "https":
		return &Verdict{Outcome: "http_400", Why: fmt.Sprintf("%d is the site's HTTPS port: a plain HTTP request is answered 400", t.Port), Cost: fastFail}
	}
	return &Verdict{Outcome: "error", Why: fmt.Sprintf("%d is the site's %s port, not %s", t.Port, got, t.Scheme), Cost: fastFail}
}

func servedPorts(p scenarios.SitePorts) string {
	s := fmt.Sprintf("http %d", p.HTTP.Default)
	if p.HTTP.Alternate != 0 {
		s += fmt.Sprintf("/%d", p.HTTP.Alternate)
	}
	s += fmt.Sprintf(", https %d", p.HTTPS.Default)
	if p.HTTPS.Alternate != 0 {
		s += fmt.Sprintf("/%d", p.HTTPS.Alternate)
	}
	return s
}

// ---------------------------------------------------------------------------------
// Served rules.

// mpErrors: an MP with an error rate answers that fraction of requests 500/503, which
// fails the cycle without a fallback (the MP answered). A client goes unmanaged when
// its last unmanaged_after cycles all failed; with two requests a cycle, that is
// (1-(1-e)²)^unmanaged_after of the clients, roughly.
func mpErrors(w *World, c *Client, mp plan.MP) *CycleResult {
	e := mp.Config.ErrorRate
	if e <= 0 {
		return nil
	}
	ua := float64(max(1, c.Group.UnmanagedAfter))
	pUn := math.Pow(1-math.Pow(1-e, 2), ua)
	switch {
	case e >= 0.999:
		return &CycleResult{Rule: "mp-errors", Why: fmt.Sprintf("%s answers every request with 5xx (error_rate %g)", mp.Name, e)}
	case pUn*float64(c.Count()) < 0.05:
		return nil
	}
	return &CycleResult{Uncertain: true, Rule: "mp-errors", Why: fmt.Sprintf("%s answers %g of requests with 5xx: about %.1f%% of the clients may be unmanaged at any moment", mp.Name, e, 100*pUn)}
}

// ---------------------------------------------------------------------------------
// Wake rules.

// WakeArrives judges one wake-up event for a sleeping cohort: the rule that decided and
// why (the last one's reason when the packets arrive).
func WakeArrives(rules Rules, w *World, c *Client, wk *plan.Wake) (ok bool, rule, why string) {
	to := wakeTarget(w.Plan, c, wk)
	path, err := w.Path(netsim.SiteNode, to)
	if err != nil {
		return false, "wake-path", "no route from the site server: " + err.Error()
	}
	for _, r := range rules.Wake {
		if decided, why := r.Judge(w, c, wk, path); decided {
			return false, r.Name, why
		}
	}
	return true, "wake-delivery", fmt.Sprintf("wake-up by %s at %s on UDP %d reaches them (through %s)", wakeMode(w.Plan, c, wk), fmtDur(w.At), wk.Port, strings.Join(path, ", "))
}

// wakeTarget is where the cohort's packets go: the client range's directed broadcast
// address, or the first client's own address.
func wakeTarget(p *plan.Plan, c *Client, wk *plan.Wake) netip.Addr {
	if i := c.From; i < len(wk.Send.Targets) {
		return wk.Send.Targets[i].To.Addr()
	}
	a, _ := c.Plan.Client(c.From)
	return a
}

// wakeMode is broadcast when the packets go to the client range's broadcast address.
func wakeMode(p *plan.Plan, c *Client, wk *plan.Wake) string {
	to := wakeTarget(p, c, wk)
	for _, s := range p.Net.Segments {
		if s.Name == c.Group.Segment && s.Clients.IsValid() && netsim.BroadcastAddr(s.Clients) == to {
			return "broadcast"
		}
	}
	return "unicast"
}

// wakeFirewall: every firewall on the path from the site server judges the UDP packet
// to the site's wake-up port.
func wakeFirewall(w *World, c *Client, wk *plan.Wake, path []string) (bool, string) {
	from := ""
	if w.Plan.Net.Site != nil {
		from = w.Plan.Net.Site.Segment
	}
	for _, r := range path {
		fw, ok := w.Firewalls[r]
		if !ok {
			continue
		}
		if act, rule := match(fw, netsim.ProtoUDP, wk.Port, from, c.Group.Segment); act != netsim.Accept {
			return true, fmt.Sprintf("%s %ss the wake-up packets, udp/%d (%s): nobody wakes", r, act, wk.Port, rule)
		}
	}
	return false, ""
}

// wakeDelivery: the last router (the one on the clients' segment) turns the packet into
// a frame a sleeping NIC sees. A subnet-directed broadcast needs that router to forward
// directed broadcasts (bc_forwarding; the routers before it route it as any packet). A
// unicast packet needs the router to know the client's MAC already: a sleeping host
// answers no ARP, so only a static neighbour entry delivers it.
func wakeDelivery(w *World, c *Client, wk *plan.Wake, path []string) (bool, string) {
	if len(path) == 0 {
		return false, ""
	}
	last := path[len(path)-1]
	if wakeMode(w.Plan, c, wk) == "broadcast" {
		for _, r := range w.Plan.Net.Routers {
			if r.Name == last && !r.DirectedBroadcast {
				return true, fmt.Sprintf("%s does not forward directed broadcasts (directed_broadcast: false): the broadcast never reaches %s", last, c.Group.Segment)
			}
		}
		return false, ""
	}
	for _, n := range w.Plan.Neighbors {
		if n.Router == last && n.Link == c.Group.Segment {
			return false, ""
		}
	}
	return true, fmt.Sprintf("%s has no neighbour entry for the sleeping clients (static_neighbors: false) and they answer no ARP: unicast packets are never delivered", last)
}

// ---------------------------------------------------------------------------------
// Notification.

// Channel is the notification channel cohort c keeps in world w: a TCP session to the
// site's notification port, else long polling over the request ports (for mode tcp,
// the fallback; for modes http and https, the only way). ok false: none works.
func Channel(rules Rules, w *World, c *Client) (ok bool, desc string) {
	mode := string(c.Group.Notification)
	if mode == "" || mode == "off" {
		return false, ""
	}
	var mps []plan.MP
	for _, r := range rules.MPs {
		if mps = r.MPs(w, c); mps != nil {
			break
		}
	}
	if len(mps) == 0 {
		return false, "none (no MP)"
	}
	mp := mps[0]
	lp := mode
	tcpWhy := ""
	if mode == "tcp" {
		t := Try{Port: w.Ports.Notification, Scheme: "tcp"}
		_, v := judge(rules, w, c, mp, t)
		if v == nil {
			return true, fmt.Sprintf("tcp %d", t.Port)
		}
		tcpWhy = fmt.Sprintf("tcp %d: %s", t.Port, v.Why)
		lp = string(c.Group.Scheme)
	}
	// Long polling on the request ports of its scheme, as the fleet orders them.
	tmp := *c
	tmp.Group = &scenarios.ClientGroup{}
	*tmp.Group = *c.Group
	tmp.Group.Scheme = scenarios.Scheme(lp)
	var tries []Try
	for _, r := range rules.Ports {
		more, _ := r.Tries(w, &tmp, mp, lp, tries)
		tries = append(tries, more...)
	}
	var failed []string
	for _, t := range tries {
		if t.Missed != "" || t.Uncertain != "" || t.MP != "" {
			continue // the channel is to the MP the client has, on the ports it holds or learns
		}
		_, v := judge(rules, w, &tmp, mp, t)
		if v == nil {
			d := fmt.Sprintf("long polling %s:%d", lp, t.Port)
			if tcpWhy != "" {
				d += " (" + tcpWhy + ")"
			}
			return true, d
		}
		failed = append(failed, fmt.Sprintf("%s:%d: %s", lp, t.Port, v.Why))
	}
	if tcpWhy != "" {
		failed = append([]string{tcpWhy}, failed...)
	}
	return false, "none (" + strings.Join(failed, "; ") + ")"
}
