package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// apply carries out timeline event i and records it.
func (r *runner) apply(ctx context.Context, i int) {
	e := r.s.Timeline[i]
	rec := func(kind, detail string, err error) {
		ev := eventRecord(e.At.D(), time.Since(r.t0), kind, detail, err)
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.marks = append(r.marks, markFor(ev))
		r.mu.Unlock()
		if err != nil {
			r.con.Warn(fmt.Sprintf("timeline %s at %s: %v", kind, e.At, err))
		} else {
			r.con.Step(fmt.Sprintf("%s at %s: %s", kind, e.At, detail))
		}
	}
	switch {
	case e.SitePorts != nil:
		old := r.ports
		r.ports = e.SitePorts.Apply(r.ports)
		rec("site_ports", portsDelta(old, r.ports), r.setSitePorts(ctx))
	case e.Reconfigure != nil:
		n, err := r.reconfigure(ctx, *e.Reconfigure)
		rec("reconfigure", fmt.Sprintf("%s by %s: %d clients%s", e.Reconfigure.Group, e.Reconfigure.Method, n, over(e.Reconfigure.Over)), err)
	case e.Firewall != nil:
		f := e.Firewall
		err := r.topo.SetFirewall(f.Router, scenarios.Firewall{Default: f.Default, Rules: f.Rules})
		rec("firewall", fmt.Sprintf("%s: %s", f.Router, describeRules(f.Default, f.Rules)), err)
	case e.Notify != nil:
		detail, err := r.notify(ctx, *e.Notify)
		rec("notify", detail, err)
	case e.Wake != nil:
		detail, err := r.wake(ctx, *e.Wake)
		rec("wake", detail, err)
	case e.MP != nil:
		rec("mp", e.MP.Name+" "+e.MP.Action, r.mpAction(ctx, *e.MP))
	}
}

func over(d scenarios.Duration) string {
	if d == 0 {
		return ""
	}
	return " over " + d.String()
}

// listen returns an MP's listeners for the current site ports.
func (r *runner) listen(a *mpAgent) mp.Listen {
	p := r.ports
	return mp.ListenPorts(a.addr, p.HTTP.Default, p.HTTP.Alternate, p.HTTPS.Default, p.HTTPS.Alternate, p.Notification)
}

// setSitePorts moves every MP (secondary sites inherit the primary's ports) and tells the
// fleets what the site now publishes.
func (r *runner) setSitePorts(ctx context.Context) error {
	var errs []error
	for _, name := range r.mpList {
		a := r.mps[name]
		if _, err := a.conn.call(ctx, mp.CmdSetPorts, r.listen(a), agentCallTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range r.fleets {
		if _, err := f.conn.call(ctx, fleet.CmdSitePorts, fleet.SitePortsFromScenario(r.ports), agentCallTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *runner) reconfigure(ctx context.Context, rc scenarios.Reconfigure) (int, error) {
	g := r.plan.groups[rc.Group]
	if g == nil {
		return 0, fmt.Errorf("no group %q", rc.Group)
	}
	args := fleet.Reconfigure{Group: rc.Group, Method: rc.Method, HTTPPort: rc.HTTPPort, HTTPSPort: rc.HTTPSPort,
		Fraction: rc.Fraction, Over: fleet.Duration(rc.Over.D())}
	if rc.Method == "push" { // client push installs the site's current ports
		args.HTTPPort, args.HTTPSPort = r.ports.HTTP.Default, r.ports.HTTPS.Default
	}
	f := r.fleets[g.fleet.segment]
	msg, err := f.conn.call(ctx, fleet.CmdReconfigure, args, agentCallTimeout)
	if err != nil {
		return 0, err
	}
	return countOf(msg.Data), nil
}

// notify pushes through every running MP; each MP reaches the clients connected to it.
func (r *runner) notify(ctx context.Context, n scenarios.Notify) (string, error) {
	var errs []error
	for _, name := range r.mpList {
		a := r.mps[name]
		if a.stopped {
			continue
		}
		if _, err := a.conn.call(ctx, mp.CmdPush, mp.PushArgs{Group: n.Group, Action: n.Action}, agentCallTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	for _, g := range r.plan.order {
		if n.Group == "" || n.Group == g {
			r.pushes[g]++
		}
	}
	r.mu.Unlock()
	who := n.Group
	if who == "" {
		who = "every group"
	}
	return fmt.Sprintf("%s to %s", n.Action, who), errors.Join(errs...)
}

func (r *runner) mpAction(ctx context.Context, a scenarios.MPAction) error {
	m := r.mps[a.Name]
	if m == nil {
		return fmt.Errorf("no management point %q", a.Name)
	}
	cmd := mp.CmdStop
	if a.Action == "start" {
		cmd = mp.CmdStart
	}
	_, err := m.conn.call(ctx, cmd, nil, agentCallTimeout)
	if err == nil {
		m.stopped = a.Action == "stop"
	}
	return err
}

// wake has the site server send magic packets to the site's wake-up port: unicast to
// each client's address, or one subnet-directed broadcast per client MAC to the client
// range's broadcast address. Whether anything wakes is up to the network.
func (r *runner) wake(ctx context.Context, w scenarios.Wake) (string, error) {
	g := r.plan.groups[w.Group]
	if g == nil {
		return "", fmt.Errorf("no group %q", w.Group)
	}
	port := uint16(r.ports.Wakeup)
	bcast := netsim.BroadcastAddr(g.fleet.identities)
	args := site.SendArgs{Label: w.Group, Rate: float64(w.Rate), Retries: *w.Retries}
	for i := range g.cfg.Count {
		a, mac := g.client(i)
		to := netip.AddrPortFrom(a, port)
		if w.Mode == "broadcast" {
			to = netip.AddrPortFrom(bcast, port)
		}
		args.Targets = append(args.Targets, site.Target{MAC: mac.String(), To: to.String()})
	}
	// Tell the fleet first, so its time-to-managed starts at the send.
	f := r.fleets[g.fleet.segment]
	sentAt := time.Now()
	if _, err := f.conn.call(ctx, fleet.CmdExpectWake, fleet.WakeArgs{Selector: fleet.Selector{Group: w.Group}, SentNS: sentAt.UnixNano()}, agentCallTimeout); err != nil {
		return "", err
	}
	msg, err := r.site.call(ctx, site.CmdSend, args, agentCallTimeout+time.Duration(len(args.Targets)*(1+args.Retries))*time.Second/time.Duration(max(1, w.Rate)))
	var rep site.SendReply
	if err == nil {
		err = json.Unmarshal(msg.Data, &rep)
	}
	r.mu.Lock()
	ws := r.wakes[w.Group]
	if ws == nil {
		ws = &reports.WakeStats{Group: w.Group}
		r.wakes[w.Group] = ws
	}
	ws.Targeted = g.cfg.Count
	ws.PacketsSent += rep.Sent
	r.mu.Unlock()
	return fmt.Sprintf("%s %s: %d packets to UDP %d", w.Group, w.Mode, rep.Sent, port), err
}

func countOf(data []byte) int {
	var c struct {
		Clients int `json:"clients"`
	}
	_ = json.Unmarshal(data, &c)
	return c.Clients
}

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

func describeRules(def scenarios.Action, rules []scenarios.Rule) string {
	var parts []string
	for _, r := range rules {
		m := r.Proto
		if !r.Port.IsZero() {
			m += "/" + r.Port.String()
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
	return strings.Join(parts, "; ") + fmt.Sprintf(" (default %s)", def)
}
