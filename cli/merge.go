package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/portlab/portlab/harness"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
)

// maxMergeInputs bounds how many result files one merge reads (plan.MaxShards).
const maxMergeInputs = 1000

func newMergeCmd(io streams) *cobra.Command {
	var out string
	var quiet bool
	c := &cobra.Command{
		Use:   "merge RESULT.json|DIR... --out DIR",
		Short: "Merge the results of a sharded run (portlab run --shard I/N) into one and judge its gates",
		Long: `merge reads the result of every shard of one sharded run and writes the result of the
whole site to --out, as a run writes its own: result.json (last, so a directory with
it is complete), summary.md, junit.xml, report.html, latency.hlog and the .hgrm files,
each written atomically. portlab report and portlab compare read it like any result.

Each argument is a result.json, a results directory holding one, or a directory whose
subdirectories hold the shards' results (such as /results with shard-0 ... shard-N-1;
the --out directory is skipped).

The merge is lossless: histograms are merged from their HdrHistogram data and every
percentile is read from the merged histograms (never averaged); request, load, firewall
and per-second counts are summed, the series aligned on second 0, the common start;
each group, MP cost and fleet process is kept as its shard measured it. The scenario's
gates, which the shards left pending, are judged on the merged result.

Refused (exit 2, naming the files): a file that is not a shard's result or is corrupt,
results of different scenarios (the scenario digest differs: another file, version or
--clients), a shard given twice, a shard missing.

Exit 0 when every gate passed, 1 when a gate failed, 4 or 5 when a shard was
interrupted or failed (the merged result is written all the same, marked so).`,
		Example: `  portlab merge results/shard-0 results/shard-1 results/shard-2 --out results/merged
  portlab merge results --out results/merged          # every results/*/result.json but merged/
  portlab report results/merged/result.json --format html -o report.html
  portlab compare baseline/result.json results/merged/result.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return WithCode(ExitInvalid, errors.New("--out DIR: where to write the merged result"))
			}
			return mergeResults(io, args, out, quiet)
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "directory for the merged result (created; portlab's files of an earlier run there are replaced)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the verdict line and where the results are")
	return c
}

// mergeResults is `portlab merge`.
func mergeResults(io streams, args []string, out string, quiet bool) error {
	files, err := mergeInputs(args, out)
	if err != nil {
		return WithCode(ExitInvalid, err)
	}
	var in []reports.MergeInput
	for _, f := range files {
		r, err := reports.Read(f)
		if err != nil {
			if !strings.Contains(err.Error(), f) {
				err = fmt.Errorf("%s: %w", f, err)
			}
			return WithCode(ExitInvalid, fmt.Errorf("read shard result %w", err))
		}
		in = append(in, reports.MergeInput{Name: f, Result: r})
	}
	res, err := reports.Merge(in)
	if err != nil {
		if errors.Is(err, reports.ErrMerge) || errors.Is(err, reports.ErrCorrupt) {
			return WithCode(ExitInvalid, err)
		}
		return WithCode(ExitRunFailed, err)
	}
	res.Tool = "portlab " + Version
	res.RunID = netsim.NewRunID()
	if err := harness.JudgeMerged(res); err != nil {
		return WithCode(ExitInvalid, fmt.Errorf("judge the gates of the merged result: %w", err))
	}
	if err := reports.PrepareDir(out); err != nil {
		return WithCode(ExitInvalid, fmt.Errorf("--out: %w", err))
	}
	if _, err := reports.Write(out, res, reports.ExtraFiles(res)); err != nil {
		return WithCode(ExitRunFailed, fmt.Errorf("writing the merged result: %w", err))
	}
	if quiet {
		fmt.Fprintf(errorsOK{io.err}, "%s: %s (merged %d shards)\nresults: %s\n", res.ScenarioName, res.Status, res.Shard.Count, terminalSafe(out))
	} else {
		fmt.Fprint(errorsOK{io.err}, terminalSafe(consoleSummary(res, out)))
	}
	switch res.Status {
	case reports.StatusPassed:
		return nil
	case reports.StatusFailed:
		return &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("%w: %d of %d gates failed", ErrGateFailed, len(res.Failed()), len(res.Gates)), Quiet: true}
	case reports.StatusInterrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("a shard was interrupted"), Quiet: true}
	default:
		return &ExitError{Code: ExitRunFailed, Err: errors.New("a shard's run failed"), Quiet: true}
	}
}

// mergeInputs resolves the arguments to result files: a file as given, a directory's
// result.json, or else every result.json one level below the directory (but in out).
func mergeInputs(args []string, out string) ([]string, error) {
	outSt, _ := os.Stat(out)
	isOut := func(dir string) bool {
		st, err := os.Stat(dir)
		return err == nil && outSt != nil && os.SameFile(st, outSt)
	}
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, unwrapPathErr(err, a))
		}
		if !st.IsDir() {
			if isOut(filepath.Dir(a)) {
				return nil, fmt.Errorf("%s is in the --out directory %s: the merge would replace it", a, out)
			}
			files = append(files, a)
			continue
		}
		if isOut(a) {
			return nil, fmt.Errorf("%s is the --out directory: the merge would replace its result.json", a)
		}
		own := filepath.Join(a, "result.json")
		if _, err := os.Stat(own); err == nil {
			files = append(files, own)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, unwrapPathErr(err, a))
		}
		var found []string
		for _, e := range ents {
			sub := filepath.Join(a, e.Name())
			if !e.IsDir() || isOut(sub) {
				continue
			}
			if _, err := os.Stat(filepath.Join(sub, "result.json")); err == nil {
				found = append(found, filepath.Join(sub, "result.json"))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no result.json in it or in its subdirectories", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	if len(files) > maxMergeInputs {
		return nil, fmt.Errorf("%d result files: at most %d", len(files), maxMergeInputs)
	}
	return files, nil
}

// unwrapPathErr drops what an *fs.PathError repeats when the message names the file.
func unwrapPathErr(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return pe.Err
	}
	return err
}
