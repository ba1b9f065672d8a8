package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
)

// reportFormats are the renderings `portlab report` can produce from a result.json.
func reportFormats() map[string]reports.Renderer {
	return map[string]reports.Renderer{
		"html":  reports.HTML,
		"md":    reports.Markdown,
		"junit": reports.JUnit,
		"json":  reports.JSON,
		"hlog":  reports.Hlog,
	}
}

func formatNames() string {
	var n []string
	for k := range reportFormats() {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, "|")
}

func newReportCmd(io streams) *cobra.Command {
	var format, out string
	c := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Re-render a run's result.json as HTML, Markdown, JUnit XML, JSON or an HdrHistogram log",
		Long: `report reads a result.json written by 'portlab run' (any run of this result schema
version) and renders it again: html is the self-contained report with charts (no network
needed to open it), md the summary for a pull request, junit one test case per gate,
json the result itself, hlog the HdrHistogram interval log of its histograms.
Output goes to stdout, or with -o to a file: a regular file is replaced atomically;
a device, FIFO or symbolic link (/dev/null, /dev/stdout) is written to, not replaced.
A result that cannot be read or whose histograms are corrupt is bad input (exit 2).`,
		Example: `  portlab report results/port-change/result.json --format html -o report.html
  portlab report result.json --format md >> "$GITHUB_STEP_SUMMARY"
  portlab report result.json --format junit -o junit.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			render, ok := reportFormats()[format]
			if !ok {
				return WithCode(ExitInvalid, fmt.Errorf("--format %q: want one of %s", format, formatNames()))
			}
			r, err := reports.Read(args[0])
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("read result: %w", err))
			}
			b, err := render(r)
			if errors.Is(err, reports.ErrCorrupt) {
				return WithCode(ExitInvalid, fmt.Errorf("render %s as %s: %w", args[0], format, err))
			}
			if err != nil {
				return fmt.Errorf("render %s as %s: %w", args[0], format, err)
			}
			if format == "md" {
				// Markdown is text for people: names from the file carry no control sequences.
				b = []byte(terminalSafe(string(b)))
			}
			if out == "" || out == "-" {
				_, err = io.out.Write(b)
				return err
			}
			if err := writeOutput(out, b); err != nil {
				return err
			}
			fmt.Fprintf(io.err, "wrote %s\n", terminalSafe(out))
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "md", "output format: "+formatNames())
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file (a regular one atomically) instead of stdout")
	return c
}
