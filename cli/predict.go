package cli

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/predict"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/cobra"
)

func newPredictCmd(io streams) *cobra.Command {
	var sets []string
	var clients int
	var format string
	var verbose bool
	c := &cobra.Command{
		Use:   "predict SCENARIO",
		Short: "Predict from the scenario alone which groups end managed or unmanaged, and why",
		Long: `predict works out, without building a network, how each client group of a scenario
should end a run: managed, unmanaged, asleep, split (known parts of the group end
differently, with the counts) or uncertain (the scenario alone does not settle it: a
group that ends close to unmanaged_after failed cycles, or depends on which MP its
clients pick at random). Each prediction names the rule that decided it:

  installed-port   the port the clients have installed (CCMHTTPPORT/CCMHTTPSPORT, or what
                   a reconfiguration gave them) against the ports the site serves after
                   each change
  alternate        the site's alternate port, if the clients know it (knows_alternate)
  firewall-path    the first matching rule of each router firewall on the path between
                   the group's segment and its MP (drop: a connect timeout; reject: at once)
  mp-listens       an MP listens only on the site's current ports (a TLS client on an
                   HTTP port fails its handshake; an HTTP client on an HTTPS port gets 400)
  mp-running       a stopped MP refuses everything
  mp-errors        an MP's error_rate fails cycles without a fallback
  mp-choice        unpinned clients pick an MP at random: uncertain if the MPs differ
  wake-firewall    firewalls on the path from the site server judge wake-up packets
  wake-delivery    broadcast needs directed_broadcast on the last router, unicast its
                   static neighbour entries (a sleeping host answers no ARP)
  time-to-unmanaged, time-to-managed   whether the run lasts long enough after the last
                   change (policy interval ±20%, the ramp, connect timeouts)

The notification channel each group keeps (TCP to the notification port, else long
polling) and whether pushes reach it are predicted too. portlab run puts the same
prediction beside the measurement in every report and flags disagreements.

Exit 0 with the prediction; 2 for an invalid scenario or flag.`,
		Example: `  portlab predict blocked-443
  portlab predict blocked-443 --set 'network.routers[edge].firewall.rules[internet-rest].port=1-442'
  portlab predict my-change.yaml -v          # what a cycle does after every change
  portlab predict port-change --format json`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "table", "md", "json":
			default:
				return WithCode(ExitInvalid, fmt.Errorf("--format %q: want table, md or json", format))
			}
			ovs, err := parseSets(io, sets)
			if err != nil {
				return err
			}
			s, err := loadScenarioWith(io, args[0], ovs)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("clients") {
				if err := rescale(s, clients); err != nil {
					return WithCode(ExitInvalid, err)
				}
			}
			p, err := plan.Lower(s)
			if err != nil {
				return WithCode(ExitInvalid, err)
			}
			pr := predict.Predict(p)
			switch format {
			case "json":
				b, err := json.MarshalIndent(struct {
					Scenario  string                    `json:"scenario"`
					Duration  float64                   `json:"duration_s"`
					Overrides []string                  `json:"overrides,omitempty"`
					Groups    []reports.GroupPrediction `json:"groups"`
				}{pr.Scenario, pr.Duration.Seconds(), scenarios.OverrideStrings(ovs), pr.Results()}, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(io.out, "%s\n", b)
				return err
			case "md":
				_, err := io.out.Write([]byte(terminalSafe(string(pr.Markdown()))))
				return err
			}
			var b bytes.Buffer
			if err := pr.Table(&b, verbose); err != nil {
				return err
			}
			_, err = io.out.Write([]byte(terminalSafe(b.String())))
			return err
		},
	}
	setFlag(c, &sets)
	c.Flags().IntVar(&clients, "clients", 0, "predict for this many clients in all, spread over the groups as run --clients does")
	c.Flags().StringVar(&format, "format", "table", "table, md (Markdown) or json")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "also show, per group, what a cycle does after every change")
	return c
}
