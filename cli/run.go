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
	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// runFlags are `portlab run`'s flags.
type runFlags struct {
	out, capture, logFormat string
	clients                 int
	clientsSet              bool
	keep, quiet, debug      bool
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
every agent's log (stderr), each line prefixed with the agent.`,
		Example: `  portlab run port-change
  portlab run my-change.yaml --out results/my-change
  portlab run notification-cost --clients 1000 --quiet
  portlab run fallback-alternate --debug      # results/.../debug.log: netsim steps, agent logs
  portlab run wake-up --keep        # inspect with: ip netns exec portlab-<run>-router-ra nft list ruleset`,
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
	return c
}

// runScenario is `portlab run`: load, lower, run, write the results, map the outcome
// to the exit code.
func runScenario(ctx context.Context, io streams, ref string, fl runFlags) error {
	if fl.clientsSet && (fl.clients < 1 || fl.clients > plan.MaxClients) {
		return WithCode(ExitInvalid, fmt.Errorf("--clients %d out of range 1 to %d (every client needs an address of 198.18.0.0/15)", fl.clients, plan.MaxClients))
	}
	s, err := loadScenario(io, ref)
	if err != nil {
		return err
	}
	if fl.clientsSet {
		if err := plan.Rescale(s, fl.clients); err != nil {
			return WithCode(ExitInvalid, err)
		}
	}
	switch fl.logFormat {
	case "text", "json":
	default:
		return WithCode(ExitInvalid, fmt.Errorf("--log-format %q: want text or json", fl.logFormat))
	}
	p, err := plan.Lower(s)
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
	opt := harness.Options{RunID: runID, Keep: fl.keep, CaptureDir: fl.capture, Console: con, Tool: "portlab " + Version, Fault: fl.fault}
	if fl.debug {
		lf, err := os.Create(filepath.Join(out, "debug.log"))
		if err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("--debug: %w", err))
		}
		defer lf.Close()
		opt.Log = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opt.AgentLog = lf
	}

	// Two-stage Ctrl-C: the first stops the load and keeps the results, the second
	// leaves at once (the kernel removes the anonymous namespaces with us).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals()...)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for sig := range sigs {
			n++
			if n == 1 {
				con.Warn("stopping the load; the results are written, marked interrupted (again to exit at once)", "signal", sig.String())
				cancel()
				continue
			}
			fmt.Fprintln(io.err, "portlab: second interrupt: exiting now")
			os.Exit(ExitInterrupted)
		}
	}()

	res, runErr := harness.Run(ctx, p, opt)
	if res == nil && fl.out == "" {
		os.Remove(out) // the run's own directory, still empty: nothing ran (with debug.log, kept)
	}
	if res == nil {
		switch {
		case errors.Is(runErr, context.Canceled):
			return WithCode(ExitInterrupted, errors.New("interrupted before the load started"))
		case errors.Is(runErr, netsim.ErrIncapable):
			return WithCode(ExitIncapable, fmt.Errorf("%w: %w\nportlab doctor --scenario %s says what this machine lacks", ErrIncapable, runErr, ref))
		}
		return WithCode(ExitRunFailed, runErr)
	}
	_, werr := reports.Write(out, res, reports.ExtraFiles(res))
	con.Write(terminalSafe(consoleSummary(res, out)))
	if werr != nil {
		return WithCode(ExitRunFailed, fmt.Errorf("writing results: %w", werr))
	}
	switch res.Status {
	case reports.StatusPassed:
		return nil
	case reports.StatusFailed:
		return &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("%w: %d of %d gates failed", ErrGateFailed, len(res.Failed()), len(res.Gates)), Quiet: true}
	case reports.StatusInterrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted"), Quiet: true}
	default:
		return WithCode(ExitRunFailed, runErr)
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
	add("\n%s: %s (%.1fs, %d clients)\n", r.ScenarioName, strings.ToUpper(r.Status), r.Elapsed, r.Environment.Clients)
	if r.Error != "" {
		add("  error: %s\n", r.Error)
	}
	for _, g := range r.Groups {
		add("  group %-14s %5d clients  managed %5d  unmanaged %5d", g.Group, g.Count, g.Managed, g.Unmanaged)
		if g.Asleep > 0 {
			add("  asleep %d", g.Asleep)
		}
		if g.Fallbacks > 0 {
			add("  fell back %d (p50 %s)", g.Fallbacks, reports.FormatValue(g.FallbackDelay.P50, "seconds"))
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
	for _, c := range r.Cost {
		if c.Role == "mp" {
			add("  mp %-17s CPU %.2fs  %.1f µs/request  RSS peak %s\n", c.Name, c.CPUUser+c.CPUSystem, c.CPUPerRequestUS, reports.FormatValue(float64(c.RSSPeak), "bytes"))
		}
	}
	for _, g := range r.Gates {
		mark := "pass"
		if !g.Passed {
			mark = "FAIL"
		}
		add("  %s  %s\n", mark, g.Message)
	}
	add("results: %s\n", dir)
	return string(b)
}
