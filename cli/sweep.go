package cli

import (
	"context"
	"errors"
	"fmt"
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

// MaxSweepCandidates bounds a sweep: each candidate is a whole run, one after the other.
const MaxSweepCandidates = 32

type sweepFlags struct {
	runFlags
	varies []string
	dryRun bool
}

func newSweepCmd(io streams) *cobra.Command {
	var fl sweepFlags
	c := &cobra.Command{
		Use:   "sweep SCENARIO --vary PATH=V1,V2,...",
		Short: "Run a scenario once per candidate value and compare: which one breaks the fewest clients",
		Long: `sweep runs SCENARIO once per value of --vary (one after the other, each with its own
results directory under the sweep's), then writes a comparison: sweep.md, sweep.html and
sweep.json in the sweep's directory. Per candidate: managed and unmanaged clients per
group, fallback delay, MP cost, gate verdicts, the prediction beside the measurement,
and which candidate breaks the fewest clients (ties go to fewer failed gates, then the
shorter fallback delay, then less MP CPU, then the first listed; the comparison says
which decided).

--vary PATH=V1,V2,... takes the path syntax of --set; values are split at commas
outside brackets, braces and quotes. Two --vary flags run the cross product (at most
` + fmt.Sprint(MaxSweepCandidates) + ` candidates). --set applies to every candidate, before the --vary values.
Every candidate is checked before the first run starts: an invalid one exits 2 naming
its --vary value.

Without --out the sweep's directory is portlab-results/<scenario>-sweep-<UTC time>-<ID>;
each candidate's results go to <N>-<values>/ inside it (result.json, report.html...).

Exit 0 when at least one candidate passed its gates, 1 when every candidate that ran
failed a gate, 2 for invalid input, 3 when this machine cannot run it, 4 when
interrupted, 5 when no candidate's run could be carried out. Ctrl-C stops the current
run cleanly (its results are kept, marked interrupted), runs no more candidates and
writes the comparison of what finished; a second Ctrl-C exits at once.

--dry-run checks every candidate and prints each one's prediction (portlab predict),
without running anything or needing privileges.`,
		Example: `  portlab sweep examples/https-move/my-change.yaml --vary 'timeline[0].site_ports.https.default=443,8443,10443'
  portlab sweep my-change.yaml --vary site.ports.https.default=443,8443,10443 --clients 300
  portlab sweep port-change --vary 'clients[stale].knows_alternate=true,false' \
      --vary 'site.ports.http.alternate=8081,8082' --out results/sweep
  portlab sweep blocked-443 --vary 'timeline[1].reconfigure.https_port=443,8443' --dry-run`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fl.clientsSet = cmd.Flags().Changed("clients")
			return runSweep(cmd.Context(), io, args[0], fl)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&fl.varies, "vary", nil, "PATH=V1,V2,...: the values to try at PATH (once or twice; twice: every pair)")
	setFlag(c, &fl.sets)
	f.StringVarP(&fl.out, "out", "o", "", "the sweep's directory (default ./portlab-results/<scenario>-sweep-<UTC time>-<ID>)")
	f.IntVar(&fl.clients, "clients", 0, fmt.Sprintf("total simulated clients of each candidate, spread over the groups in proportion, at most %d", plan.MaxClients))
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "no progress, only warnings, one line per candidate and the verdict")
	f.StringVar(&fl.logFormat, "log-format", "text", "progress as text or json (JSON lines, for CI)")
	f.BoolVar(&fl.debug, "debug", false, "write debug.log into each candidate's results directory")
	f.BoolVar(&fl.dryRun, "dry-run", false, "check every candidate and print its prediction; run nothing")
	return c
}

// candidate is one run of a sweep, checked and lowered.
type candidate struct {
	n         int
	values    []string
	overrides []scenarios.Override
	plan      *plan.Plan
	dir       string
}

func runSweep(ctx context.Context, io streams, ref string, fl sweepFlags) error {
	if len(fl.varies) == 0 || len(fl.varies) > 2 {
		return WithCode(ExitInvalid, fmt.Errorf("give one or two --vary PATH=V1,V2,... (got %d)", len(fl.varies)))
	}
	switch fl.logFormat {
	case "text", "json":
	default:
		return WithCode(ExitInvalid, fmt.Errorf("--log-format %q: want text or json", fl.logFormat))
	}
	if fl.clientsSet && (fl.clients < 1 || fl.clients > plan.MaxClients) {
		return WithCode(ExitInvalid, fmt.Errorf("--clients %d out of range 1 to %d (every client needs an address of 198.18.0.0/15)", fl.clients, plan.MaxClients))
	}
	var varies []scenarios.Vary
	for i, a := range fl.varies {
		v, err := scenarios.ParseVary(fmt.Sprintf("--vary #%d", i+1), a)
		if err != nil {
			printScenarioError(io, err)
			return &ExitError{Code: ExitInvalid, Err: errors.New("invalid --vary flag")}
		}
		if i == 1 && v.Path == varies[0].Path {
			return WithCode(ExitInvalid, fmt.Errorf("--vary #2 varies %s again; give its values to --vary #1", v.Path))
		}
		varies = append(varies, v)
	}
	sets, err := parseSets(io, fl.sets)
	if err != nil {
		return err
	}
	// The candidates: the cross product, the first --vary outermost.
	combos := [][]int{{}}
	for _, v := range varies {
		var next [][]int
		for _, c := range combos {
			for i := range v.Values {
				next = append(next, append(append([]int(nil), c...), i))
			}
		}
		combos = next
	}
	if len(combos) > MaxSweepCandidates {
		return WithCode(ExitInvalid, fmt.Errorf("%d candidates; a sweep runs at most %d (each is a whole run)", len(combos), MaxSweepCandidates))
	}
	// Check every candidate before running any: a typo in the last value must not
	// cost the runs before it.
	var cands []candidate
	bad := 0
	for n, combo := range combos {
		c := candidate{n: n + 1, overrides: append([]scenarios.Override(nil), sets...)}
		for vi, i := range combo {
			c.values = append(c.values, varies[vi].Values[i])
			c.overrides = append(c.overrides, varies[vi].Override(i))
		}
		s, err := scenarios.ResolveWith(ref, c.overrides)
		if err != nil {
			if !errors.Is(err, scenarios.ErrInvalid) {
				return WithCode(ExitInvalid, err)
			}
			fmt.Fprintf(io.err, "candidate %d (%s):\n", c.n, terminalSafe(strings.Join(c.values, ", ")))
			printScenarioError(io, err)
			bad++
			continue
		}
		if fl.clientsSet {
			if err := plan.Rescale(s, fl.clients); err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("candidate %d: %w", c.n, err))
			}
		}
		if c.plan, err = plan.Lower(s); err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("candidate %d: %w", c.n, err))
		}
		c.dir = candidateDir(c.n, c.values)
		cands = append(cands, c)
	}
	if bad > 0 {
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%d of %d candidates are not valid scenarios; nothing was run", bad, len(combos))}
	}
	if fl.dryRun {
		return sweepDryRun(io, cands)
	}
	// Not root: re-run inside portlab's own user namespace, as run does.
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
	name := cands[0].plan.Scenario.Name
	out := fl.out
	if out == "" {
		out, _, err = reports.NewRunDir(reports.DefaultDir, name+"-sweep", time.Now(), netsim.NewRunID)
		if err != nil {
			return WithCode(ExitInvalid, err)
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return WithCode(ExitInvalid, fmt.Errorf("--out: %w", err))
	}
	if err := reports.CheckDir(out); err != nil {
		return WithCode(ExitInvalid, fmt.Errorf("--out: %w", err))
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
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) // as run: a closed stderr ends nothing
	con := harness.NewConsole(errorsOK{io.err}, mode, isTTY)
	// The sweep's own lines, even with --quiet: one per candidate, and the verdict.
	say := harness.NewConsole(errorsOK{io.err}, harness.ConsolePlain, false)
	if mode == harness.ConsoleJSON {
		say = con
	}

	// Two-stage Ctrl-C: the first stops the current run (its results are kept) and the
	// sweep; the second leaves at once.
	ctx, stop := twoStageInterrupt(ctx, io, con, "stopping the current run and the sweep; the comparison of what finished is written (again to exit at once)")
	defer stop()

	sw := &reports.Sweep{SchemaVersion: reports.SweepSchemaVersion, Tool: "portlab " + Version, Scenario: name,
		Started: time.Now(), Overrides: scenarios.OverrideStrings(sets)}
	for _, v := range varies {
		sw.Varied = append(sw.Varied, v.Path)
	}
	incapable := error(nil)
	for i, c := range cands {
		label := terminalSafe(strings.Join(c.values, ", "))
		if ctx.Err() != nil || incapable != nil {
			sw.Candidates = append(sw.Candidates, reports.NewSweepCandidate(c.n, c.values, c.dir, nil, "not run", ""))
			continue
		}
		say.Step(fmt.Sprintf("sweep candidate %d/%d: %s", i+1, len(cands), label), "results", filepath.Join(out, c.dir))
		dir := filepath.Join(out, c.dir)
		if err := reports.PrepareDir(dir); err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("candidate %d: %w", c.n, err))
		}
		job := runJob{ref: ref, plan: c.plan, out: dir, runID: netsim.NewRunID(), overrides: scenarios.OverrideStrings(c.overrides),
			prediction: predict.Predict(c.plan), noSummary: true}
		res, err := execute(ctx, io, job, fl.runFlags, con)
		status, errText := "", ""
		if res == nil {
			status, errText = reports.StatusError, errorText(err)
			if ctx.Err() != nil {
				status = reports.StatusInterrupted
			}
			var ee *ExitError
			if errors.As(err, &ee) && ee.Code == ExitIncapable {
				incapable = err
			}
		}
		sc := reports.NewSweepCandidate(c.n, c.values, c.dir, res, status, errText)
		sw.Candidates = append(sw.Candidates, sc)
		say.Step(fmt.Sprintf("sweep candidate %d/%d: %s", i+1, len(cands), candidateLine(sc)))
	}
	sw.Ended = time.Now()
	sw.Interrupted = ctx.Err() != nil
	if incapable != nil {
		return incapable
	}
	sw.Decide()
	if err := writeSweep(out, sw); err != nil {
		return WithCode(ExitRunFailed, fmt.Errorf("writing the comparison: %w", err))
	}
	say.Write(terminalSafe(fmt.Sprintf("\n%s: %s.\ncomparison: %s\n", name, sw.BestWhy, filepath.Join(out, "sweep.html"))))
	return sweepExit(sw)
}

// sweepExit maps the candidates' outcomes to the exit code.
func sweepExit(sw *reports.Sweep) error {
	passed, failed := 0, 0
	for _, c := range sw.Candidates {
		switch c.Status {
		case reports.StatusPassed:
			passed++
		case reports.StatusFailed:
			failed++
		}
	}
	switch {
	case sw.Interrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted"), Quiet: true}
	case passed > 0:
		return nil
	case failed > 0:
		return &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("%w: every candidate that ran failed a gate", ErrGateFailed), Quiet: true}
	}
	return WithCode(ExitRunFailed, errors.New("no candidate's run could be carried out"))
}

// candidateLine is a candidate's outcome in one line.
func candidateLine(c reports.SweepCandidate) string {
	if len(c.Groups) == 0 {
		return fmt.Sprintf("%s: %s", strings.ToUpper(c.Status), c.Error)
	}
	var gs []string
	for _, g := range c.Groups {
		s := fmt.Sprintf("%s %d/%d managed", g.Group, g.Managed, g.Count)
		if g.Agrees != nil && !*g.Agrees {
			s += " (predicted " + g.Predicted + ")"
		}
		gs = append(gs, s)
	}
	line := fmt.Sprintf("%s: %d of %d clients broken; %s; gates failed %d of %d", strings.ToUpper(c.Status), c.Broken, c.Clients,
		strings.Join(gs, ", "), len(c.GatesFailed), c.Gates)
	if c.Disagreements > 0 {
		line += fmt.Sprintf("; %d group(s) disagree with the prediction", c.Disagreements)
	}
	return line
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// candidateDir names a candidate's results directory: its number and values, in
// characters every file system takes.
func candidateDir(n int, values []string) string {
	var b strings.Builder
	for _, r := range strings.Join(values, "_") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 48 {
			break
		}
	}
	return fmt.Sprintf("%d-%s", n, strings.Trim(b.String(), "_."))
}

// writeSweep writes sweep.json, sweep.md and sweep.html, each atomically; sweep.json
// last, so a directory with it is complete.
func writeSweep(dir string, sw *reports.Sweep) error {
	html, err := reports.SweepHTML(sw)
	if err != nil {
		return err
	}
	js, err := reports.SweepJSON(sw)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"sweep.md", reports.SweepMarkdown(sw)}, {"sweep.html", html}, {"sweep.json", js}} {
		if err := reports.WriteFileAtomic(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sweepDryRun prints each candidate's prediction: what the sweep would find, if the
// model holds.
func sweepDryRun(io streams, cands []candidate) error {
	for _, c := range cands {
		fmt.Fprintf(io.out, "candidate %d: %s -> %s\n", c.n, terminalSafe(strings.Join(c.values, ", ")), c.dir)
		broken := 0
		for _, g := range predict.Predict(c.plan).Groups {
			what := g.Predicted
			if what == reports.OutcomeSplit {
				what = fmt.Sprintf("split: %d managed, %d unmanaged", g.Managed, g.Unmanaged)
			}
			if what != reports.OutcomeManaged {
				broken++
			}
			fmt.Fprintf(io.out, "  %-14s %6d clients  predicted %s (%s)\n", g.Group, g.Count, what, g.Rule)
		}
		if broken == 0 {
			fmt.Fprintln(io.out, "  every group predicted managed")
		}
	}
	fmt.Fprintf(io.out, "%d candidate(s) valid; nothing run (--dry-run)\n", len(cands))
	return nil
}
