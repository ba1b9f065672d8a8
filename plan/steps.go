package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/scenarios"
)

// Step is one timeline event, lowered: when, what (for the console and the result), and
// the typed action whose agent commands are already worked out.
type Step struct {
	// At is the offset from the start of the load.
	At time.Duration
	// Kind is the event's kind as the scenario names it: site_ports, reconfigure,
	// firewall, notify, wake, mp.
	Kind string
	// Detail says what the step does, for the console and the result.
	Detail string
	// Action is one of *SitePorts, *Reconfigure, *Firewall, *Notify, *Wake, *MPAction,
	// *Publish, *DNSRecord.
	Action any
}

// Publish changes what the site publishes in AD DS and DNS: a `publish` event of the
// timeline, or a site change reaching the publication after site.publish.delay (then
// Change is when the site changed).
type Publish struct {
	Args   site.PublishArgs
	Change time.Duration
	Lagged bool // the publication of a site change, not an event of its own
}

// DNSRecord adds a hand-made SRV record.
type DNSRecord struct {
	Args site.RecordArgs
}

// SitePorts changes the site's ports: every MP moves its listeners (secondary sites
// inherit the primary's ports) and every fleet learns what the site now publishes.
type SitePorts struct {
	Ports  scenarios.SitePorts // the site's ports after the change
	Listen map[string]mp.Listen
	Fleet  fleet.SitePorts
}

// Reconfigure changes what a group of clients has installed.
type Reconfigure struct {
	Fleets []int // the fleet processes holding the group (indexes into Plan.Fleets)
	Args   fleet.Reconfigure
}

// Firewall replaces a router's rule set.
type Firewall struct {
	Router   string
	Firewall netsim.Firewall
}

// Notify pushes a notification through every running MP.
type Notify struct {
	Args   mp.PushArgs
	Groups []string // the groups it reaches
}

// Wake has the site server send magic packets; the fleet is told first so its
// time-to-managed starts at the send.
type Wake struct {
	Group  string
	Fleets []int // the fleet processes holding the group
	Send   site.SendArgs
	// Expect is the fleet's expect_wake argument; the runner sets SentNS.
	Expect fleet.WakeArgs
	Port   int
}

// MPAction stops or starts a management point.
type MPAction struct {
	Name  string
	Start bool
}

// steps lowers the timeline in time order, tracking the site's ports as they change
// so that each step carries what the agents need at that moment.
func (p *Plan) steps(s *scenarios.Scenario, shard *Shard) error {
	order := make([]int, len(s.Timeline))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.Timeline[order[a]].At < s.Timeline[order[b]].At })
	st0 := s.InitialSite()
	ports := st0.Ports
	var lagged []Step
	for _, i := range order {
		e := s.Timeline[i]
		if shard.skipStep(e) {
			continue // another shard's group or MP (site_ports, which `ports` follows, never is)
		}
		st := Step{At: e.At.D()}
		switch {
		case e.SitePorts != nil:
			old, oldCW := ports, st0.CustomWebsite
			st0 = e.SitePorts.ApplySite(st0, s.Site.CustomWebsite)
			ports = st0.Ports
			a := &SitePorts{Ports: ports, Listen: map[string]mp.Listen{}, Fleet: sitePorts(ports)}
			for _, m := range p.MPs {
				a.Listen[m.Name] = listen(m.Addr, ports)
			}
			delta := portsDelta(old, ports)
			if oldCW != st0.CustomWebsite {
				cw := "custom website off"
				if st0.CustomWebsite {
					cw = "custom website on"
				}
				if delta == "no change" {
					delta = cw
				} else {
					delta = cw + ": " + delta
				}
			}
			st.Kind, st.Detail, st.Action = "site_ports", delta, a
			// The site republishes its new ports after the delay (within the run).
			if at := e.At.D() + s.Site.Publish.Delay.D(); p.Site.Location != nil && at < s.Duration.D() {
				pp := publishedPorts(ports)
				lagged = append(lagged, Step{At: at, Kind: "publish",
					Detail: fmt.Sprintf("the site change of %s reaches %%s: http %d, https %d", e.At, pp.HTTP, pp.HTTPS),
					Action: &Publish{Args: site.PublishArgs{Ports: &pp}, Change: e.At.D(), Lagged: true}})
			}
		case e.Reconfigure != nil:
			r := e.Reconfigure
			g, ok := p.Group(r.Group)
			if !ok {
				return fmt.Errorf("timeline[%d]: no group %q", i, r.Group)
			}
			args := fleet.Reconfigure{Group: r.Group, Method: string(r.Method), HTTPPort: r.HTTPPort, HTTPSPort: r.HTTPSPort,
				Fraction: r.Fraction, Over: agent.Duration(r.Over)}
			if r.Method == scenarios.MethodPush { // client push installs the site's current ports
				args.HTTPPort, args.HTTPSPort = ports.HTTP.Default, ports.HTTPS.Default
			}
			over := ""
			if r.Over != 0 {
				over = " over " + r.Over.String()
			}
			st.Kind, st.Detail = "reconfigure", fmt.Sprintf("%s by %s%s", r.Group, r.Method, over)
			st.Action = &Reconfigure{Fleets: g.Fleets, Args: args}
		case e.Firewall != nil:
			fw := firewall(e.Firewall.Default, e.Firewall.Rules)
			st.Kind, st.Detail = "firewall", e.Firewall.Router+": "+DescribeRules(fw)
			st.Action = &Firewall{Router: e.Firewall.Router, Firewall: fw}
		case e.Notify != nil:
			n := e.Notify
			a := &Notify{Args: mp.PushArgs{Group: n.Group, Action: string(n.Action)}}
			for _, g := range p.Groups {
				if n.Group == "" || n.Group == g.Name {
					a.Groups = append(a.Groups, g.Name)
				}
			}
			who := n.Group
			if who == "" {
				who = "every group"
			}
			st.Kind, st.Detail, st.Action = "notify", fmt.Sprintf("%s to %s", n.Action, who), a
		case e.Wake != nil:
			a, err := p.wake(*e.Wake, ports.Wakeup)
			if err != nil {
				return fmt.Errorf("timeline[%d]: %w", i, err)
			}
			st.Kind, st.Detail, st.Action = "wake", fmt.Sprintf("%s %s to UDP %d", e.Wake.Group, e.Wake.Mode, a.Port), a
		case e.Publish != nil:
			var a site.PublishArgs
			var what []string
			if on, set := e.Publish.AD.Bool(); set {
				a.AD = &on
				what = append(what, "AD DS "+string(e.Publish.AD))
			}
			if on, set := e.Publish.DNS.Bool(); set {
				a.DNS = &on
				what = append(what, "DNS "+string(e.Publish.DNS))
			}
			st.Kind, st.Detail, st.Action = "publish", strings.Join(what, ", "), &Publish{Args: a}
		case e.DNSRecord != nil:
			r := e.DNSRecord
			st.Kind, st.Detail = "dns_record", fmt.Sprintf("%s SRV port %d target %s.%s (by hand)", r.Name, r.Port, r.Target, s.Site.Domain)
			st.Action = &DNSRecord{Args: site.RecordArgs{Name: r.Name, Port: uint16(r.Port), Target: r.Target}}
		case e.MP != nil:
			st.Kind, st.Detail = "mp", e.MP.Name+" "+string(e.MP.Action)
			st.Action = &MPAction{Name: e.MP.Name, Start: e.MP.Action == scenarios.MPStart}
		default:
			return fmt.Errorf("timeline[%d]: no action", i)
		}
		p.Steps = append(p.Steps, st)
	}
	if len(lagged) > 0 {
		p.Steps = append(p.Steps, lagged...)
		sort.SliceStable(p.Steps, func(a, b int) bool { return p.Steps[a].At < p.Steps[b].At })
	}
	// Say where each republication goes, with publication switched on and off as the
	// timeline goes.
	ad, dns := *s.Site.Publish.AD, *s.Site.Publish.DNS
	for i := range p.Steps {
		a, ok := p.Steps[i].Action.(*Publish)
		if !ok {
			continue
		}
		if !a.Lagged {
			if a.Args.AD != nil {
				ad = *a.Args.AD
			}
			if a.Args.DNS != nil {
				dns = *a.Args.DNS
			}
			continue
		}
		where := "AD DS and DNS"
		switch {
		case ad && !dns:
			where = "AD DS (DNS publication off)"
		case !ad && dns:
			where = "DNS (AD DS publication off)"
		case !ad && !dns:
			where = "nobody (AD DS and DNS publication off)"
		}
		p.Steps[i].Detail = fmt.Sprintf(p.Steps[i].Detail, where)
	}
	return nil
}

// wake addresses one magic packet per client: unicast to the client's address, or to
// the client range's subnet-directed broadcast address, on the site's wake-up port.
func (p *Plan) wake(w scenarios.Wake, port int) (*Wake, error) {
	g, ok := p.Group(w.Group)
	if !ok {
		return nil, fmt.Errorf("no group %q", w.Group)
	}
	a := &Wake{Group: w.Group, Fleets: g.Fleets, Port: port,
		Send:   site.SendArgs{Label: w.Group, Rate: float64(w.Rate), Retries: *w.Retries},
		Expect: fleet.WakeArgs{Selector: fleet.Selector{Group: w.Group}}}
	bcast := netsim.BroadcastAddr(g.identities)
	for i := range g.Count {
		addr, mac := g.Client(i)
		to := netip.AddrPortFrom(addr, uint16(port))
		if w.Mode == scenarios.WakeBroadcast {
			to = netip.AddrPortFrom(bcast, uint16(port))
		}
		a.Send.Targets = append(a.Send.Targets, site.Target{MAC: mac.String(), To: to})
	}
	return a, nil
}

// portsDelta says what changed between two sets of site ports.
func portsDelta(a, b scenarios.SitePorts) string {
	var d []string
	rp := func(name string, x, y scenarios.RequestPort) {
		if x.Default != y.Default {
			d = append(d, fmt.Sprintf("%s %d -> %d", name, x.Default, y.Default))
		}
		if x.Alternate != y.Alternate {
			d = append(d, fmt.Sprintf("%s alternate %d -> %d", name, x.Alternate, y.Alternate))
		}
	}
	rp("http", a.HTTP, b.HTTP)
	rp("https", a.HTTPS, b.HTTPS)
	if a.Notification != b.Notification {
		d = append(d, fmt.Sprintf("notification %d -> %d", a.Notification, b.Notification))
	}
	if a.Wakeup != b.Wakeup {
		d = append(d, fmt.Sprintf("wakeup %d -> %d", a.Wakeup, b.Wakeup))
	}
	if len(d) == 0 {
		return "no change"
	}
	return strings.Join(d, ", ")
}
