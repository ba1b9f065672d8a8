package fleet

import (
	"container/heap"
	"context"
	"time"

	"github.com/portlab/portlab/metrics"
)

// Entry kinds in a worker's heap.
const (
	kindPolicy = iota // a planned policy cycle
	kindReconf        // a reconfiguration takes effect
	kindIdle          // an idle keep-alive connection has been idle for KeepIdle
)

type entry struct {
	at   time.Duration // offset from the run's start
	c    *client
	kind uint8
	gen  uint32
}

type entryHeap []entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// Transition is a timestamped change of one client.
type Transition struct {
	Time  time.Time `json:"time"`
	Index int       `json:"index"`
	Group string    `json:"group"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to"` // managed, unmanaged, asleep, awake, reconfigured
}

// workerEvent is a message to a worker from a cycle or notification goroutine.
type workerEvent struct {
	c      *client
	cycle  *cycleResult
	notify *notifyEvent
}

// worker owns a slice of the clients, their heap of due times and a recorder.
type worker struct {
	f       *Fleet
	clients []*client
	h       entryHeap
	rec     *metrics.Recorder
	events  chan workerEvent
	ctrl    chan func()
	done    chan struct{}
	trans   []Transition
	site    SitePorts
	follow  followMark // the latest site change clients follow (locate.go)
}

func (w *worker) send(ev workerEvent) {
	select {
	case w.events <- ev:
	case <-w.done:
	}
}

// run is the worker's loop: start what is due, apply results, obey control functions.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	f := w.f
	// The timer is re-armed only when the heap's head changes (or it fired): a Reset
	// per loop would move the timer in the runtime's timer heap every time, which is
	// shared with every socket deadline of the process (tens of thousands).
	const idle = time.Duration(1<<63 - 1)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed, fired := time.Duration(-1), true
	for {
		now := time.Now()
		off := now.Sub(f.t0)
		for len(w.h) > 0 && w.h[0].at <= off {
			e := heap.Pop(&w.h).(entry)
			w.due(ctx, e, now)
		}
		next := idle
		if len(w.h) > 0 {
			next = w.h[0].at
		}
		if fired || next != armed {
			d := time.Hour
			if next != idle {
				d = next - time.Since(f.t0)
			}
			timer.Reset(d)
			armed, fired = next, false
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			fired = true
		case ev := <-w.events:
			w.apply(ctx, ev)
		case fn := <-w.ctrl:
			fn()
		}
	}
}

func (w *worker) schedule(c *client) {
	at := c.pol.Due(c.k)
	if at < w.f.cfg.Duration.D() {
		heap.Push(&w.h, entry{at: at, c: c, kind: kindPolicy, gen: c.gen})
	}
}

func (w *worker) due(ctx context.Context, e entry, now time.Time) {
	c := e.c
	switch e.kind {
	case kindReconf:
		if e.gen == c.rgen && c.pending != nil {
			w.reconfigure(ctx, c, now)
		}
		return
	case kindIdle:
		if e.gen == c.idleGen && !c.busy {
			c.idle.close()
			c.idle = nil
		}
		return
	case kindPolicy:
		if e.gen != c.gen || c.asleep {
			return
		}
	}
	c.k++
	w.rec.Add(metrics.CPlanned, c.g.Name, 1)
	w.schedule(c)
	if c.busy {
		// Deferred: run late when the client is free, at most Backlog of them; older
		// planned cycles are skipped and counted.
		if pending := c.k - c.runK; pending > c.g.Backlog {
			w.rec.Add(metrics.CSkippedBusy, c.g.Name, int64(pending-c.g.Backlog))
			c.runK = c.k - c.g.Backlog
		}
		return
	}
	c.runK = c.k - 1
	w.runPlanned(ctx, c, now, false)
}

// runPlanned starts the client's next planned cycle (c.runK), late or not. A cycle
// that starts late because the client was still busy with an earlier one (deferred)
// measures the MP's or the network's slowness; one that starts late although the
// client was free is the load generator's own lag. They are counted apart.
func (w *worker) runPlanned(ctx context.Context, c *client, now time.Time, deferred bool) {
	intended := w.f.t0.Add(c.pol.Due(c.runK))
	c.runK++
	if now.Sub(intended) > w.f.cfg.LateAfter.D() {
		if deferred {
			w.rec.Add(metrics.CDeferred, c.g.Name, 1)
		} else {
			w.rec.Add(metrics.CLateStarts, c.g.Name, 1)
		}
	}
	w.startCycle(ctx, c, intended, now)
}

// startCycle hands one cycle to a goroutine.
func (w *worker) startCycle(ctx context.Context, c *client, intended, now time.Time) {
	f := w.f
	hbDue := false
	for w.f.t0.Add(c.hb.Due(c.hk)).Compare(now) <= 0 {
		c.hk++
		hbDue = true
	}
	lj := w.beforeCycle(c, now)
	if !c.located && c.g.MP == "" && lj.reason != locFailover {
		// Location goes to an MP the client finds itself (AD, DNS, SMSMP): here one of
		// the MPs it may use at random, seeded (failover picked another already).
		c.mp = f.pickMP(c, "")
	}
	port, alt := c.ports(w.site)
	j := &job{c: c, intended: intended, located: c.located, smsid: c.smsid, policies: c.policies, heartbeat: hbDue,
		polPayload: c.polPayload, polSMSID: c.polSMSID,
		mp: c.mp, port: port, alt: alt, idle: c.idle, loc: lj, regMP: f.assignedMP(c),
		pickSeed: uint64(f.cfg.Seed)<<20 ^ uint64(c.index)<<8 ^ uint64(c.mpPicks)}
	if !c.located {
		c.mpPicks++
	}
	c.idle = nil
	c.busy = true
	w.rec.Add(metrics.CCycles, c.g.Name, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		res := f.runCycle(ctx, j)
		w.send(workerEvent{c: c, cycle: res})
	}()
}

func (w *worker) transition(c *client, t time.Time, from, to string) {
	w.trans = append(w.trans, Transition{Time: t, Index: c.index, Group: c.g.Name, From: from, To: to})
}

// apply folds a goroutine's report into the client and the recorder.
func (w *worker) apply(ctx context.Context, ev workerEvent) {
	c := ev.c
	g := c.g.Name
	if r := ev.cycle; r != nil {
		c.busy = false
		c.idle = r.idle
		if c.asleep || ctx.Err() != nil || c.g.KeepIdle <= 0 {
			c.idle.close()
			c.idle = nil
		}
		if c.idle != nil {
			// Servers and clients drop idle keep-alive connections after a while (IIS:
			// 120 s); so does this client, after KeepIdle.
			c.idleGen++
			heap.Push(&w.h, entry{at: r.end.Sub(w.f.t0) + c.g.KeepIdle.D(), c: c, kind: kindIdle, gen: c.idleGen})
		}
		w.recordAttempts(c, r.attempts)
		for _, fb := range r.fallbacks {
			w.rec.Record(metrics.Key{Metric: metrics.FallbackDelay, Op: fb.op, Transport: c.g.Scheme, Port: fb.port,
				Outcome: metrics.OK, Group: g, MP: fb.mp}, fb.latency)
			w.rec.Add(metrics.CFallbacks, g, 1)
			c.fallbacks++
		}
		if r.cancelled {
			return
		}
		defer func() {
			if c.runK < c.k && !c.busy && !c.asleep && ctx.Err() == nil {
				w.runPlanned(ctx, c, time.Now(), true)
			}
		}()
		c.located, c.mp, c.smsid, c.policies = r.located, r.mp, r.smsid, r.policies
		c.polPayload, c.polSMSID = r.polPayload, r.polSMSID
		w.afterCycle(ctx, c, r)
		if r.port != 0 {
			c.lastPort = r.port
		}
		if r.ok {
			c.consecFail = 0
			if c.state != Managed {
				if c.state == Unmanaged {
					w.rec.Add(metrics.CManagedAgain, g, 1)
				}
				w.transition(c, r.end, c.state.String(), Managed.String())
				c.state = Managed
			}
			if !c.wakeSent.IsZero() {
				w.rec.Record(metrics.Key{Metric: metrics.TimeToManaged, Op: metrics.OpWake, Group: g}, r.end.Sub(c.wakeSent))
				c.wakeSent = time.Time{}
			}
			w.startNotify(ctx, c)
			return
		}
		w.rec.Add(metrics.CCyclesFailed, g, 1)
		c.consecFail++
		if c.consecFail >= c.g.UnmanagedAfter {
			if c.state != Unmanaged {
				w.rec.Add(metrics.CBecameUnmanaged, g, 1)
				w.transition(c, r.end, c.state.String(), Unmanaged.String())
				c.state = Unmanaged
			}
			if c.g.MP == "" {
				c.located = false // look for an MP again, perhaps another one
			}
		}
		return
	}
	n := ev.notify
	if n.attempt != nil {
		w.recordAttemptsTransport(c, []attempt{*n.attempt}, n.transport)
	}
	if n.session != "" {
		if n.session != "tcp" && c.notifying == "tcp" && c.g.Notification == "tcp" {
			w.rec.Add(metrics.CTCPDown, g, 1)
		}
		if n.session != "tcp" && c.notifying != n.session {
			w.rec.Add(metrics.CLongPollStarted, g, 1)
		}
		c.notifying = n.session
	}
	if p := n.push; p != nil {
		w.rec.Add(metrics.CPushAcks, g, 1)
		if p.ID == c.lastPush {
			return // delivered twice (long poll and session): acknowledged, not run again
		}
		c.lastPush = p.ID
		w.rec.Add(metrics.CPushes, g, 1)
		w.rec.Record(metrics.Key{Metric: metrics.PushLatency, Op: metrics.OpPushAck, Transport: n.transport, Port: n.port,
			Outcome: metrics.OK, Group: g, MP: c.mp.Name}, n.pushLat)
		if !c.busy && !c.asleep && ctx.Err() == nil {
			now := time.Now()
			w.startCycle(ctx, c, now, now)
		}
	}
}

func (w *worker) recordAttempts(c *client, as []attempt) {
	w.recordAttemptsTransport(c, as, c.g.Scheme)
}

func (w *worker) recordAttemptsTransport(c *client, as []attempt, transport string) {
	for _, a := range as {
		w.rec.RecordRequest(metrics.Key{Op: a.op, Transport: transport, Port: a.port, Outcome: a.outcome,
			Group: c.g.Name, MP: a.mp}, a.latency, a.service)
	}
}

// startNotify starts the client's notification goroutine if it should have one.
func (w *worker) startNotify(ctx context.Context, c *client) {
	if c.notify != nil || c.g.Notification == "off" || c.asleep || !c.located || ctx.Err() != nil {
		return
	}
	f := w.f
	p := notifyParams{c: c, g: c.g, mode: c.g.Notification, mp: c.mp, notifPort: w.site.Notification}
	p.lpScheme = c.g.Scheme
	if p.mode == "http" || p.mode == "https" {
		p.lpScheme = p.mode
	}
	if p.lpScheme == "https" {
		p.lpPorts = []int{c.httpsPort}
		if c.g.KnowsAlternate && w.site.HTTPS.Alternate != 0 && w.site.HTTPS.Alternate != c.httpsPort {
			p.lpPorts = append(p.lpPorts, w.site.HTTPS.Alternate)
		}
	} else {
		p.lpPorts = []int{c.httpPort}
		if c.g.KnowsAlternate && w.site.HTTP.Alternate != 0 && w.site.HTTP.Alternate != c.httpPort {
			p.lpPorts = append(p.lpPorts, w.site.HTTP.Alternate)
		}
	}
	nctx, cancel := context.WithCancel(ctx)
	c.notify = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.runNotify(nctx, p, func(n notifyEvent) { w.send(workerEvent{c: c, notify: &n}) })
	}()
}

func (w *worker) stopNotify(c *client) {
	if c.notify != nil {
		c.notify()
		c.notify = nil
		c.notifying = ""
	}
}

func (w *worker) reconfigure(ctx context.Context, c *client, now time.Time) {
	r := c.pending
	c.pending = nil
	if r.http != 0 {
		c.httpPort = r.http
	}
	if r.https != 0 {
		c.httpsPort = r.https
	}
	c.loc.learned = r.src
	w.rec.Add(metrics.CReconfigured, c.g.Name, 1)
	w.transition(c, now, "", "reconfigured")
	if !c.busy {
		c.idle.close()
		c.idle = nil
	}
	if c.notify != nil {
		w.stopNotify(c)
		w.startNotify(ctx, c)
	}
}
