// Package predict works out, from a lowered scenario alone and without a network, how
// each client group should end a run — managed, unmanaged or still asleep — and why:
// the ports the clients have installed against the ports the site serves after each
// change, whether they know the alternate, the firewall rules on the path between the
// group's segment and its management point, whether wake-up packets get through, and
// whether the run lasts long enough for the failures to add up.
//
// The prediction is made of rules (rules.go): small functions, each one piece of
// ConfigMgr client behaviour as portlab models it, grouped by the question they answer
// (which MPs a client talks to, which ports it tries, whether a connection gets through,
// whether a cycle succeeds once connected, whether a wake-up packet arrives, which
// notification channel it keeps). A prediction names the rule that decided it, so when
// a run disagrees (Compare), the report says which piece of the model was wrong: a
// portlab bug, or a behaviour worth knowing.
//
//	plan.Plan ──Predict──► per group: cohorts (parts a reconfigure fraction splits off)
//	                       └► per cohort: moments (each change) ─rules─► cycle ok / fails
//	                          └► end state: enough failed cycles before the end?
//
// It is not a simulator: it reasons about whole cohorts at each change, with the
// timing bounds of the fleet's schedule (policy interval ±20%, the ramp, connect
// timeouts), and says "uncertain" rather than guess when a group ends close to a
// threshold or depends on random MP choices.
package predict

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// Prediction is one scenario's prediction.
type Prediction struct {
	Scenario string
	Duration time.Duration
	Groups   []Group
}

// Group is one group's prediction: the summary that goes into a result, and the cohorts
// it was made of.
type Group struct {
	reports.GroupPrediction
	Cohorts []Cohort
}

// Cohort is a part of a group whose clients share one history: the whole group, or the
// clients a reconfiguration with a fraction reaches (the first ones of the group) and
// the rest.
type Cohort struct {
	From, To  int // client positions in the group, [From, To)
	Outcome   string
	Rule, Why string
	// Story is what a cycle of these clients does at each moment the world changes.
	Story []Moment
	// Channel is the notification channel at the end; Pushes what each push does.
	Channel string
	Pushes  []Push
	// Learned is where the clients' request port came from at the end (install, push,
	// ad, dns; never: not the site's port).
	Learned scenarios.LearnedSource
}

// Push is one notification push to a cohort.
type Push struct {
	At        time.Duration
	Delivered bool
	Uncertain bool
	Why       string
}

// Moment is one change and what a cycle does after it, until the next one.
type Moment struct {
	At     time.Duration
	Change string // "start", "site_ports: https 443 -> 8443", ...
	Asleep bool
	Cycle  CycleResult
}

// CycleResult is what a policy cycle of a cohort does at one moment.
type CycleResult struct {
	OK bool
	// Uncertain: the rules cannot tell (it depends on random choices or rates); Why says.
	Uncertain bool
	Rule, Why string
	// Cost is how long a failed cycle takes (connect timeouts of dropped SYNs add up);
	// for a success that waits for the clients to locate again (Relocate), how long each
	// of the cycles that fail until then takes.
	Cost time.Duration
	// Port is the port that works (OK).
	Port int
	// Relocate is how many failed cycles the clients go through before they locate again
	// and get to the port that works (0: at once, or at the next cycle).
	Relocate int
	// adopt is what the cohort takes from the source of the port that works.
	adopt func(c *Client)
}

// World is the state of the simulated site and network at one moment.
type World struct {
	Plan *plan.Plan
	At   time.Duration
	// Ports the site serves now (every MP listens on them; secondaries inherit them).
	Ports scenarios.SitePorts
	// Firewalls by router, as they are now (a router without a firewall is absent).
	Firewalls map[string]netsim.Firewall
	// Down are the MPs stopped now.
	Down map[string]bool
	// Pub is what the site server publishes for service location now (location.go).
	Pub   Publication
	paths map[string][]string
}

// Path is the routers a packet from node to addr crosses (netsim.RouterPath), cached.
func (w *World) Path(node string, addr netip.Addr) ([]string, error) {
	k := node + ">" + addr.String()
	if p, ok := w.paths[k]; ok {
		return p, nil
	}
	p, err := netsim.RouterPath(w.Plan.Net, node, addr)
	if err == nil {
		w.paths[k] = p
	}
	return p, err
}

// Client is the state of a cohort's clients at one moment.
type Client struct {
	Group    *scenarios.ClientGroup // the group as run (defaults filled)
	Plan     plan.Group
	From, To int
	// Request ports the clients hold (CCMHTTPPORT, CCMHTTPSPORT) and how they got there.
	HTTPPort, HTTPSPort int
	Installed           string                  // "at install", "by push at 9s", "from AD DS at 18s", ...
	Source              scenarios.LearnedSource // install, push, ad, dns
	// ADAlt are the alternates (HTTP, HTTPS) a domain client knows: AD DS's, as it
	// last read them.
	ADAlt [2]int
	// Reread: a domain client whose last cycle failed reads AD DS at its next one.
	Reread bool
	Asleep bool
}

// Count is the number of clients in the cohort.
func (c *Client) Count() int { return c.To - c.From }

// port is the request port the clients hold for scheme.
func (c *Client) port(scheme string) int {
	if scheme == "https" {
		return c.HTTPSPort
	}
	return c.HTTPPort
}

// Predict predicts every group of a lowered scenario with the default rules.
func Predict(p *plan.Plan) *Prediction { return PredictWith(p, DefaultRules()) }

// PredictWith predicts with the given rules.
func PredictWith(p *plan.Plan, rules Rules) *Prediction {
	pr := &Prediction{Scenario: p.Scenario.Name, Duration: p.Duration}
	for _, pg := range p.Groups {
		pr.Groups = append(pr.Groups, predictGroup(p, rules, pg))
	}
	return pr
}

// Results is the prediction as a result carries it (reports.Result.Prediction).
func (pr *Prediction) Results() []reports.GroupPrediction {
	out := make([]reports.GroupPrediction, 0, len(pr.Groups))
	for _, g := range pr.Groups {
		out = append(out, g.GroupPrediction)
	}
	return out
}

// event is one change of the world or of a cohort, at the time it has taken effect
// for every client it concerns.
type event struct {
	at      time.Duration
	label   string
	apply   func(w *World, c *Client)
	wake    *plan.Wake
	notify  bool
	unknown bool
}

func predictGroup(p *plan.Plan, rules Rules, pg plan.Group) Group {
	sg := scenarioGroup(p.Scenario, pg.Name)
	g := Group{GroupPrediction: reports.GroupPrediction{Group: pg.Name, Count: pg.Count}}
	// Cohorts: the cuts the reconfigurations of this group make.
	cuts := []int{0, pg.Count}
	for _, st := range p.Steps {
		if r, ok := st.Action.(*plan.Reconfigure); ok && r.Args.Group == pg.Name {
			cuts = append(cuts, reconfigured(r.Args.Fraction, pg.Count))
		}
	}
	sort.Ints(cuts)
	for i := 1; i < len(cuts); i++ {
		if cuts[i] == cuts[i-1] {
			continue
		}
		alt := p.Scenario.InitialSite().Ports
		c := &Client{Group: sg, Plan: pg, From: cuts[i-1], To: cuts[i],
			HTTPPort: sg.HTTPPort, HTTPSPort: sg.HTTPSPort, Installed: "at install", Source: scenarios.LearnedInstall,
			ADAlt: [2]int{alt.HTTP.Alternate, alt.HTTPS.Alternate}, Asleep: sg.Asleep}
		g.Cohorts = append(g.Cohorts, predictCohort(p, rules, c))
	}
	g.summarise()
	g.notification()
	if g.Predicted != reports.OutcomeUncertain {
		var srcs []string
		for _, c := range g.Cohorts {
			srcs = append(srcs, string(c.Learned))
		}
		if u := uniq(srcs); len(u) == 1 {
			g.Learned = u[0]
		}
	}
	return g
}

// notification folds the cohorts' channels and pushes into the group's prediction:
// delivered when every push reaches every cohort, not when none does.
func (g *Group) notification() {
	var chans []string
	all, none, n := true, true, 0
	for _, c := range g.Cohorts {
		if c.Channel != "" {
			chans = append(chans, c.Channel)
		}
		for _, p := range c.Pushes {
			n++
			switch {
			case p.Uncertain:
				all, none = false, false
			case p.Delivered:
				none = false
			default:
				all = false
			}
		}
	}
	g.Notification = strings.Join(uniq(chans), " | ")
	if n > 0 && (all || none) {
		v := all
		g.PushDelivered = &v
	}
}

// reconfigured is how many clients of a group of count a reconfiguration reaches: the
// first ceil(fraction·count), as the fleet counts them.
func reconfigured(fraction float64, count int) int {
	if fraction == 0 {
		fraction = 1
	}
	return min(count, int(math.Ceil(fraction*float64(count)-1e-9)))
}

func scenarioGroup(s *scenarios.Scenario, name string) *scenarios.ClientGroup {
	for i := range s.Clients {
		if s.Clients[i].Group == name {
			return &s.Clients[i]
		}
	}
	return &scenarios.ClientGroup{Group: name}
}

// newWorld is the world at the start of the run.
func newWorld(p *plan.Plan) *World {
	w := &World{Plan: p, Ports: p.Scenario.InitialSite().Ports, Firewalls: map[string]netsim.Firewall{}, Down: map[string]bool{},
		Pub: newPublication(p), paths: map[string][]string{}}
	for _, r := range p.Net.Routers {
		if r.Firewall != nil {
			w.Firewalls[r.Name] = *r.Firewall
		}
	}
	return w
}

// events are the changes that concern cohort c, in the order they take effect.
func events(p *plan.Plan, c *Client) []event {
	var evs []event
	for _, st := range p.Steps {
		switch a := st.Action.(type) {
		case *plan.SitePorts:
			ports := a.Ports
			evs = append(evs, event{at: st.At, label: "site_ports: " + st.Detail, apply: func(w *World, _ *Client) { w.Ports = ports }})
		case *plan.Firewall:
			router, fw := a.Router, a.Firewall
			evs = append(evs, event{at: st.At, label: "firewall " + st.Detail, apply: func(w *World, _ *Client) { w.Firewalls[router] = fw }})
		case *plan.MPAction:
			name, start := a.Name, a.Start
			evs = append(evs, event{at: st.At, label: "mp " + st.Detail, apply: func(w *World, _ *Client) { w.Down[name] = !start }})
		case *plan.Reconfigure:
			if a.Args.Group != c.Plan.Name || c.From >= reconfigured(a.Args.Fraction, c.Plan.Count) {
				continue
			}
			args, at := a.Args, st.At
			// Spread over `over`: the cohort's last client has it by at+over.
			done := at + time.Duration(int64(args.Over)*int64(c.To-1)/int64(max(1, reconfigured(args.Fraction, c.Plan.Count))))
			evs = append(evs, event{at: done, label: "reconfigure " + st.Detail, apply: func(_ *World, c *Client) {
				if args.HTTPPort != 0 {
					c.HTTPPort = args.HTTPPort
				}
				if args.HTTPSPort != 0 {
					c.HTTPSPort = args.HTTPSPort
				}
				c.Installed = fmt.Sprintf("by %s at %s", args.Method, fmtDur(at))
				c.Source = scenarios.LearnedInstall
				if args.Method == string(scenarios.MethodPush) {
					c.Source = scenarios.LearnedPush
				}
			}})
		case *plan.Publish:
			at := st.At
			evs = append(evs, event{at: at, label: "publish " + st.Detail, apply: func(w *World, _ *Client) { w.Pub.publish(a, at) }})
		case *plan.DNSRecord:
			args, at, code := a.Args, st.At, p.Scenario.Site.Code
			evs = append(evs, event{at: at, label: "dns_record " + st.Detail, apply: func(w *World, _ *Client) { w.Pub.addRecord(args, code, at) }})
		case *plan.Wake:
			if a.Group == c.Plan.Name {
				evs = append(evs, event{at: st.At, label: "wake " + st.Detail, wake: a})
			}
		case *plan.Notify:
			for _, g := range a.Groups {
				if g == c.Plan.Name {
					evs = append(evs, event{at: st.At, label: "notify " + st.Detail, notify: true})
				}
			}
		default:
			// A step no rule knows (a newer plan): say so rather than predict without it.
			evs = append(evs, event{at: st.At, label: st.Kind + " " + st.Detail, unknown: true})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	return evs
}

// predictCohort walks the cohort through every change and judges its end state.
func predictCohort(p *plan.Plan, rules Rules, c *Client) Cohort {
	co := Cohort{From: c.From, To: c.To}
	w := newWorld(p)
	woke := time.Duration(-1) // when the last client of an asleep cohort woke
	wakeWhy, wakeRule := "no wake-up event for the group: the clients never wake", "asleep"
	if !c.Asleep {
		woke = 0
	}
	co.Story = append(co.Story, Moment{At: 0, Change: "start", Asleep: c.Asleep})
	// The notification channel is set up after the first successful cycle and again
	// after each reconfiguration; a TCP session, once up, survives firewall changes
	// (the tables pass established flows), long polls meet every change.
	chanOK, chanDesc, chanUp := false, "", false
	setUp := func() {
		if !c.Asleep && co.Story[len(co.Story)-1].Cycle.OK {
			chanOK, chanDesc = Channel(rules, w, c)
			chanUp = true
		}
	}
	if !c.Asleep {
		locateAD(w, c) // a domain client's first location reads AD DS
		co.Story[0].Cycle = Cycle(rules, w, c)
		afterCycle(w, c, co.Story[0].Cycle)
		setUp()
	}
	unknown := ""
	for _, ev := range events(p, c) {
		if ev.at >= p.Duration {
			break
		}
		w.At = ev.at
		if ev.unknown {
			if unknown == "" {
				unknown = fmt.Sprintf("the timeline step %q at %s is one no prediction rule models", ev.label, fmtDur(ev.at))
			}
			continue
		}
		if ev.notify {
			if c.Group.Notification == scenarios.NotifyOff {
				continue // no channel: the MP has nobody to push to
			}
			// A push runs a cycle early: the end state does not depend on it.
			pu := Push{At: ev.at, Delivered: chanOK && chanUp, Why: chanDesc}
			switch {
			case c.Asleep:
				pu.Delivered, pu.Why = false, "asleep"
			case ev.at < woke+p.Ramp+time.Second:
				pu.Uncertain, pu.Why = true, "the push comes while clients are still starting"
			case !chanUp:
				pu.Why = "no channel yet: no cycle has succeeded"
			}
			co.Pushes = append(co.Pushes, pu)
			continue
		}
		if ev.apply != nil {
			ev.apply(w, c)
		}
		if ev.wake != nil {
			if !c.Asleep {
				continue
			}
			ok, rule, why := WakeArrives(rules, w, c, ev.wake)
			wakeRule, wakeWhy = rule, why
			if !ok {
				continue
			}
			c.Asleep = false
			locateAD(w, c) // awake, it locates
			// The site server sends at its rate: the cohort's last packet leaves then.
			rate := max(1.0, ev.wake.Send.Rate)
			woke = ev.at + time.Duration(float64(c.To)/rate*float64(time.Second))
		}
		m := Moment{At: w.At, Change: ev.label, Asleep: c.Asleep}
		if !c.Asleep {
			if c.Reread {
				locateAD(w, c) // over whatever the change installed
			}
			m.Cycle = Cycle(rules, w, c)
			afterCycle(w, c, m.Cycle)
		}
		co.Story = append(co.Story, m)
		// Firewall changes leave an established TCP session alone; anything else (a
		// reconfiguration restarts the channel, a port change or an MP restart moves
		// it) sets it up again, as does a first success.
		tcpUp := chanUp && chanOK && strings.HasPrefix(chanDesc, "tcp ")
		switch {
		case c.Asleep:
		case !chanUp:
			setUp()
		case !(strings.HasPrefix(ev.label, "firewall ") && tcpUp):
			chanOK, chanDesc = Channel(rules, w, c)
		}
	}
	co.Channel = chanDesc
	co.Learned = learned(w, c)
	if unknown != "" {
		co.Outcome, co.Rule, co.Why = reports.OutcomeUncertain, "unmodelled-step", unknown
		return co
	}
	if c.Asleep {
		co.Outcome, co.Rule, co.Why = reports.OutcomeAsleep, wakeRule, wakeWhy
		return co
	}
	co.Outcome, co.Rule, co.Why = endState(p, c, co.Story, woke)
	if wakeRule != "asleep" && co.Outcome == reports.OutcomeManaged && c.Group.Asleep {
		co.Why = wakeWhy + "; then " + co.Why
	}
	return co
}

// afterCycle is what a cycle leaves the cohort with: the ports it learned where it
// succeeded; after a failure a domain client reads AD DS again (and takes what it
// publishes, working or not).
func afterCycle(w *World, c *Client, r CycleResult) {
	switch {
	case r.Uncertain:
	case r.OK:
		if r.adopt != nil {
			r.adopt(c)
		}
		c.Reread = false
	default:
		c.Reread = readsAD(c) && w.Pub.Served
		if c.Reread {
			locateAD(w, c)
		}
	}
}

// learned is where the cohort's request port came from at the end, as the run counts
// it: never when the port of its scheme is not the site's default.
func learned(w *World, c *Client) scenarios.LearnedSource {
	want := w.Ports.HTTP.Default
	if c.Group.Scheme == scenarios.SchemeHTTPS {
		want = w.Ports.HTTPS.Default
	}
	if c.port(string(c.Group.Scheme)) != want {
		return scenarios.LearnedNever
	}
	return c.Source
}

// endState judges the end of the run from the cohort's story: the last moment's cycle
// decides, if there is time for it to take effect (one cycle to recover, unmanaged_after
// failed cycles to go unmanaged).
func endState(p *plan.Plan, c *Client, story []Moment, start time.Duration) (outcome, rule, why string) {
	g := c.Group
	d := p.Duration
	interval := g.PolicyInterval.D()
	ua := max(1, g.UnmanagedAfter)
	// The fleet plans cycles at the interval with ±10% jitter: consecutive ones are
	// 0.8 to 1.2 intervals apart. Clients start spread over the ramp.
	gapMax, gapMin := interval*12/10, interval*8/10
	ramp := time.Duration(0)
	if start == 0 {
		ramp = p.Ramp
	}
	margin := interval/4 + 500*time.Millisecond
	var awake []Moment
	for _, m := range story {
		if !m.Asleep {
			awake = append(awake, m)
		}
	}
	last := awake[len(awake)-1]
	if last.Cycle.Uncertain {
		return reports.OutcomeUncertain, last.Cycle.Rule, last.Cycle.Why
	}
	at := max(last.At, start)
	if last.Cycle.OK {
		// Recovery, if the moment before failed: the cycle in flight ends, the next one succeeds.
		if len(awake) > 1 && !awake[len(awake)-2].Cycle.OK {
			prev := awake[len(awake)-2].Cycle
			if ready := at + prev.Cost + gapMax + margin; ready > d {
				return reports.OutcomeUncertain, "time-to-managed", fmt.Sprintf("%s; but from %s on there is less than a cycle (%s) before the end at %s",
					last.Cycle.Why, fmtDur(at), fmtDur(prev.Cost+gapMax), fmtDur(d))
			}
		}
		if k := last.Cycle.Relocate; k > 0 {
			// The port that works is one they get to only when they locate again: after k
			// failed cycles from when their port began to fail (at once if that was
			// before their first success: they have located nowhere yet).
			failFrom, located := at, false
			for i := len(awake) - 2; i >= 0; i-- {
				if awake[i].Cycle.OK {
					located = true
					break
				}
				failFrom = max(awake[i].At, start)
			}
			if located {
				cost := max(gapMax, last.Cycle.Cost)
				relocated := failFrom + gapMax + time.Duration(k-1)*cost + last.Cycle.Cost
				if ready := max(at, relocated) + gapMax + margin; ready > d {
					return reports.OutcomeUncertain, "time-to-managed", fmt.Sprintf("%s; but they get there only by about %s, too close to the end at %s",
						last.Cycle.Why, fmtDur(ready), fmtDur(d))
				}
			}
		}
		if first := start + ramp + margin; first > d {
			return reports.OutcomeUncertain, "time-to-managed", "the run ends before the clients' first cycle"
		}
		return reports.OutcomeManaged, last.Cycle.Rule, last.Cycle.Why
	}
	// Failing at the end: since when, without a success in between?
	from, everOK := start, false
	costMax, costMin := time.Duration(0), time.Duration(math.MaxInt64)
	for i := len(awake) - 1; i >= 0; i-- {
		m := awake[i]
		if m.Cycle.OK || m.Cycle.Uncertain {
			everOK = true
			break
		}
		from = max(m.At, start)
		costMax, costMin = max(costMax, m.Cycle.Cost), min(costMin, m.Cycle.Cost)
	}
	var latest, earliest time.Duration
	if !everOK && from == start {
		// Failing from their first cycle, at the client's start.
		latest = start + ramp + time.Duration(ua-1)*max(gapMax, costMax) + costMax
		earliest = start + time.Duration(ua-1)*max(gapMin, costMin) + costMin
	} else {
		latest = from + gapMax + time.Duration(ua-1)*max(gapMax, costMax) + costMax
		earliest = from + time.Duration(ua-1)*max(gapMin, costMin) + costMin
	}
	switch {
	case latest+margin <= d:
		return reports.OutcomeUnmanaged, last.Cycle.Rule, fmt.Sprintf("%s; unmanaged after %d failed cycles, by about %s", last.Cycle.Why, ua, fmtDur(latest))
	case earliest > d && everOK:
		return reports.OutcomeManaged, "time-to-unmanaged", fmt.Sprintf("%s from %s, but %d failed cycles take until at least %s, after the end at %s",
			last.Cycle.Why, fmtDur(from), ua, fmtDur(earliest), fmtDur(d))
	}
	return reports.OutcomeUncertain, "time-to-unmanaged", fmt.Sprintf("%s from %s; %d failed cycles end between %s and %s, too close to the end at %s",
		last.Cycle.Why, fmtDur(from), ua, fmtDur(earliest), fmtDur(latest), fmtDur(d))
}

// summarise folds the cohorts into the group's prediction.
func (g *Group) summarise() {
	gp := &g.GroupPrediction
	first := g.Cohorts[0]
	same := true
	for _, c := range g.Cohorts[1:] {
		if c.Outcome != first.Outcome {
			same = false
		}
	}
	for _, c := range g.Cohorts {
		if c.Outcome == reports.OutcomeUncertain {
			gp.Predicted, gp.Rule, gp.Why = reports.OutcomeUncertain, c.Rule, cohortLabel(g, c)+c.Why
			return
		}
	}
	if same {
		gp.Predicted, gp.Rule, gp.Why = first.Outcome, first.Rule, first.Why
	} else {
		gp.Predicted = reports.OutcomeSplit
		var rules, whys []string
		for _, c := range g.Cohorts {
			rules = append(rules, c.Rule)
			whys = append(whys, fmt.Sprintf("%s%s: %s", cohortLabel(g, c), c.Outcome, c.Why))
		}
		gp.Rule, gp.Why = strings.Join(uniq(rules), ", "), strings.Join(whys, " | ")
	}
	for _, c := range g.Cohorts {
		n := c.To - c.From
		switch c.Outcome {
		case reports.OutcomeManaged:
			gp.Managed += n
		case reports.OutcomeUnmanaged:
			gp.Unmanaged += n
		case reports.OutcomeAsleep:
			gp.Asleep += n
		}
	}
}

func cohortLabel(g *Group, c Cohort) string {
	if len(g.Cohorts) == 1 {
		return ""
	}
	return fmt.Sprintf("clients %d-%d: ", c.From+1, c.To)
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// fmtDur prints a duration as the scenario would: 8s, 1.5s, 250ms.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d >= time.Second:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".") + "s"
	}
	return d.Round(time.Millisecond).String()
}
