package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portlab/portlab/harness"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/predict"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// runFlags are `portlab run`'s flags.
type runFlags struct {
	out, capture, logFormat string
	clients                 int
	clientsSet              bool
	sets                    []string // --set PATH=VALUE
	keep, quiet, debug      bool
	// Process sizing (plan.Options) and per-agent CPU profiles.
	clientsPerFleet, sessionsPerWorker int
	profile                            string
	shard, startAt                     string // --shard I/N, --start-at RFC3339 (shard.go)
	// fault is handed to the network build (tests inject a failing step).
	fault func(step string) error
}

func newRunCmd(io streams) *cobra.Command {
	var fl runFlags
	c := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario: build the network, replay the timeline, measure, judge the gates",
		Long: `run builds the scenario's network in namespaces on this host, starts its management
points and client fleets, replays its timeline, and writes result.json, summary.md,
junit.xml, report.html and latency.hlog to the output directory.

SCENARIO is a file or a built-in name (portlab list). Exit 0 when every gate passed,
1 when a gate failed, 2 for invalid input, 3 when this machine cannot run it
(portlab doctor says why), 4 when interrupted, 5 when the run itself failed.

Ctrl-C once stops the load, collects what there is and writes results marked
interrupted (exit 4); a second Ctrl-C exits at once. SIGTERM and SIGHUP (a closed
terminal or SSH session) count as Ctrl-C. Either way no namespace, link or process is
left behind (the namespaces are held by this process only). A closed stderr (the reader
of a pipe gone) does not stop the run: the results are written all the same.

The results directory is checked before anything is built: it must be creatable and
writable with room for the results (exit 2 otherwise). Without --out it is a new
directory portlab-results/<scenario>-<UTC time>-<run ID>, never one of an earlier run.
With --out, portlab's own files an earlier run left there (result.json, summary.md,
junit.xml, report.html, latency.hlog, debug.log, *.hgrm of its histograms) are removed
first, so the directory never mixes two runs; other files are left alone. result.json
is written last, once every other file is: a directory with result.json is complete.

--debug writes debug.log to the results directory: every step of the network build and
every agent's log (stderr), each line prefixed with the agent.

--set PATH=VALUE (repeatable) overrides the scenario before it is checked, as show and
validate do; result.json records the flags. Every report puts portlab predict's
prediction beside the measurement, per group, and flags a disagreement with the rule
the prediction came from: either a portlab bug or a behaviour worth knowing.`,
		Example: `  portlab run port-change
  portlab run my-change.yaml --out results/my-change
  portlab run notification-cost --clients 1000 --quiet
  portlab run mp-capacity --clients 25000     # one MP at its documented capacity
  portlab run mp-capacity --clients 5000 --profile /tmp/prof   # then: go tool pprof /tmp/prof/mp-mp1.pprof
  portlab run fallback-alternate --debug      # results/.../debug.log: netsim steps, agent logs
  portlab run wake-up --keep        # inspect with: ip netns exec portlab-<run>-router-ra nft list ruleset
  portlab run blocked-443 --set site.ports.https.default=10443 --set 'clients[internet].count=50'
  portlab run notification-cost --shard 0/3 --start-at 2030-01-01T09:00:00Z --out shard-0   # then portlab merge`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fl.clientsSet = cmd.Flags().Changed("clients")
			return runScenario(cmd.Context(), io, args[0], fl)
		},
	}
	f := c.Flags()
	f.StringVarP(&fl.out, "out", "o", "", "results directory (default ./portlab-results/<scenario>-<UTC time>-<run ID>)")
	f.IntVar(&fl.clients, "clients", 0, fmt.Sprintf("total simulated clients, spread over the groups in proportion, at most %d (default: as the scenario says)", plan.MaxClients))
	f.BoolVar(&fl.keep, "keep", false, "pin the namespaces under /run/netns for inspection (remove with portlab clean)")
	f.StringVar(&fl.capture, "capture", "", "write one pcapng file per link into this directory")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "no progress, only warnings and the verdict")
	f.StringVar(&fl.logFormat, "log-format", "text", "progress as text or json (JSON lines, for CI)")
	f.BoolVar(&fl.debug, "debug", false, "write debug.log (network steps, agent logs) into the results directory")
	f.IntVar(&fl.clientsPerFleet, "clients-per-fleet", 0, fmt.Sprintf("most clients one fleet process runs; a larger segment is split over several (default %d; one process holds at most 20,000 open files)", plan.DefaultClientsPerFleet))
	f.IntVar(&fl.sessionsPerWorker, "sessions-per-worker", 0, fmt.Sprintf("most clients one MP worker process serves; a busier MP runs as a web garden sharing its ports (default %d; management_points[].workers overrides)", plan.DefaultSessionsPerWorker))
	f.StringVar(&fl.profile, "profile", "", "write a CPU profile of every agent process into this directory (go tool pprof FILE)")
	setFlag(c, &fl.sets)
	addShardFlags(f, &fl)
	return c
}

// runScenario is `portlab run`: load, lower, run, write the results, map the outcome
// to the exit code.
func runScenario(ctx context.Context, io streams, ref string, fl runFlags) error {
	if fl.clientsSet && (fl.clients < 1 || fl.clients > plan.MaxClients) {
		return WithCode(ExitInvalid, rescale(nil, fl.clients))
	}
	ovs, err := parseSets(io, fl.sets)
	if err != nil {
		return err
	}
	s, err := loadScenarioWith(io, ref, ovs)
	if err != nil {
		return err
	}
	if fl.clientsSet {
		if err := rescale(s, fl.clients); err != nil {
			return WithCode(ExitInvalid, err)
		}
	}
	switch fl.logFormat {
	case "text", "json":
	default:
		return WithCode(ExitInvalid, fmt.Errorf("--log-format %q: want text or json", fl.logFormat))
	}
	if fl.clientsPerFleet < 0 || fl.sessionsPerWorker < 0 {
		return WithCode(ExitInvalid, errors.New("--clients-per-fleet and --sessions-per-worker must be positive"))
	}
	p, shard, startAt, err := lowerRun(s, fl)
	if err != nil {
		return WithCode(ExitInvalid, err)
	}
	// Not root: re-run inside portlab's own user namespace.
	reexeced, code, err := netsim.ReexecRootless(ctx)
	switch {
	case errors.Is(err, netsim.ErrNoUserNS):
		return WithCode(ExitIncapable, fmt.Errorf("%w: %w; run as root or enable user namespaces (portlab doctor)", ErrIncapable, err))
	case err != nil:
		return WithCode(ExitIncapable, err)
	case reexeced:
		if code == 0 {
			return nil
		}
		return &ExitError{Code: code, Quiet: true}
	}
	if fl.keep && netsim.Rootless() {
		return WithCode(ExitInvalid, errors.New("--keep needs root: pinning namespaces mounts in the host's mount namespace"))
	}
	// Everything that could fail at the end, found before anything is built: the
	// results directory (names fit: scenario validation bounds every name).
	out, runID, err := resultsDir(fl.out, s.Name)
	if err != nil {
		return WithCode(ExitInvalid, err)
	}
	if fl.capture != "" {
		if err := reports.CheckDir(fl.capture); err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("--capture: %w", err))
		}
	}
	mode := harness.ConsoleAuto
	switch {
	case fl.logFormat == "json":
		mode = harness.ConsoleJSON
	case fl.quiet:
		mode = harness.ConsoleQuiet
	}
	isTTY := false
	if f, ok := io.err.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	// A write to a closed stderr must not end the run (SIGPIPE, exit 141) nor fail it:
	// with SIGPIPE notified the write returns EPIPE instead, which the console drops.
	// It stays notified until the process exits, so the last message cannot kill it
	// either. (A handler, not SIG_IGN: ignored signals would stay ignored in the agents.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	con := harness.NewConsole(errorsOK{io.err}, mode, isTTY)

	// Two-stage Ctrl-C: the first stops the load and keeps the results, the second
	// leaves at once (the kernel removes the anonymous namespaces with us).
	ctx, stop := twoStageInterrupt(ctx, io, con, "stopping the load; the results are written, marked interrupted (again to exit at once)")
	defer stop()
	job := runJob{ref: ref, plan: p, out: out, runID: runID, ownDir: fl.out == "", overrides: scenarios.OverrideStrings(ovs), prediction: predict.Predict(p),
		startAt: startAt, shard: shard}
	_, err = execute(ctx, io, job, fl, con)
	return err
}

// runJob is one run of a lowered scenario into a prepared results directory: what
// `portlab run` and each candidate of `portlab sweep` hand to execute.
type runJob struct {
	ref        string
	plan       *plan.Plan
	out, runID string
	ownDir     bool     // out was made for this run (removed again if nothing ran)
	overrides  []string // --set (and a sweep's --vary) as PATH=VALUE, for the result
	prediction *predict.Prediction
	noSummary  bool        // the caller prints its own (sweep)
	startAt    time.Time   // --start-at: the load's second 0 (zero: when ready)
	shard      *plan.Shard // --shard: the plan is this shard of the scenario
}

// execute runs the job, writes its results (with the prediction beside the measurement)
// and prints the summary. The result is nil when the load never started; the error
// carries the exit code of the outcome.
func execute(ctx context.Context, io streams, job runJob, fl runFlags, con *harness.Console) (*reports.Result, error) {
	opt := harness.Options{RunID: job.runID, Keep: fl.keep, CaptureDir: fl.capture, Console: con, Tool: "portlab " + Version, Fault: fl.fault,
		StartAt: job.startAt, Shard: job.shard}
	if fl.profile != "" {
		if err := os.MkdirAll(fl.profile, 0o755); err != nil {
			return nil, WithCode(ExitInvalid, fmt.Errorf("--profile: %w", err))
		}
		var err error
		if opt.ProfileDir, err = filepath.Abs(fl.profile); err != nil {
			return nil, WithCode(ExitInvalid, fmt.Errorf("--profile: %w", err))
		}
	}
	if fl.debug {
		lf, err := os.Create(filepath.Join(job.out, "debug.log"))
		if err != nil {
			return nil, WithCode(ExitInvalid, fmt.Errorf("--debug: %w", err))
		}
		defer lf.Close()
		opt.Log = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opt.AgentLog = lf
	}
	res, runErr := harness.Run(ctx, job.plan, opt)
	if res == nil && job.ownDir {
		os.Remove(job.out) // the run's own directory, still empty: nothing ran (with debug.log, kept)
	}
	if res == nil {
		switch {
		case errors.Is(runErr, context.Canceled):
			return nil, WithCode(ExitInterrupted, errors.New("interrupted before the load started"))
		case errors.Is(runErr, harness.ErrStartMissed):
			return nil, WithCode(ExitInvalid, runErr)
		case errors.Is(runErr, netsim.ErrIncapable):
			return nil, WithCode(ExitIncapable, fmt.Errorf("%w: %w\nportlab doctor --scenario %s says what this machine lacks", ErrIncapable, runErr, job.ref))
		}
		return nil, WithCode(ExitRunFailed, runErr)
	}
	res.Overrides = job.overrides
	if job.prediction != nil {
		predict.Compare(job.prediction.Results(), res)
	}
	_, werr := reports.Write(job.out, res, reports.ExtraFiles(res))
	if !job.noSummary {
		con.Write(terminalSafe(consoleSummary(res, job.out)))
	}
	if werr != nil {
		return res, WithCode(ExitRunFailed, fmt.Errorf("writing results: %w", werr))
	}
	switch res.Status {
	case reports.StatusPassed:
		return res, nil
	case reports.StatusFailed:
		return res, &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("%w: %d of %d gates failed", ErrGateFailed, len(res.Failed()), len(res.Gates)), Quiet: true}
	case reports.StatusInterrupted:
		return res, &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted"), Quiet: true}
	default:
		return res, WithCode(ExitRunFailed, runErr)
	}
}

// resultsDir prepares the run's results directory and picks its run ID. With --out,
// that directory (created if needed, its earlier portlab files removed: see
// reports.PrepareDir) and a new ID. Without, a new directory of its own, named with the
// run's ID (reports.NewRunDir), so back-to-back runs never share one and the name
// matches the result's run_id.
func resultsDir(out, scenario string) (dir, runID string, err error) {
	if out != "" {
		if err := reports.PrepareDir(out); err != nil {
			return "", "", fmt.Errorf("--out: %w", err)
		}
		return out, netsim.NewRunID(), nil
	}
	dir, runID, err = reports.NewRunDir(reports.DefaultDir, scenario, time.Now(), netsim.NewRunID)
	if err != nil {
		return "", "", err
	}
	if err := reports.CheckDir(dir); err != nil {
		os.Remove(dir) // empty: made just now
		return "", "", err
	}
	return dir, runID, nil
}

// consoleSummary is the short table printed at the end of a run.
func consoleSummary(r *reports.Result, dir string) string {
	var b []byte
	add := func(f string, a ...any) { b = fmt.Appendf(b, f, a...) }
	verdict := strings.ToUpper(r.Status)
	if r.Shard != nil && r.Shard.Index >= 0 && r.Status == reports.StatusPassed {
		verdict = fmt.Sprintf("SHARD %d/%d COMPLETE", r.Shard.Index, r.Shard.Count) // its gates are the merge's
	}
	add("\n%s: %s (%.1fs, %d clients)\n", r.ScenarioName, verdict, r.Elapsed, r.Environment.Clients)
	if r.Error != "" {
		add("  error: %s\n", r.Error)
	}
	predicted := map[string]reports.GroupPrediction{}
	for _, p := range r.Prediction {
		predicted[p.Group] = p
	}
	for _, g := range r.Groups {
		add("  group %-14s %5d clients  managed %5d  unmanaged %5d", g.Group, g.Count, g.Managed, g.Unmanaged)
		if g.Asleep > 0 {
			add("  asleep %d", g.Asleep)
		}
		if g.Fallbacks > 0 {
			add("  fell back %d (p50 %s)", g.Fallbacks, reports.FormatValue(g.FallbackDelay.P50, "seconds"))
		}
		if p, ok := predicted[g.Group]; ok {
			add("  predicted %s", p.Predicted)
		}
		add("\n")
		if l := g.Location; l != nil {
			add("        %-14s %s: port from %s", "", l.Membership, reports.LearnedText(l.Learned))
			if l.Followed > 0 {
				add("; followed %d (p50 %s)", l.Followed, reports.FormatValue(l.FollowTime.P50, "seconds"))
			}
			add("; LDAP %d (%d failed), DNS %d (%d failed)\n", l.LDAPQueries, l.LDAPFailures, l.DNSQueries, l.DNSFailures)
		}
	}
	for _, p := range r.Disagreements() {
		add("  DISAGREES with the prediction: group %s: %s\n", p.Group, p.Disagreement)
	}
	for _, c := range r.Cost {
		if c.Role == "mp" {
			add("  mp %-17s CPU %.2fs  %.1f µs/request  RSS peak %s\n", c.Name, c.CPUUser+c.CPUSystem, c.CPUPerRequestUS, reports.FormatValue(float64(c.RSSPeak), "bytes"))
		}
	}
	if r.Shard != nil {
		add("  %s\n", r.Shard.Describe())
	}
	for _, g := range r.Gates {
		mark := "pass"
		switch {
		case g.Pending:
			mark = "pending"
		case !g.Passed:
			mark = "FAIL"
		}
		add("  %s  %s\n", mark, g.Message)
	}
	add("results: %s\n", dir)
	return string(b)
}

// twoStageInterrupt is Ctrl-C (and SIGTERM, SIGHUP) for commands that run loads: the
// first signal warns with what and cancels the returned context, so the work stops and
// keeps what it has; the second exits at once (ExitInterrupted). stop releases the
// signals.
func twoStageInterrupt(parent context.Context, io streams, con *harness.Console, what string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals()...)
	go func() {
		n := 0
		for sig := range sigs {
			n++
			if n == 1 {
				con.Warn(what, "signal", sig.String())
				cancel()
				continue
			}
			fmt.Fprintln(io.err, "portlab: second interrupt: exiting now")
			os.Exit(ExitInterrupted)
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}
