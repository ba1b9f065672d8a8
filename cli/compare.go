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

Results of different scenarios (another name, or the same name with another
definition) are refused with exit 2 unless --force. Exit 1 names each regressed metric.`,
		Example: `  portlab compare baseline/result.json results/port-change/result.json
  portlab compare base.json head.json --max-regression latency_p99=15% --max-regression mp_rss=20%
  portlab compare base.json head.json --format md > comment.md   # for a pull request`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			th := reports.Thresholds{}
			for _, l := range limits {
				for _, one := range strings.Split(l, ",") {
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
			if out == "" || out == "-" {
				if _, err := io.out.Write(b); err != nil {
					return err
				}
			} else if err := reports.WriteFileAtomic(out, b, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			if reg := cmp.Regressions(); len(reg) > 0 {
				var names []string
				for _, d := range reg {
					names = append(names, fmt.Sprintf("%s %s (max %s)", d.Name, strings.TrimSpace(fmt.Sprintf("%+.1f%%", d.Change)), d.Threshold))
				}
				return WithCode(ExitGateFailed, fmt.Errorf("regression in %d metric(s): %s", len(reg), strings.Join(names, "; ")))
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
