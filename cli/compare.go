package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
)

func newCompareCmd(io streams) *cobra.Command {
	var limits []string
	var format, out string
	var force bool
	c := &cobra.Command{
		Use:   "compare BASE.json HEAD.json",
		Short: "Compare two results metric by metric; exit 1 when the head regressed",
		Long: `compare puts every metric two results share side by side (latency and service time
percentiles per request key, error rates, MP CPU per request and per client-minute, MP
peak RSS, managed fraction per group, push latency and delivery, fallback delay, time
to managed) and gives each a verdict: regressed, improved or same (within threshold).

Metric names are FAMILY{labels}, e.g.
  latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}
Families: latency_, service_time_, push_latency_, fallback_delay_, time_to_managed_
each with p50 p90 p99 p999 max; error_rate, managed_fraction, push_delivered_fraction,
mp_cpu_us_per_request, mp_cpu_us_per_client_minute, mp_rss.

--max-regression NAME=VALUE sets how much worse a metric may get. NAME is a whole
metric name, a family (latency_p99), a suffix (p99: every *_p99 family) or * (all).
VALUE is relative to the base (10%) or absolute in the metric's unit (0.01, 5ms, 8MiB).
Without one, durations and costs may get 10% worse, fractions 0.01 (one point); changes
under 100µs, 1µs of CPU or 1MiB of RSS are noise.

Several thresholds may share one --max-regression, separated by commas; a comma inside
a metric's braces belongs to its name:
  --max-regression 'latency_p99{operation=policy,transport=http}=5%,mp_rss=20%'

Results of different scenarios (another name, or the same name with another
definition) are refused with exit 2 unless --force. Exit 1 names each regressed metric,
and is also the verdict on a head that cannot pass: one whose run did not complete
(status error or interrupted), or one that has none of the base's metrics.`,
		Example: `  portlab compare baseline/result.json results/port-change/result.json
  portlab compare base.json head.json --max-regression latency_p99=15% --max-regression mp_rss=20%
  portlab compare base.json head.json --format md > comment.md   # for a pull request`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			th := reports.Thresholds{}
			for _, l := range limits {
				for _, one := range reports.SplitThresholds(l) {
					name, t, err := reports.ParseThreshold(one)
					if err != nil {
						return WithCode(ExitInvalid, fmt.Errorf("--max-regression: %w", err))
					}
					th[name] = t
				}
			}
			if format != "text" && format != "md" {
				return WithCode(ExitInvalid, fmt.Errorf("--format %q: want text or md", format))
			}
			base, err := reports.Read(args[0])
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("read base result: %w", err))
			}
			head, err := reports.Read(args[1])
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("read head result: %w", err))
			}
			base, head = reports.Finite(base), reports.Finite(head)
			cmp, err := reports.Compare(base, head, th, force)
			if errors.Is(err, reports.ErrDifferentScenarios) {
				return WithCode(ExitInvalid, fmt.Errorf("compare %s %s: %w", args[0], args[1], err))
			}
			if err != nil {
				return err
			}
			b := cmp.Text()
			if format == "md" {
				b = cmp.Markdown()
			}
			// Names and statuses come from the result files: no control sequences.
			b = []byte(terminalSafe(string(b)))
			if out == "" || out == "-" {
				if _, err := io.out.Write(b); err != nil {
					return err
				}
			} else if err := writeOutput(out, b); err != nil {
				return err
			}
			var why []string
			why = append(why, cmp.Failures...)
			if reg := cmp.Regressions(); len(reg) > 0 {
				var names []string
				for _, d := range reg {
					names = append(names, fmt.Sprintf("%s %s (max %s)", d.Name, strings.TrimSpace(fmt.Sprintf("%+.1f%%", d.Change)), d.Threshold))
				}
				why = append(why, fmt.Sprintf("regression in %d metric(s): %s", len(reg), strings.Join(names, "; ")))
			}
			if len(why) > 0 {
				return WithCode(ExitGateFailed, errors.New(strings.Join(why, "; ")))
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&limits, "max-regression", nil, "METRIC=VALUE: how much worse METRIC may get, e.g. latency_p99=10% or error_rate=0.01 (repeatable)")
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text or md (a pull-request comment)")
	c.Flags().StringVarP(&out, "output", "o", "", "write the comparison to this file instead of stdout")
	c.Flags().BoolVar(&force, "force", false, "compare results of different scenarios anyway")
	return c
}
