package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portlab/portlab/harness"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newRunCmd(io streams) *cobra.Command {
	var (
		out, capture, logFormat string
		clients                 int
		keep, quiet             bool
	)
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
interrupted; a second Ctrl-C exits at once. Either way no namespace, link or process
is left behind (the namespaces are held by this process only).`,
		Example: `  portlab run port-change
  portlab run my-change.yaml --out results/my-change
  portlab run notification-cost --clients 5000 --quiet
  portlab run wake-up --keep        # inspect with: ip netns exec portlab-<run>-router-ra nft list ruleset`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(io, args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("clients") {
				if clients < 1 {
					return WithCode(ExitInvalid, fmt.Errorf("--clients %d: give a positive number of clients", clients))
				}
				if err := harness.Rescale(s, clients); err != nil {
					return WithCode(ExitInvalid, err)
				}
			}
			switch logFormat {
			case "text", "json":
			default:
				return WithCode(ExitInvalid, fmt.Errorf("--log-format %q: want text or json", logFormat))
			}
			// Not root: re-run inside portlab's own user namespace.
			reexeced, code, err := netsim.ReexecRootless(cmd.Context())
			switch {
			case errors.Is(err, netsim.ErrNoUserNS):
				return WithCode(ExitIncapable, fmt.Errorf("%w: %v; run as root or enable user namespaces (portlab doctor)", ErrIncapable, err))
			case err != nil:
				return WithCode(ExitIncapable, err)
			case reexeced:
				if code == 0 {
					return nil
				}
				return &ExitError{Code: code, Quiet: true}
			}
			if keep && netsim.Rootless() {
				return WithCode(ExitInvalid, errors.New("--keep needs root: pinning namespaces mounts in the host's mount namespace"))
			}
			if out == "" {
				out = harness.DefaultOutDir(s, time.Now())
			}
			mode := harness.ConsoleAuto
			switch {
			case logFormat == "json":
				mode = harness.ConsoleJSON
			case quiet:
				mode = harness.ConsoleQuiet
			}
			isTTY := false
			if f, ok := io.err.(*os.File); ok {
				isTTY = term.IsTerminal(int(f.Fd()))
			}
			con := harness.NewConsole(io.err, mode, isTTY)

			// Two-stage Ctrl-C: the first stops the load and keeps the results, the second
			// leaves at once (the kernel removes the anonymous namespaces with us).
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				n := 0
				for range sigs {
					n++
					if n == 1 {
						cancel()
						continue
					}
					fmt.Fprintln(io.err, "portlab: second interrupt: exiting now")
					os.Exit(ExitInterrupted)
				}
			}()

			res, runErr := harness.Run(ctx, s, harness.Options{
				Keep: keep, CaptureDir: capture, Console: con, Tool: "portlab " + Version,
			})
			if res == nil {
				if errors.Is(runErr, context.Canceled) {
					return WithCode(ExitInterrupted, errors.New("interrupted before the load started"))
				}
				return WithCode(ExitRunFailed, runErr)
			}
			_, werr := reports.Write(out, res, reports.ExtraFiles(res))
			con.Write(consoleSummary(res, out))
			if werr != nil {
				return WithCode(ExitRunFailed, fmt.Errorf("writing results: %w", werr))
			}
			switch res.Status {
			case reports.StatusPassed:
				return nil
			case reports.StatusFailed:
				return &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("%d of %d gates failed", len(res.Failed()), len(res.Gates)), Quiet: true}
			case reports.StatusInterrupted:
				return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted"), Quiet: true}
			default:
				return WithCode(ExitRunFailed, runErr)
			}
		},
	}
	f := c.Flags()
	f.StringVarP(&out, "out", "o", "", "results directory (default ./portlab-results/<scenario>-<timestamp>)")
	f.IntVar(&clients, "clients", 0, "total simulated clients, spread over the groups in proportion (default: as the scenario says)")
	f.BoolVar(&keep, "keep", false, "pin the namespaces under /run/netns for inspection (remove with portlab clean)")
	f.StringVar(&capture, "capture", "", "write one pcapng file per link into this directory")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress, only warnings and the verdict")
	f.StringVar(&logFormat, "log-format", "text", "progress as text or json (JSON lines, for CI)")
	return c
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
