package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/portlab/portlab/agent/site/directory"
	"github.com/portlab/portlab/agent/site/sitedns"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/wire"
)

// Service location, as a ConfigMgr client runs it (DOMAIN.md, "How a client finds its
// MP"). A client with a membership locates at its start, every location refresh (the
// real 25 h, compressed), after its installed port failed (a domain client then reads
// AD DS again) and after N failed attempts within a window (MP failover: it picks
// another MP at random). Its sources depend on the membership:
//
//	membership        AD DS (global catalog)   MP list (MPLIST)   DNS (SRV)
//	domain            first: ports and MPs     yes                when the MP list fails
//	other-forest      -                        first              when the MP list fails
//	workgroup         -                        first              when the MP list fails
//	internet          -                        internet-facing MPs only
//
// AD DS gives the site's request ports (the one place portlab publishes them, see
// directory.PortsElement) and the site's MPs; a DNS SRV record gives an MP and the port
// it advertises (the HTTP request port), which an HTTP client takes, stale or not. The
// MP list names MPs but carries no ports. Lookups are real LDAP and DNS exchanges from
// the client's own address to the site server's, so a firewall between them has its
// real effect.
//
// The decisions (locRules, locState) are pure and tested on a fake clock; the lookups
// run in the cycle goroutine (Fleet.locate) and their results are applied by the owning
// worker (worker.afterCycle), like every other result. A client without a membership
// (benchmarks, a fleet configured without a site server) only fetches the MP list, once.

// membership is a group's Membership, parsed once.
type membership uint8

const (
	memberNone membership = iota // the MP list only, at start: no refresh, no failover
	memberDomain
	memberOtherForest
	memberWorkgroup
	memberInternet
)

func parseMembership(s string) (membership, bool) {
	switch s {
	case "":
		return memberNone, true
	case "domain":
		return memberDomain, true
	case "other-forest":
		return memberOtherForest, true
	case "workgroup":
		return memberWorkgroup, true
	case "internet":
		return memberInternet, true
	}
	return memberNone, false
}

func (m membership) readsAD() bool { return m == memberDomain }
func (m membership) readsDNS() bool {
	return m == memberDomain || m == memberOtherForest || m == memberWorkgroup
}

// source is where a client's request ports came from.
type source uint8

const (
	srcInstall source = iota // installed with them (CCMSetup, PORTSWITCH.VBS)
	srcPush                  // client push: the site's ports at the time
	srcAD                    // read from AD DS
	srcDNS                   // from a DNS SRV record
)

var sourceNames = [...]string{srcInstall: "install", srcPush: "push", srcAD: "ad", srcDNS: "dns"}

func (s source) String() string { return sourceNames[s] }

// LearnedNever is ClientState.Learned of a client whose request port is not the site's.
const LearnedNever = "never"

// Location defaults (scenarios fills them for scenario runs).
const (
	DefaultLocationRefresh  = 30 * time.Second
	DefaultFailoverFailures = 5
	DefaultFailoverWindow   = 20 * time.Second
)

// normalizeLocation parses the membership and fills the location defaults.
func (g *Group) normalizeLocation() error {
	m, ok := parseMembership(g.Membership)
	if !ok {
		return fmt.Errorf("membership %q (want domain, other-forest, workgroup or internet)", g.Membership)
	}
	g.member = m
	setDur(&g.LocationRefresh, DefaultLocationRefresh)
	setDur(&g.FailoverWindow, DefaultFailoverWindow)
	if g.FailoverFailures == 0 {
		g.FailoverFailures = DefaultFailoverFailures
	}
	if g.LocationRefresh < 0 || g.FailoverWindow < 0 || g.FailoverFailures < 0 || g.FailoverFailures > 1000 {
		return fmt.Errorf("location_refresh, failover_window must be positive and failover_failures 1..1000")
	}
	return nil
}

// rules are a group's location rules.
func (g *Group) rules() locRules {
	return locRules{member: g.member, refresh: g.LocationRefresh.D(), failures: g.FailoverFailures, window: g.FailoverWindow.D()}
}

// locRules decide when a client locates and with which sources. Pure.
type locRules struct {
	member   membership
	refresh  time.Duration
	failures int
	window   time.Duration
}

// locState is one client's location state (owned by its worker).
type locState struct {
	next     time.Duration // the next refresh, from the run's start; 0: never located
	winStart time.Duration // first failure of the failover window
	fails    uint16        // failed attempts in the window
	reread   bool          // domain: the installed port failed; read AD DS at the next cycle
	failover bool          // pick another MP at the next location
	learned  source        // where the client's ports came from
	alt      [2]uint16     // the alternates (HTTP, HTTPS) the client knows (domain: from AD DS)
	assigned int16         // index in Config.MPs of the assigned MP (registration); -1: none yet
	// followGen is the site change whose new port this client has already followed.
	followGen uint32
}

// locReason is why a cycle runs service location.
type locReason uint8

const (
	locNone     locReason = iota
	locStart              // never located
	locLost               // located before, lost it (became unmanaged, a failed location)
	locRefresh            // the refresh interval passed
	locReread             // domain: the installed port failed
	locFailover           // N failed attempts within the window
)

// next says whether the cycle about to start at now locates, and why.
func (r locRules) next(s *locState, located bool, now time.Duration) locReason {
	switch {
	case r.member == memberNone:
		if !located {
			return locStart
		}
		return locNone
	case s.failover:
		return locFailover
	case !located && s.next == 0:
		return locStart
	case !located:
		return locLost
	case s.reread:
		return locReread
	case now >= s.next:
		return locRefresh
	}
	return locNone
}

// sources are the lookups a location for reason may use beside the MP list.
func (r locRules) sources(reason locReason) (ad, dns bool) {
	if reason == locNone {
		return false, false
	}
	return r.member.readsAD(), r.member.readsDNS()
}

// located records a completed location at now: the next refresh is due a refresh
// interval later.
func (r locRules) located(s *locState, now time.Duration) {
	if r.member == memberNone {
		return
	}
	s.next = max(now+r.refresh, 1)
	s.reread, s.failover = false, false
}

// cycleEnded counts a cycle's failed attempts at now and reports whether they complete
// a failover: `failures` failed attempts within `window` of the first of them. A cycle
// that ended well clears the count. A failed cycle of a domain client also has it read
// AD DS again at its next cycle.
func (r locRules) cycleEnded(s *locState, now time.Duration, failed int, ok bool) (failover bool) {
	if r.member == memberNone {
		return false
	}
	if ok {
		s.fails = 0
		return false
	}
	if r.member.readsAD() {
		s.reread = true
	}
	if failed <= 0 {
		return false
	}
	if s.fails == 0 || now-s.winStart > r.window {
		s.winStart, s.fails = now, 0
	}
	s.fails = uint16(min(int(s.fails)+failed, 1<<15))
	if int(s.fails) >= r.failures {
		s.fails = 0
		s.failover = true
		return true
	}
	return false
}

// adopt returns the client's ports (HTTP, HTTPS) after it learned pub from src: each
// published port (non-zero) replaces the client's; the source changes when the port
// of the client's scheme changed.
func adopt(cur [2]int, learned source, pub [2]int, src source, https bool) ([2]int, source) {
	i := 0
	if https {
		i = 1
	}
	if pub[i] != 0 && pub[i] != cur[i] {
		learned = src
	}
	for k := range cur {
		if pub[k] != 0 {
			cur[k] = pub[k]
		}
	}
	return cur, learned
}

// locJob is what a cycle's location needs, decided by the worker.
type locJob struct {
	reason  locReason
	ad, dns bool
	avoid   string // failover: the MP given up on
}

// locResult is what a cycle's location found.
type locResult struct {
	ran                bool
	ldap, ldapFail     uint8
	dns, dnsFail       uint8
	adOK               bool
	ad                 directory.Ports
	dnsOK              bool
	dnsPort            int
	dnsTarget, ldapErr string
}

// followMark is the site change clients are following: its number, when it happened
// and the new default ports; a zero port did not change.
type followMark struct {
	gen         uint32
	at          time.Time
	http, https int
}

// fleetLoc is the fleet's location state.
type fleetLoc struct {
	anyInternetFacing bool
	followGen         uint32
}

// initLocation readies every client's location state (NewFleet).
func (f *Fleet) initLocation() {
	for _, m := range f.cfg.MPs {
		f.loc.anyInternetFacing = f.loc.anyInternetFacing || m.InternetFacing
	}
	alt := [2]uint16{uint16(f.cfg.SitePorts.HTTP.Alternate), uint16(f.cfg.SitePorts.HTTPS.Alternate)}
	for _, c := range f.clients {
		c.loc.alt = alt
		c.loc.assigned = -1
	}
}

// alternate is the alternate port the client knows for its scheme (0: none).
func (c *client) alternate(site SitePorts, https bool) int {
	if !c.g.KnowsAlternate {
		return 0
	}
	if c.g.member.readsAD() {
		if https {
			return int(c.loc.alt[1])
		}
		return int(c.loc.alt[0])
	}
	if https {
		return site.HTTPS.Alternate
	}
	return site.HTTP.Alternate
}

// allowed reports whether the client may use m: internet clients only internet-facing
// MPs (any MP when none is).
func (f *Fleet) allowed(c *client, m *MP) bool {
	return c.g.member != memberInternet || !f.loc.anyInternetFacing || m.InternetFacing
}

// beforeCycle decides whether the cycle about to start locates, and with what (the
// worker, before startCycle picks the MP).
func (w *worker) beforeCycle(c *client, now time.Time) locJob {
	r := c.g.rules()
	reason := r.next(&c.loc, c.located, now.Sub(w.f.t0))
	var lj locJob
	if reason == locNone {
		return lj
	}
	lj.reason = reason
	lj.ad, lj.dns = r.sources(reason)
	if w.f.cfg.Location == nil {
		lj.ad, lj.dns = false, false
	}
	c.located = false
	if reason == locFailover && c.g.MP == "" {
		lj.avoid = c.mp.Name
		c.mp = w.f.pickMP(c, c.mp.Name)
	}
	return lj
}

// pickMP picks an MP the client may use at random (seeded), another than avoid when
// there is one.
func (f *Fleet) pickMP(c *client, avoid string) MP {
	var cands []int
	for i := range f.cfg.MPs {
		m := &f.cfg.MPs[i]
		if f.allowed(c, m) && m.Name != avoid {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		for i := range f.cfg.MPs {
			if f.allowed(c, &f.cfg.MPs[i]) {
				cands = append(cands, i)
			}
		}
	}
	if len(cands) == 0 {
		return f.cfg.MPs[0]
	}
	return f.cfg.MPs[cands[int(unitFloat(f.cfg.Seed, c.index, 3+uint64(c.mpPicks))*float64(len(cands)))]]
}

// locate runs the cycle's service location in the cycle goroutine: AD DS, the MP list
// and DNS as the job says, leaving j.port and j.alt on the ports it learned and res.mp
// on the MP it chose.
func (f *Fleet) locate(ctx context.Context, j *job, res *cycleResult, step func(string, []request) ([][]byte, error)) error {
	c := j.c
	lr := &res.loc
	lr.ran = true
	pinned := c.g.MP != ""
	https := c.g.Scheme == "https"
	loc := f.cfg.Location
	if j.loc.ad && loc != nil && loc.GlobalCatalog.IsValid() {
		lr.ldap++
		r, err := f.lookupAD(ctx, c)
		if err != nil {
			lr.ldapFail++
			lr.ldapErr = err.Error()
		} else {
			lr.adOK, lr.ad = true, r.Ports
			if p, alt := publishedFor(r.Ports, https, c.g.KnowsAlternate); p != 0 {
				j.port, j.alt = p, alt
			}
			if !pinned {
				var names []string
				for _, m := range r.MPs {
					names = append(names, m.Name)
				}
				if m, ok := f.pickNamed(c, names, j.pickSeed, j.loc.avoid, res.mp.Name); ok {
					res.mp = m
				}
			}
		}
	}
	if ctx.Err() != nil {
		return errRunOver
	}
	bodies, err := step(metrics.OpLocation, []request{mplist})
	if err != nil && j.loc.dns && loc != nil && loc.DNS.IsValid() && ctx.Err() == nil {
		lr.dns++
		dctx, cancel := context.WithTimeout(ctx, 2*sitedns.DefaultTimeout)
		targets, derr := sitedns.LookupMP(dctx, sitedns.SourceDialer(c.addr), loc.DNS, f.cfg.SiteCode, f.cfg.Domain)
		cancel()
		if derr != nil {
			lr.dnsFail++
		} else {
			t := pickTarget(targets, res.mp.Name, j.loc.avoid, j.pickSeed)
			lr.dnsOK, lr.dnsPort, lr.dnsTarget = true, int(t.Port), t.FQDN
			if !pinned {
				res.mp = f.mpForTarget(t)
			}
			if !https { // the SRV record carries the HTTP request port
				j.port, j.alt = int(t.Port), 0
			}
			bodies, err = step(metrics.OpLocation, []request{mplist})
		}
	}
	if err != nil {
		return fmt.Errorf("client %d: location at %s: %w", c.index, res.mp.Name, err)
	}
	list, err := wire.ParseMPList(bodies[0])
	if err != nil {
		return fmt.Errorf("client %d: location at %s: MPLIST: %w", c.index, res.mp.Name, err)
	}
	if !pinned {
		names := make([]string, len(list))
		for i, e := range list {
			names[i] = e.Name
		}
		prefer := ""
		switch j.loc.reason {
		case locReread, locLost, locFailover: // keep the MP it has (failover: the new one)
			prefer = res.mp.Name
		}
		if m, ok := f.pickNamed(c, names, j.pickSeed, j.loc.avoid, prefer); ok {
			res.mp = m
		}
	}
	res.located = true
	return nil
}

// publishedFor is the request port and alternate a client of a scheme takes from AD DS.
func publishedFor(p directory.Ports, https, knowsAlt bool) (port, alt int) {
	port, alt = int(p.HTTP), int(p.HTTPAlternate)
	if https {
		port, alt = int(p.HTTPS), int(p.HTTPSAlternate)
	}
	if !knowsAlt || alt == port {
		alt = 0
	}
	return port, alt
}

// lookupAD reads the site's publication from the global catalog, from the client's
// own address, within the client's connect timeout plus two seconds.
func (f *Fleet) lookupAD(ctx context.Context, c *client) (directory.Result, error) {
	timeout := c.g.ConnectTimeout.D()
	lctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	conn, err := f.conn.dial(lctx, c.addr, f.cfg.Location.GlobalCatalog, timeout)
	if err != nil {
		return directory.Result{}, fmt.Errorf("ldap dial %s: %w", f.cfg.Location.GlobalCatalog, err)
	}
	return directory.LookupMPs(lctx, conn, f.cfg.Domain, f.cfg.SiteCode)
}

// pickNamed picks, among the fleet's MPs named in names (case-insensitive) that the
// client may use, prefer if it is one of them, else one at random (seeded), another
// than avoid when there is one.
func (f *Fleet) pickNamed(c *client, names []string, seed uint64, avoid, prefer string) (MP, bool) {
	var known, other []MP
	for _, n := range names {
		for i := range f.cfg.MPs {
			m := &f.cfg.MPs[i]
			if !strings.EqualFold(m.Name, n) || !f.allowed(c, m) {
				continue
			}
			if prefer != "" && m.Name == prefer {
				return *m, true
			}
			if m.Name == avoid {
				other = append(other, *m)
			} else {
				known = append(known, *m)
			}
		}
	}
	if len(known) == 0 {
		known = other
	}
	if len(known) == 0 {
		return MP{}, false
	}
	return known[rand.New(rand.NewPCG(seed, 0x4d504c495354)).IntN(len(known))], true
}

// pickTarget picks the SRV target of the MP the client has, else one at random
// (seeded), another than avoid when there is one.
func pickTarget(ts []sitedns.Target, current, avoid string, seed uint64) sitedns.Target {
	label := func(t sitedns.Target) string { n, _, _ := strings.Cut(t.FQDN, "."); return n }
	var cands []sitedns.Target
	for _, t := range ts {
		if current != "" && current != avoid && strings.EqualFold(label(t), current) {
			return t
		}
		if !strings.EqualFold(label(t), avoid) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		cands = ts
	}
	return cands[rand.New(rand.NewPCG(seed, 0x53525654)).IntN(len(cands))]
}

// mpForTarget is the fleet's MP an SRV target names, at the address DNS gave; an MP
// the fleet does not know is reached at that address under the target's name.
func (f *Fleet) mpForTarget(t sitedns.Target) MP {
	name, _, _ := strings.Cut(t.FQDN, ".")
	for _, m := range f.cfg.MPs {
		if strings.EqualFold(m.Name, name) {
			m.Addr = t.Addr
			return m
		}
	}
	return MP{Name: name, Addr: t.Addr, FQDN: t.FQDN}
}

// mpIndex is the index of the fleet's MP called name, -1 if none.
func (f *Fleet) mpIndex(name string) int16 {
	for i, m := range f.cfg.MPs {
		if m.Name == name {
			return int16(i)
		}
	}
	return -1
}

// assignedMP is the MP registration goes to once the client has one (the MP of its
// first location); the zero MP before: registration goes to the MP it located.
func (f *Fleet) assignedMP(c *client) MP {
	if c.g.member == memberNone || c.loc.assigned < 0 {
		return MP{}
	}
	return f.cfg.MPs[c.loc.assigned]
}

// afterCycle applies a cycle's location results and failures to the client (worker).
func (w *worker) afterCycle(ctx context.Context, c *client, r *cycleResult) {
	g := c.g.Name
	lr := &r.loc
	if lr.ldap > 0 {
		w.rec.Add(metrics.CLDAPQueries, g, int64(lr.ldap))
		w.rec.Add(metrics.CLDAPFailures, g, int64(lr.ldapFail))
	}
	if lr.dns > 0 {
		w.rec.Add(metrics.CDNSQueries, g, int64(lr.dns))
		w.rec.Add(metrics.CDNSFailures, g, int64(lr.dnsFail))
	}
	rules := c.g.rules()
	now := r.end.Sub(w.f.t0)
	https := c.g.Scheme == "https"
	before := [2]int{c.httpPort, c.httpsPort}
	ports := before
	if lr.adOK {
		ports, c.loc.learned = adopt(ports, c.loc.learned, [2]int{int(lr.ad.HTTP), int(lr.ad.HTTPS)}, srcAD, https)
		c.loc.alt = [2]uint16{lr.ad.HTTPAlternate, lr.ad.HTTPSAlternate}
	}
	if lr.dnsOK && !https {
		ports, c.loc.learned = adopt(ports, c.loc.learned, [2]int{lr.dnsPort, 0}, srcDNS, false)
	}
	if ports != before {
		c.httpPort, c.httpsPort = ports[0], ports[1]
		if c.notify != nil { // the long-poll fallback follows the new ports
			w.stopNotify(c)
			w.startNotify(ctx, c)
		}
	}
	if lr.ran {
		w.rec.Add(metrics.CRelocated, g, 1)
	}
	if r.located && lr.ran {
		rules.located(&c.loc, now)
		if c.loc.assigned < 0 {
			c.loc.assigned = w.f.mpIndex(r.mp.Name)
		}
	}
	failed := 0
	for i := range r.attempts {
		if r.attempts[i].outcome != metrics.OK {
			failed++
		}
	}
	if rules.cycleEnded(&c.loc, now, failed, r.ok) {
		w.rec.Add(metrics.CFailovers, g, 1)
	}
	w.noteFollow(c, r)
}

// noteFollow records the client's follow time once it succeeded on the new port of the
// site change it has not followed yet.
func (w *worker) noteFollow(c *client, r *cycleResult) {
	m := &w.follow
	if !r.ok || m.gen == 0 || c.loc.followGen == m.gen {
		return
	}
	want := m.http
	if c.g.Scheme == "https" {
		want = m.https
	}
	if want == 0 || r.port != want {
		return
	}
	c.loc.followGen = m.gen
	w.rec.Record(metrics.Key{Metric: metrics.FollowTime, Op: metrics.OpFollow, Group: c.g.Name}, r.end.Sub(m.at))
	w.transition(c, r.end, "", "followed")
}

// siteChanged is the follow mark of a site change from old to p at now; the zero mark
// (gen 0) when no default request port moved.
func (f *Fleet) siteChanged(old, p SitePorts, now time.Time, prev followMark) followMark {
	m := followMark{at: now}
	if old.HTTP.Default != p.HTTP.Default {
		m.http = p.HTTP.Default
	}
	if old.HTTPS.Default != p.HTTPS.Default {
		m.https = p.HTTPS.Default
	}
	if m.http == 0 && m.https == 0 {
		return prev
	}
	f.loc.followGen++
	m.gen = f.loc.followGen
	return m
}

// learnedName says where the client learned its request port, or never when it is not
// the site's current one.
func (c *client) learnedName(site SitePorts) string {
	port, want := c.httpPort, site.HTTP.Default
	if c.g.Scheme == "https" {
		port, want = c.httpsPort, site.HTTPS.Default
	}
	if port != want {
		return LearnedNever
	}
	return c.loc.learned.String()
}

// Location is where the clients look the site up: the site server's global catalog
// (AD DS, TCP 3268) and DNS server (53). An invalid address is a source they lack.
type Location struct {
	GlobalCatalog netip.AddrPort `json:"global_catalog"`
	DNS           netip.AddrPort `json:"dns"`
}
