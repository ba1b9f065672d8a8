package fleet

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portlab/portlab/metrics"
)

// Options are the fleet's non-JSON settings.
type Options struct {
	// Dial opens client connections (default Dial: own source address, no port at bind).
	Dial DialFunc
}

// Fleet runs the simulated clients of one Config.
type Fleet struct {
	cfg     Config
	conn    *connector
	msgs    *messages
	replies *replies
	clients []*client
	workers []*worker

	t0     time.Time
	cancel context.CancelFunc
	done   chan struct{}  // closed when the run is over
	wg     sync.WaitGroup // cycle and notification goroutines
	wwg    sync.WaitGroup // workers

	mu       sync.Mutex // guards the fields below (control calls come from one goroutine, tests from several)
	started  bool
	stopped  bool
	site     SitePorts
	lastColl time.Time
	spares   []*metrics.Recorder
	total    *metrics.Recorder
	loc      fleetLoc // service location (locate.go)
}

// ErrNotStarted: the command needs a started fleet.
var ErrNotStarted = errors.New("fleet not started")

// NewFleet builds the clients of cfg (normalized here) without sending anything.
func NewFleet(cfg Config, opt Options) (*Fleet, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	conn, err := newConnector(opt.Dial, cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	msgs := newMessages(cfg.Domain, cfg.SiteCode)
	f := &Fleet{cfg: cfg, conn: conn, msgs: msgs, replies: newReplies(), site: cfg.SitePorts, total: metrics.NewRecorder()}
	total := 0
	for _, g := range cfg.Groups {
		total += g.Count
	}
	ord := 0
	for gi := range f.cfg.Groups {
		g := &f.cfg.Groups[gi]
		var pinned MP
		for _, m := range cfg.MPs {
			if m.Name == g.MP {
				pinned = m
			}
		}
		for j := range g.Count {
			idx := g.First + j
			c := &client{ord: ord, gord: g.GroupOffset + j, index: idx, g: g, addr: AddrFor(cfg.Identities, cfg.Offset+ord),
				guid: GUIDFor(cfg.Seed, idx), httpPort: g.HTTPPort, httpsPort: g.HTTPSPort,
				asleep: g.Asleep, mp: pinned}
			c.pol = policyPacer(f.cfg, g, idx, ord, total, 0, 0)
			c.hb = heartbeatPacer(f.cfg, g, idx, c.pol.Base, 0)
			f.clients = append(f.clients, c)
			ord++
		}
	}
	f.initLocation()
	nw := cfg.Workers
	if nw <= 0 {
		nw = 2 * runtime.GOMAXPROCS(0)
	}
	nw = min(nw, len(f.clients))
	for i := range nw {
		w := &worker{f: f, rec: metrics.NewRecorder(), events: make(chan workerEvent, 1024),
			ctrl: make(chan func()), done: make(chan struct{}), site: cfg.SitePorts}
		for j := i; j < len(f.clients); j += nw {
			w.clients = append(w.clients, f.clients[j])
		}
		f.workers = append(f.workers, w)
		f.spares = append(f.spares, metrics.NewRecorder())
	}
	return f, nil
}

// Config returns the normalized configuration.
func (f *Fleet) Config() Config { return f.cfg }

// Start plans every client from start (zero: the config's StartTime, or now) and runs
// until ctx ends, the duration passes or Stop.
func (f *Fleet) Start(ctx context.Context, start time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errors.New("fleet already started")
	}
	f.started = true
	if start.IsZero() {
		start = f.cfg.StartTime
	}
	if start.IsZero() {
		start = time.Now()
	}
	f.t0 = start
	f.lastColl = start
	runCtx, cancel := context.WithDeadline(ctx, start.Add(f.cfg.Duration.D()))
	f.cancel = cancel
	f.done = make(chan struct{})
	context.AfterFunc(runCtx, func() { close(f.done) })
	for _, w := range f.workers {
		for _, c := range w.clients {
			if !c.asleep {
				w.schedule(c)
			}
		}
		f.wwg.Add(1)
		go func() {
			defer f.wwg.Done()
			w.run(runCtx)
		}()
	}
	return nil
}

// Done is closed when the run is over (duration, Stop or the parent context); nil
// before Start.
func (f *Fleet) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// onWorkers runs fn on every worker's goroutine (or directly, once it has exited) and
// waits.
func (f *Fleet) onWorkers(fn func(w *worker)) {
	var wg sync.WaitGroup
	for _, w := range f.workers {
		wg.Add(1)
		run := func() { defer wg.Done(); fn(w) }
		select {
		case w.ctrl <- run:
		case <-w.done:
			run()
		}
	}
	wg.Wait()
}

// Reconfigure is the "reconfigure" command: new installed ports for the first
// ceil(Fraction·count) clients of a group, spread evenly over Over from now. Method
// "push" installs the site's current default ports.
type Reconfigure struct {
	Group     string   `json:"group"`
	Method    string   `json:"method,omitempty"`
	HTTPPort  int      `json:"http_port,omitempty"`
	HTTPSPort int      `json:"https_port,omitempty"`
	Fraction  float64  `json:"fraction,omitempty"` // default 1
	Over      Duration `json:"over,omitempty"`
}

// Reconfigure schedules a reconfiguration; it returns how many clients it selects.
func (f *Fleet) Reconfigure(r Reconfigure) (int, error) {
	if !f.isStarted() {
		return 0, ErrNotStarted
	}
	var g *Group
	for i := range f.cfg.Groups {
		if f.cfg.Groups[i].Name == r.Group {
			g = &f.cfg.Groups[i]
		}
	}
	if g == nil {
		return 0, nil // the group lives in another fleet
	}
	if r.Fraction == 0 {
		r.Fraction = 1
	}
	if r.Fraction < 0 || r.Fraction > 1 {
		return 0, fmt.Errorf("reconfigure %s: fraction %v outside [0,1]", r.Group, r.Fraction)
	}
	rc := reconf{http: r.HTTPPort, https: r.HTTPSPort, src: srcInstall}
	if r.Method == "push" {
		f.mu.Lock()
		rc = reconf{http: f.site.HTTP.Default, https: f.site.HTTPS.Default, src: srcPush}
		f.mu.Unlock()
	}
	if rc.http == 0 && rc.https == 0 {
		return 0, fmt.Errorf("reconfigure %s: no port given", r.Group)
	}
	m := int(math.Ceil(r.Fraction*float64(g.GroupCount) - 1e-9))
	now := time.Now()
	var mine atomic.Int64 // the selected clients that live in this fleet
	f.onWorkers(func(w *worker) {
		for _, c := range w.clients {
			if c.g != g || c.gord >= m {
				continue
			}
			at := now.Sub(f.t0) + time.Duration(int64(r.Over)*int64(c.gord)/int64(m))
			c.rgen++
			c.pending = &rc
			heapPush(w, entry{at: at, c: c, kind: kindReconf, gen: c.rgen})
			mine.Add(1)
		}
	})
	return int(mine.Load()), nil
}

// SetSitePorts is the "site_ports" command: what the site publishes now. Clients that
// read the publication (knows_alternate) learn the alternate ports from it; installed
// ports change only by reconfiguration.
func (f *Fleet) SetSitePorts(p SitePorts) {
	f.mu.Lock()
	if p.Notification == 0 {
		p.Notification = f.site.Notification
	}
	var prev followMark
	if len(f.workers) > 0 {
		prev = f.workers[0].follow // the same on every worker
	}
	mark := f.siteChanged(f.site, p, time.Now(), prev)
	f.site = p
	f.mu.Unlock()
	f.onWorkers(func(w *worker) { w.site, w.follow = p, mark })
}

// Selector picks clients by global index, MAC or group (any match selects).
type Selector struct {
	Indexes []int    `json:"indexes,omitempty"`
	MACs    []string `json:"macs,omitempty"`
	Group   string   `json:"group,omitempty"`
}

func (s Selector) set() (map[int]bool, error) {
	m := map[int]bool{}
	for _, i := range s.Indexes {
		m[i] = true
	}
	for _, t := range s.MACs {
		hw, err := net.ParseMAC(t)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("select clients: MAC %q: not a 6-byte MAC", t)
		}
		if hw[0] != 0x02 || hw[1] != 0x50 {
			continue // not one of ours
		}
		m[int(binary.BigEndian.Uint32(hw[2:]))] = true
	}
	return m, nil
}

// Sleep puts the selected clients to sleep: they send nothing until woken. It returns
// how many fell asleep.
func (f *Fleet) Sleep(s Selector) (int, error) {
	set, err := s.set()
	if err != nil {
		return 0, err
	}
	if !f.isStarted() {
		n := 0
		for _, c := range f.clients {
			if (set[c.index] || c.g.Name == s.Group) && !c.asleep {
				c.asleep = true
				n++
			}
		}
		return n, nil
	}
	var mu sync.Mutex
	n := 0
	now := time.Now()
	f.onWorkers(func(w *worker) {
		for _, c := range w.clients {
			if (!set[c.index] && c.g.Name != s.Group) || c.asleep {
				continue
			}
			c.asleep = true
			c.gen++
			w.stopNotify(c)
			if !c.busy {
				c.idle.close()
				c.idle = nil
			}
			w.transition(c, now, "", "asleep")
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	return n, nil
}

// Wake wakes the selected sleeping clients: each runs location and policy at once, and
// records the time from sent (the wake-up packet's send time) to managed. It returns how
// many woke.
func (f *Fleet) Wake(s Selector, sent time.Time) (int, error) {
	set, err := s.set()
	if err != nil {
		return 0, err
	}
	if !f.isStarted() {
		return 0, ErrNotStarted
	}
	if sent.IsZero() {
		sent = time.Now()
	}
	var mu sync.Mutex
	n := 0
	f.onWorkers(func(w *worker) {
		now := time.Now()
		for _, c := range w.clients {
			if (!set[c.index] && c.g.Name != s.Group) || !c.asleep {
				continue
			}
			c.asleep = false
			c.gen++
			epoch := c.pol.Epoch + 1
			base := now.Sub(f.t0)
			c.pol = Pacer{Base: base, Interval: c.pol.Interval, Jitter: c.pol.Jitter, Seed: c.pol.Seed,
				Client: c.index, Stream: streamPolicy, Epoch: epoch}
			c.hb = heartbeatPacer(f.cfg, c.g, c.index, base, epoch)
			c.k, c.hk, c.runK = 0, 0, 0
			c.located = false
			c.wakeSent = sent
			w.rec.Add(metrics.CWoken, c.g.Name, 1)
			w.transition(c, now, "asleep", "awake")
			w.schedule(c)
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	return n, nil
}

func heapPush(w *worker, e entry) { heap.Push(&w.h, e) }

func (f *Fleet) isStarted() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

// GroupState counts a group's clients by state.
type GroupState struct {
	Clients   int `json:"clients"`
	Managed   int `json:"managed"`
	Unmanaged int `json:"unmanaged"`
	Pending   int `json:"pending"`
	Asleep    int `json:"asleep"`
	// Clients whose notification channel is up, by transport (tcp, http, https).
	Notification map[string]int `json:"notification,omitempty"`
}

// ClientState is one client at the end of the run.
type ClientState struct {
	Index     int    `json:"index"`
	Group     string `json:"group"`
	Addr      string `json:"addr"`
	MAC       string `json:"mac"`
	GUID      string `json:"guid"`
	State     string `json:"state"`
	Asleep    bool   `json:"asleep,omitempty"`
	MP        string `json:"mp,omitempty"`
	HTTPPort  int    `json:"http_port"`           // installed (CCMHTTPPORT) at the end
	HTTPSPort int    `json:"https_port"`          // installed (CCMHTTPSPORT) at the end
	LastPort  int    `json:"last_port,omitempty"` // the port that worked last
	Fallbacks int    `json:"fallbacks,omitempty"` // operations that needed the alternate
	Failures  int    `json:"consecutive_failures,omitempty"`
	Notify    string `json:"notification,omitempty"` // transport in use at the end
	// Learned is where the client learned its request port (install, push, ad, dns),
	// or never when it is not the site's current one.
	Learned string `json:"learned,omitempty"`
}

// Report is the payload of "snapshot" (one interval) and "final" (the whole run) messages.
type Report struct {
	metrics.Snapshot
	Groups      map[string]GroupState `json:"groups"`
	Transitions []Transition          `json:"transitions,omitempty"`
	Clients     []ClientState         `json:"clients,omitempty"` // final only
}

// Collect returns the interval since the previous Collect: its metrics, each group's
// state now and the transitions in it. The interval is also added to the run's total.
func (f *Fleet) Collect() (*Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.collectLocked(false)
}

func (f *Fleet) collectLocked(final bool) (*Report, error) {
	now := time.Now()
	interval := metrics.NewRecorder()
	groups := map[string]GroupState{}
	var trans []Transition
	var gmu sync.Mutex
	f.onWorkers(func(w *worker) {
		i := indexOf(f.workers, w)
		old := w.rec
		w.rec, f.spares[i] = f.spares[i], nil
		t := w.trans
		w.trans = nil
		local := map[string]GroupState{}
		for _, c := range w.clients {
			s := local[c.g.Name]
			s.Clients++
			switch {
			case c.asleep:
				s.Asleep++
			case c.state == Managed:
				s.Managed++
			case c.state == Unmanaged:
				s.Unmanaged++
			default:
				s.Pending++
			}
			if c.notifying != "" {
				if s.Notification == nil {
					s.Notification = map[string]int{}
				}
				s.Notification[c.notifying]++
			}
			local[c.g.Name] = s
		}
		gmu.Lock()
		defer gmu.Unlock()
		interval.Merge(old)
		old.Reset()
		f.spares[i] = old
		trans = append(trans, t...)
		for name, s := range local {
			a := groups[name]
			a.Clients += s.Clients
			a.Managed += s.Managed
			a.Unmanaged += s.Unmanaged
			a.Pending += s.Pending
			a.Asleep += s.Asleep
			for k, v := range s.Notification {
				if a.Notification == nil {
					a.Notification = map[string]int{}
				}
				a.Notification[k] += v
			}
			groups[name] = a
		}
	})
	f.total.Merge(interval)
	sort.Slice(trans, func(i, j int) bool { return trans[i].Time.Before(trans[j].Time) })
	start := f.lastColl
	f.lastColl = now
	src := interval
	if final {
		src, start = f.total, f.t0
	}
	snap, err := src.Snapshot(start, now)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: snapshot: %w", f.cfg.Segment, err)
	}
	return &Report{Snapshot: snap, Groups: groups, Transitions: trans}, nil
}

func indexOf(ws []*worker, w *worker) int {
	for i, x := range ws {
		if x == w {
			return i
		}
	}
	return -1
}

// Stop ends the run (idempotent) and waits until every goroutine has returned.
func (f *Fleet) Stop() {
	f.mu.Lock()
	if f.cancel != nil {
		f.cancel()
	}
	f.stopped = true
	f.mu.Unlock()
	f.wwg.Wait()
	f.wg.Wait()
}

// Final stops the run and returns the whole run's metrics (the last interval's
// transitions included) and, unless disabled, every client's final state.
func (f *Fleet) Final() (*Report, error) {
	f.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.t0.IsZero() {
		f.t0 = time.Now()
		f.lastColl = f.t0
	}
	rep, err := f.collectLocked(true)
	if err != nil {
		return nil, err
	}
	want := len(f.clients) <= 20000
	if f.cfg.ClientStates != nil {
		want = *f.cfg.ClientStates
	}
	if want {
		for _, c := range f.clients {
			st := ClientState{Index: c.index, Group: c.g.Name, Addr: c.addr.String(), MAC: MACFor(c.index).String(),
				GUID: c.guid, State: c.state.String(), Asleep: c.asleep, MP: c.mp.Name, LastPort: c.lastPort,
				HTTPPort: c.httpPort, HTTPSPort: c.httpsPort, Fallbacks: c.fallbacks, Failures: c.consecFail, Notify: c.notifying,
				Learned: c.learnedName(f.site)}
			rep.Clients = append(rep.Clients, st)
		}
	}
	return rep, nil
}

// Total returns the run's merged recorder so far (for tests and in-process use); call
// after Final or Collect.
func (f *Fleet) Total() *metrics.Recorder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}
