package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
)

// ErrRunFailed wraps every failure of the run itself (exit 5): the step, the node, why.
// A failure of this machine (a missing privilege or kernel feature) wraps
// netsim.ErrIncapable as well.
var ErrRunFailed = errors.New("run failed")

// Options control one run.
type Options struct {
	// Binary is the portlab executable the agents run ("" = this process's executable).
	Binary string
	// RunID names the run (namespaces pinned with Keep carry it); "" = random.
	RunID string
	// Keep pins the namespaces under /run/netns for inspection (portlab clean removes them).
	Keep bool
	// CaptureDir, when set, receives one pcapng file per link.
	CaptureDir string
	// Console shows progress; nil = quiet.
	Console *Console
	// Tool is "portlab <version>", recorded in the result.
	Tool string
	// Log receives debug detail: the network's build steps and, when AgentLog is set
	// too, nothing else; nil = discard.
	Log *slog.Logger
	// AgentLog, when set, receives every agent's standard error as it is written.
	AgentLog io.Writer
	// ProfileDir, when set, receives a CPU profile of every agent process
	// (<role>-<name>.pprof, for go tool pprof).
	ProfileDir string
	// Fault is handed to netsim.Options.Fault (tests inject a failing build step).
	Fault func(step string) error
	// StartAt, when set, is the load's second 0 (a sharded run's common start): the run
	// waits for it once everything is up, and fails with ErrStartMissed if it is more
	// than reports.StartTolerance in the past by then.
	StartAt time.Time
	// Shard, when set, says the plan is that shard of the scenario (plan.LowerShard):
	// the result records it, and its gates are left pending for portlab merge.
	Shard *plan.Shard
}

// timeouts for agent conversations.
const (
	agentReadyTimeout = 20 * time.Second
	agentCallTimeout  = 10 * time.Second
	finalGrace        = 15 * time.Second
)

// runner is the state of one run.
type runner struct {
	behindWarned time.Time  // last "falling behind" warning (mu)
	ivs          *intervals // per-interval histograms (mu)
	p            *plan.Plan
	opt          Options
	con          *Console
	log          *slog.Logger
	topo         *netsim.Topology
	ca           *mp.CA

	mps    map[string]*mpGroup
	site   *agentConn    // the site server: wake-up packets, directory and DNS
	siteSt *site.Stats   // its latest counters
	siteCo siteCost      // its CPU and memory (location.go)
	fleets []*fleetAgent // as plan.Fleets

	t0       time.Time
	mu       sync.Mutex
	ended    time.Time // when the load phase ended (duration, interrupt)
	series   map[int]*reports.SecondPoint
	events   []reports.EventRecord
	marks    []reports.TimelineMark
	pushes   map[string]int // group -> pushes sent to it
	wakes    map[string]*reports.WakeStats
	failures []string // agent deaths and other failures during the load
	trans    map[transKey]int
	dead     map[*agentConn]bool // agents whose death was reported
	pushSeq  uint64              // push IDs, the same for every worker of an MP
}

// mpGroup is one MP: its worker processes (one, or a web garden).
type mpGroup struct {
	plan    plan.MP
	workers []*mpAgent
	stopped bool // stopped on purpose by the timeline
}

// mpAgent is one MP process.
type mpAgent struct {
	conn *agentConn
	last mp.Snapshot
	cost []reports.CostPoint
	peak uint64
	sess int
	base uint64 // RSS once serving, before any client: what sessions are measured against
}

type fleetAgent struct {
	conn *agentConn
	// rec holds the fleet's intervals merged; final, when it arrives, is the fleet's own
	// whole-run total and replaces it (merging both would count everything twice).
	rec    *metrics.Recorder
	finalR *metrics.Recorder
	plan   plan.Fleet
	last   *fleet.Report
	final  *fleet.Report
	cost   []reports.CostPoint
	peak   uint64
	finals chan struct{}
	once   sync.Once
}

// Run executes a lowered scenario and returns its result. The result is non-nil
// whenever the run got as far as starting the load, even when it failed or was
// interrupted; its Status says which. The error wraps ErrRunFailed (the run could not be
// carried out; with netsim.ErrIncapable when this machine cannot do it) or the
// context's error (interrupted).
func Run(ctx context.Context, p *plan.Plan, opt Options) (*reports.Result, error) {
	if opt.RunID == "" {
		opt.RunID = netsim.NewRunID()
	}
	if opt.Console == nil {
		opt.Console = NewConsole(io.Discard, ConsoleQuiet, false)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("%w: find own executable: %w", ErrRunFailed, err)
		}
		opt.Binary = exe
	}
	r := &runner{p: p, opt: opt, con: opt.Console, log: opt.Log, ivs: newIntervals(reports.IntervalLength(p.Duration)),
		mps: map[string]*mpGroup{}, series: map[int]*reports.SecondPoint{}, trans: map[transKey]int{},
		dead: map[*agentConn]bool{}, pushes: map[string]int{}, wakes: map[string]*reports.WakeStats{}}
	return r.run(ctx)
}

// fail wraps err (its whole chain kept) as a failure of the run at step, on node.
func (r *runner) fail(step, node string, err error) error {
	if node != "" {
		return fmt.Errorf("%w: %s %s: %w", ErrRunFailed, step, node, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRunFailed, step, err)
}

func (r *runner) run(ctx context.Context) (*reports.Result, error) {
	started := time.Now()
	s := r.p.Scenario
	r.con.Step("building network", "scenario", s.Name, "run", r.opt.RunID, "clients", r.p.Clients())
	topo, err := netsim.Build(ctx, r.p.Net, netsim.Options{RunID: r.opt.RunID, Keep: r.opt.Keep,
		CaptureDir: r.opt.CaptureDir, Log: r.log, Fault: r.opt.Fault})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.fail("build network", "", err)
	}
	r.topo = topo
	defer func() {
		if err := topo.Close(); err != nil {
			r.con.Warn("tear down network: " + err.Error())
		}
	}()
	if r.opt.Keep {
		r.con.Step("namespaces kept", "inspect", "ip netns list | grep portlab-"+r.opt.RunID, "remove", "portlab clean --run "+r.opt.RunID)
	}

	// agentCtx outlives the run's ctx: on Ctrl-C the agents must still deliver their
	// finals; they are ended explicitly (stdin closed) in teardown.
	agentCtx, cancelAgents := context.WithCancel(context.Background())
	defer cancelAgents()
	defer r.finishAll()

	// A Ctrl-C during start-up also reaches the agents (same process group), so their
	// calls fail: report the interrupt, not a failed run.
	startErr := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := r.startMPs(ctx, agentCtx); err != nil {
		return nil, startErr(err)
	}
	if err := r.startFleets(ctx, agentCtx); err != nil {
		return nil, startErr(err)
	}
	if err := r.startSite(ctx, agentCtx); err != nil {
		return nil, startErr(err)
	}
	for _, n := range r.p.Neighbors {
		if err := r.topo.AddNeighbors(n.Router, n.Link, n.Addrs, n.MACs); err != nil {
			return nil, startErr(r.fail("static neighbours", "router "+n.Router+" link "+n.Link, err))
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Start the load a little in the future so every fleet begins at the same instant,
	// or at the common start of a sharded run.
	if r.t0, err = r.waitStart(ctx, time.Since(started)); err != nil {
		return nil, startErr(err)
	}
	for _, f := range r.fleets {
		if _, err := f.conn.call(ctx, fleet.CmdStart, fleet.StartArgs{StartTime: r.t0}, agentCallTimeout); err != nil {
			return nil, startErr(r.fail("start load", f.plan.Node, err))
		}
	}
	r.con.Step("load running", "duration", s.Duration.String(), "clients", r.p.Clients())

	interrupted := r.drive(ctx)
	r.mu.Lock()
	r.ended = time.Now()
	r.mu.Unlock()

	// Collect: fleets end by themselves at the duration; on interrupt, ask them to stop.
	if interrupted {
		r.con.Step("interrupted: stopping the load and collecting what there is")
		for _, f := range r.fleets {
			f.conn.send(fleet.CmdStop, nil)
		}
	}
	r.awaitFinals(finalGrace)
	r.checkAgents() // an agent that died at the very end counts too
	for _, g := range r.mps {
		for _, m := range g.workers {
			if m.conn.exited() {
				continue
			}
			if msg, err := m.conn.call(context.Background(), mp.CmdSnapshot, nil, agentCallTimeout); err == nil {
				var snap mp.Snapshot
				if json.Unmarshal(msg.Data, &snap) == nil {
					r.mu.Lock()
					m.last = snap
					r.mu.Unlock()
				}
			}
		}
	}
	r.collectSite()
	res := r.result(started, interrupted)
	if interrupted {
		return res, context.Canceled
	}
	if res.Status == reports.StatusError {
		return res, fmt.Errorf("%w: %s", ErrRunFailed, res.Error)
	}
	return res, nil
}

// agentCommand is how an agent of role starts inside its namespace.
func (r *runner) agentCommand(role, name string) netsim.Command {
	c := netsim.Command{Path: r.opt.Binary, Args: []string{"agent", role}}
	if r.opt.ProfileDir != "" {
		c.Env = append(c.Env, agent.ProfileEnv+"="+filepath.Join(r.opt.ProfileDir, role+"-"+name+".pprof"))
	}
	if r.opt.AgentLog != nil {
		c.Stderr = &prefixWriter{w: r.opt.AgentLog, prefix: role + " " + name + ": "}
	}
	return c
}

// startMPs starts one agent per management point and waits until each serves.
func (r *runner) startMPs(ctx, agentCtx context.Context) error {
	ca, err := mp.NewCA()
	if err != nil {
		return r.fail("make CA", "", err)
	}
	r.ca = ca
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return r.fail("make CA", "", err)
	}
	type started struct {
		name string
		m    *mpAgent
		err  error
	}
	n := 0
	for _, pm := range r.p.MPs {
		n += pm.Workers
	}
	results := make(chan started, n)
	for _, pm := range r.p.MPs {
		g := &mpGroup{plan: pm}
		r.mps[pm.Name] = g
		for w := range pm.Workers {
			cfg := pm.Config
			cfg.Worker = w
			cfg.TLS.CACertPEM = string(ca.CertPEM)
			cfg.TLS.CAKeyPEM = string(keyPEM)
			label := pm.Name
			if pm.Workers > 1 {
				label = fmt.Sprintf("%s#%d", pm.Name, w+1)
			}
			proc, err := r.topo.StartCommand(agentCtx, pm.Node, r.agentCommand("mp", label))
			if err != nil {
				return r.fail("start agent", pm.Node, err)
			}
			a := &mpAgent{}
			a.conn = newAgentConn("mp", label, proc, func(msg agent.Message) { r.onMP(a, label, msg) })
			g.workers = append(g.workers, a)
			go func() {
				_, err := a.conn.call(ctx, mp.CmdConfig, cfg, agentReadyTimeout)
				results <- started{label, a, err}
			}()
		}
	}
	var errs []error
	for range n {
		if s := <-results; s.err != nil {
			errs = append(errs, r.fail("start management point", s.name, s.err))
		} else if ps, err := metrics.ReadProc("/proc", s.m.conn.proc.Pid()); err == nil {
			s.m.base = ps.RSS
		}
	}
	return errors.Join(errs...)
}

// startFleets starts one fleet agent per client segment.
func (r *runner) startFleets(ctx, agentCtx context.Context) error {
	type started struct {
		node string
		err  error
	}
	results := make(chan started, len(r.p.Fleets))
	for i, pf := range r.p.Fleets {
		cfg := pf.Config
		cfg.CAPEM = string(r.ca.CertPEM)
		proc, err := r.topo.StartCommand(agentCtx, pf.Node, r.agentCommand("fleet", pf.Name()))
		if err != nil {
			return r.fail("start agent", pf.Node, err)
		}
		f := &fleetAgent{plan: pf, finals: make(chan struct{}), rec: metrics.NewRecorder()}
		f.conn = newAgentConn("fleet", pf.Name(), proc, func(msg agent.Message) { r.onFleet(i, msg) })
		r.fleets = append(r.fleets, f)
		go func() {
			_, err := f.conn.call(ctx, fleet.CmdConfig, cfg, agentReadyTimeout)
			results <- started{pf.Node, err}
		}()
	}
	var errs []error
	for range r.p.Fleets {
		if s := <-results; s.err != nil {
			errs = append(errs, r.fail("start fleet", s.node, s.err))
		}
	}
	return errors.Join(errs...)
}

// startSite starts the site server's agent, which sends wake-up packets.
func (r *runner) startSite(ctx, agentCtx context.Context) error {
	if r.p.Net.Site == nil {
		return nil
	}
	proc, err := r.topo.StartCommand(agentCtx, netsim.SiteNode, r.agentCommand("site", r.p.Site.SiteCode))
	if err != nil {
		return r.fail("start agent", netsim.SiteNode, err)
	}
	r.site = newAgentConn("site", r.p.Site.SiteCode, proc, func(msg agent.Message) {
		switch msg.Type {
		case agent.TypeError:
			r.noteFailure("site server: " + msg.Error)
		case agent.TypeSnapshot, agent.TypeFinal:
			r.onSiteStats(msg.Data)
		}
	})
	if _, err := r.site.call(ctx, agent.CmdConfig, r.p.Site, agentReadyTimeout); err != nil {
		return r.fail("start site server", netsim.SiteNode, err)
	}
	return nil
}

func (r *runner) onMP(a *mpAgent, name string, msg agent.Message) {
	switch msg.Type {
	case agent.TypeSnapshot, agent.TypeFinal:
		var snap mp.Snapshot
		if err := json.Unmarshal(msg.Data, &snap); err != nil {
			r.log.Warn("mp snapshot", "mp", name, "err", err)
			return
		}
		r.mu.Lock()
		a.last = snap
		a.sess = max(a.sess, int(snap.Notify.Sessions["tcp"])+snap.Notify.LongPollClients)
		r.mu.Unlock()
	case agent.TypeError:
		r.noteFailure(fmt.Sprintf("mp %s: %s", name, msg.Error))
	}
}

func (r *runner) onFleet(i int, msg agent.Message) {
	seg := r.p.Fleets[i].Name()
	switch msg.Type {
	case agent.TypeSnapshot, agent.TypeFinal:
		var rep fleet.Report
		if err := json.Unmarshal(msg.Data, &rep); err != nil {
			r.noteFailure(fmt.Sprintf("fleet %s: bad snapshot: %v", seg, err))
			return
		}
		rec, err := metrics.Decode(rep.Snapshot)
		if err != nil {
			r.noteFailure(fmt.Sprintf("fleet %s: decode snapshot: %v", seg, err))
			return
		}
		r.mu.Lock()
		f := r.fleets[i]
		if msg.Type == agent.TypeFinal {
			// The whole run; the agent sent its last interval as a snapshot just before.
			f.final = &rep
			f.finalR = rec
		} else {
			f.rec.Merge(rec)
			f.last = &rep
			r.addSeries(&rep, rec)
			if r.ivs != nil && !r.t0.IsZero() {
				r.ivs.add(int(rep.End.Sub(r.t0).Round(time.Second)/time.Second), rec)
			}
		}
		r.mu.Unlock()
		if msg.Type == agent.TypeFinal {
			f.once.Do(func() { close(f.finals) })
		}
	case agent.TypeError:
		r.noteFailure(fmt.Sprintf("fleet %s: %s", seg, msg.Error))
	}
}

// addSeries folds one fleet interval into the per-second series (r.mu held).
func (r *runner) addSeries(rep *fleet.Report, rec *metrics.Recorder) {
	if r.t0.IsZero() {
		return
	}
	sec := int(rep.End.Sub(r.t0).Round(time.Second) / time.Second)
	p := r.series[sec]
	if p == nil {
		p = &reports.SecondPoint{T: float64(sec), Failures: map[string]int{}, Managed: map[string]int{}, Unmanaged: map[string]int{}}
		r.series[sec] = p
	}
	p.Attempts += uint64(rep.Series.Attempts)
	p.OK += uint64(rep.Series.Successes)
	for k, v := range rep.Series.Failures {
		p.Failures[k] += int(v)
	}
	for g := range rep.Groups {
		// A group split over fleet processes: each one's latest state, added up (the
		// report being folded is its fleet's last).
		m, u := 0, 0
		for _, f := range r.fleets {
			if f.last != nil {
				st := f.last.Groups[g]
				m, u = m+st.Managed, u+st.Unmanaged
			}
		}
		p.Managed[g], p.Unmanaged[g] = m, u
		p.Planned += uint64(rec.Counter(metrics.CPlanned, g))
		p.Late += uint64(rec.Counter(metrics.CLateStarts, g))
		p.Deferred += uint64(rec.Counter(metrics.CDeferred, g))
	}
	for _, t := range rep.Transitions {
		r.trans[transKey{t.Group, int(t.Time.Sub(r.t0).Round(time.Second) / time.Second), t.To}]++
	}
}

func (r *runner) noteFailure(s string) {
	r.mu.Lock()
	r.failures = append(r.failures, s)
	r.mu.Unlock()
	r.con.Warn(s)
}

// drive runs the timeline and samples cost until the duration has passed; it returns
// true when the run was interrupted.
func (r *runner) drive(ctx context.Context) (interrupted bool) {
	steps := r.p.Steps
	end := r.t0.Add(r.p.Duration)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	next := 0
	var timer *time.Timer
	arm := func() <-chan time.Time {
		if next >= len(steps) {
			return nil
		}
		d := time.Until(r.t0.Add(steps[next].At))
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		return timer.C
	}
	evC := arm()
	endT := time.NewTimer(time.Until(end))
	defer endT.Stop()
	// Steps run one after another on their own goroutine, so a slow one (a large
	// wake-up at a low rate) never stalls sampling or the end of the run.
	queue := make(chan plan.Step, len(steps))
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for st := range queue {
			if ctx.Err() != nil {
				continue
			}
			r.apply(ctx, st)
		}
	}()
	defer func() {
		close(queue)
		<-applied
	}()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-endT.C:
			r.sample()
			return false
		case <-evC:
			queue <- steps[next]
			next++
			evC = arm()
		case <-tick.C:
			r.sample()
			r.checkAgents()
			r.mu.Lock()
			r.ivs.seal(int(time.Since(r.t0)/time.Second), 3) // every fleet has reported by then
			r.mu.Unlock()
		}
	}
}

// sample reads each agent's CPU and memory from /proc and shows progress.
func (r *runner) sample() {
	t := time.Since(r.t0).Seconds()
	for _, g := range r.mps {
		for _, m := range g.workers {
			if ps, err := metrics.ReadProc("/proc", m.conn.proc.Pid()); err == nil {
				r.mu.Lock()
				var reqs uint64
				for _, q := range m.last.Requests {
					reqs += q.Count
				}
				m.cost = append(m.cost, reports.CostPoint{T: t, CPU: ps.CPUUser + ps.CPUSystem, RSS: ps.RSS, Reqs: reqs})
				m.peak = max(m.peak, ps.RSSPeak, ps.RSS)
				r.mu.Unlock()
			}
		}
	}
	for _, f := range r.fleets {
		if ps, err := metrics.ReadProc("/proc", f.conn.proc.Pid()); err == nil {
			r.mu.Lock()
			f.cost = append(f.cost, reports.CostPoint{T: t, CPU: ps.CPUUser + ps.CPUSystem, RSS: ps.RSS})
			f.peak = max(f.peak, ps.RSSPeak, ps.RSS)
			r.mu.Unlock()
		}
	}
	r.sampleSite(t)
	r.mu.Lock()
	st := Status{Elapsed: time.Since(r.t0), Duration: r.p.Duration}
	for _, f := range r.fleets {
		if f.last == nil {
			continue
		}
		for _, g := range f.last.Groups {
			st.Managed += g.Managed
			st.Unmanaged += g.Unmanaged
			st.Asleep += g.Asleep
		}
	}
	sec := int(time.Since(r.t0).Round(time.Second)/time.Second) - 1
	if p := r.series[sec]; p != nil {
		st.ReqPerSec = float64(p.Attempts)
		st.ErrPerSec = float64(p.Attempts - p.OK)
		top := 0
		for k, v := range p.Failures {
			if v > top {
				top, st.TopError = v, k
			}
		}
	}
	// fortio's "falling behind" warning: the generator's own lag over the last 5 s,
	// apart from cycles deferred by a slow MP (which are what a run measures).
	var planned, late uint64
	for s := sec - 4; s <= sec; s++ {
		if p := r.series[s]; p != nil {
			planned += p.Planned
			late += p.Late
		}
	}
	behind := planned >= 100 && float64(late) > 0.01*float64(planned) && time.Since(r.behindWarned) >= 10*time.Second
	if behind {
		r.behindWarned = time.Now()
	}
	r.mu.Unlock()
	r.con.Progress(st)
	if behind {
		r.con.Warn("the load generator is falling behind: its own lag, not the MP's",
			"late", fmt.Sprintf("%.1f%%", 100*float64(late)/float64(planned)), "window", "5s",
			"hint", "fewer clients, or more fleet processes (--clients-per-fleet)")
	}
}

// checkAgents notices agents that died without being asked to (once each).
func (r *runner) checkAgents() {
	r.mu.Lock()
	var dead []string
	for _, g := range r.mps {
		for _, m := range g.workers {
			if m.conn.exited() && r.firstDeath(m.conn) {
				dead = append(dead, fmt.Sprintf("mp %s agent died (pid %d)%s", m.conn.name, m.conn.proc.Pid(), m.conn.stderrTail()))
			}
		}
	}
	for _, f := range r.fleets {
		if f.conn.exited() && f.final == nil && r.firstDeath(f.conn) {
			dead = append(dead, fmt.Sprintf("fleet %s agent died (pid %d)%s", f.plan.Name(), f.conn.proc.Pid(), f.conn.stderrTail()))
		}
	}
	if r.site != nil && r.site.exited() && r.firstDeath(r.site) {
		dead = append(dead, "site server agent died"+r.site.stderrTail())
	}
	r.mu.Unlock()
	for _, d := range dead {
		r.noteFailure(d)
	}
}

// firstDeath records that c's death is being reported; false if it was already (r.mu held).
func (r *runner) firstDeath(c *agentConn) bool {
	if r.dead[c] {
		return false
	}
	r.dead[c] = true
	return true
}

// awaitFinals waits for every fleet's final report.
func (r *runner) awaitFinals(grace time.Duration) {
	deadline := time.After(grace)
	for _, f := range r.fleets {
		select {
		case <-f.finals:
		case <-f.conn.done:
			r.mu.Lock()
			missing := f.final == nil && r.firstDeath(f.conn)
			r.mu.Unlock()
			if missing {
				r.noteFailure(fmt.Sprintf("fleet %s exited without its final report%s", f.plan.Name(), f.conn.stderrTail()))
			}
		case <-deadline:
			r.noteFailure(fmt.Sprintf("fleet %s: no final report within %s", f.plan.Name(), grace))
			return
		}
	}
}

// finishAll ends every agent (stdin closed, then killed if it lingers).
func (r *runner) finishAll() {
	var wg sync.WaitGroup
	for _, g := range r.mps {
		for _, m := range g.workers {
			wg.Go(func() { m.conn.finish(3 * time.Second) })
		}
	}
	for _, f := range r.fleets {
		wg.Go(func() { f.conn.finish(3 * time.Second) })
	}
	if r.site != nil {
		wg.Go(func() { r.site.finish(3 * time.Second) })
	}
	wg.Wait()
}

// environment describes this machine for the result.
func environment(clients int) reports.Environment {
	e := reports.Environment{GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Clients: clients, Rootless: netsim.Rootless()}
	e.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		e.MemBytes = kb * 1024
	}
	return e
}

// total merges every fleet's whole-run metrics (r.mu held).
func (r *runner) total() *metrics.Recorder {
	t := metrics.NewRecorder()
	for _, f := range r.fleets {
		if f.finalR != nil {
			t.Merge(f.finalR)
		} else {
			t.Merge(f.rec)
		}
	}
	return t
}

// prefixWriter writes each line with a prefix (agents' stderr into one debug log).
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mid    bool // the last write ended mid-line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	var out []byte
	for len(b) > 0 {
		if !p.mid {
			out = append(out, p.prefix...)
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b...)
			p.mid = true
			break
		}
		out = append(out, b[:i+1]...)
		b = b[i+1:]
		p.mid = false
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}
