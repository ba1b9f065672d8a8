package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
)

// apply carries out one step and records it.
func (r *runner) apply(ctx context.Context, st plan.Step) {
	detail, err := st.Detail, error(nil)
	switch a := st.Action.(type) {
	case *plan.SitePorts:
		err = r.setSitePorts(ctx, a)
	case *plan.Reconfigure:
		var n int
		n, err = r.reconfigure(ctx, a)
		detail += fmt.Sprintf(": %d clients", n)
	case *plan.Firewall:
		err = r.topo.SetFirewall(a.Router, a.Firewall)
	case *plan.Notify:
		err = r.notify(ctx, a)
	case *plan.Wake:
		var sent int
		sent, err = r.wake(ctx, a)
		detail += fmt.Sprintf(": %d packets", sent)
	case *plan.MPAction:
		err = r.mpAction(ctx, a)
	case *plan.Publish:
		err = r.publish(ctx, a)
	case *plan.DNSRecord:
		var rec string
		rec, err = r.dnsRecord(ctx, a)
		if rec != "" {
			detail += ": " + rec
		}
	default:
		err = fmt.Errorf("step of unknown type %T", st.Action)
	}
	ev := reports.EventRecord{At: st.At.Seconds(), Applied: time.Since(r.t0).Seconds(), Kind: st.Kind, Detail: detail}
	if err != nil {
		ev.Error = err.Error()
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.marks = append(r.marks, reports.TimelineMark{T: ev.At, Label: ev.Kind + " " + ev.Detail})
	r.mu.Unlock()
	at := (time.Duration(st.At)).String()
	if err != nil {
		r.con.Warn(fmt.Sprintf("timeline %s at %s: %v", st.Kind, at, err))
	} else {
		r.con.Step(fmt.Sprintf("%s at %s: %s", st.Kind, at, detail))
	}
}

// setSitePorts moves every MP (secondary sites inherit the primary's ports) and tells the
// fleets what the site now publishes.
func (r *runner) setSitePorts(ctx context.Context, a *plan.SitePorts) error {
	var errs []error
	for _, pm := range r.p.MPs {
		for _, w := range r.mps[pm.Name].workers {
			if _, err := w.conn.call(ctx, mp.CmdSetPorts, a.Listen[pm.Name], agentCallTimeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, f := range r.fleets {
		if _, err := f.conn.call(ctx, fleet.CmdSitePorts, a.Fleet, agentCallTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *runner) reconfigure(ctx context.Context, a *plan.Reconfigure) (int, error) {
	n := 0
	var errs []error
	for _, fi := range a.Fleets {
		msg, err := r.fleets[fi].conn.call(ctx, fleet.CmdReconfigure, a.Args, agentCallTimeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n += countOf(msg.Data)
	}
	return n, errors.Join(errs...)
}

// notify pushes through every running MP; each MP reaches the clients connected to it.
func (r *runner) notify(ctx context.Context, a *plan.Notify) error {
	var errs []error
	r.mu.Lock()
	r.pushSeq++
	args := a.Args
	args.ID = r.pushSeq
	r.mu.Unlock()
	for _, pm := range r.p.MPs {
		m := r.mps[pm.Name]
		if m.stopped {
			continue
		}
		for _, w := range m.workers {
			if _, err := w.conn.call(ctx, mp.CmdPush, args, agentCallTimeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.mu.Lock()
	for _, g := range a.Groups {
		r.pushes[g]++
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

func (r *runner) mpAction(ctx context.Context, a *plan.MPAction) error {
	m := r.mps[a.Name]
	cmd := mp.CmdStop
	if a.Start {
		cmd = mp.CmdStart
	}
	var errs []error
	for _, w := range m.workers {
		if _, err := w.conn.call(ctx, cmd, nil, agentCallTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err == nil {
		m.stopped = !a.Start
	}
	return err
}

// wake has the site server send the step's magic packets; whether anything wakes is up
// to the network. The fleet is told first, so its time-to-managed starts at the send.
func (r *runner) wake(ctx context.Context, a *plan.Wake) (int, error) {
	if r.site == nil {
		return 0, errors.New("the scenario has no site server")
	}
	expect := a.Expect
	expect.SentNS = time.Now().UnixNano()
	for _, fi := range a.Fleets {
		if _, err := r.fleets[fi].conn.call(ctx, fleet.CmdExpectWake, expect, agentCallTimeout); err != nil {
			return 0, err
		}
	}
	n := len(a.Send.Targets) * (1 + a.Send.Retries)
	timeout := agentCallTimeout + time.Duration(n)*time.Second/time.Duration(max(1, int(a.Send.Rate)))
	msg, err := r.site.call(ctx, site.CmdSend, a.Send, timeout)
	var rep site.SendReply
	if err == nil {
		err = json.Unmarshal(msg.Data, &rep)
	}
	g, _ := r.p.Group(a.Group)
	r.mu.Lock()
	ws := r.wakes[a.Group]
	if ws == nil {
		ws = &reports.WakeStats{Group: a.Group}
		r.wakes[a.Group] = ws
	}
	ws.Targeted = g.Count
	ws.PacketsSent += rep.Sent
	r.mu.Unlock()
	return rep.Sent, err
}

func countOf(data []byte) int {
	var c agent.Count
	_ = json.Unmarshal(data, &c)
	return c.Clients
}
