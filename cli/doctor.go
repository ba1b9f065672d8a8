package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/spf13/cobra"
)

func newDoctorCmd(io streams) *cobra.Command {
	var scenario string
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run portlab, and say how to fix what is missing",
		Long: `doctor checks what portlab needs from this machine: root (or unprivileged user
namespaces, for a rootless run), network namespaces, veth, bridge, nftables, AF_PACKET
and the open-file limit (whose soft value it raises to the hard one). Each check is
probed in a throwaway namespace; the host's network is not touched.

With --scenario it also checks that scenario's needs (descriptors for its clients) and
builds its network once and tears it down. Exit 3 when something a run needs fails.`,
		Example: `  portlab doctor
  portlab doctor --scenario port-change
  portlab doctor --scenario my-change.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Not root: run the checks where a run would go, in portlab's user namespace.
			reexeced, code, err := netsim.ReexecRootless(cmd.Context())
			switch {
			case errors.Is(err, netsim.ErrNoUserNS):
				// Carry on here: the privilege check explains it.
			case err != nil:
				return err
			case reexeced && code == 0:
				return nil
			case reexeced:
				return &ExitError{Code: code, Quiet: true}
			}
			var checks []netsim.Check
			if scenario != "" {
				s, err := loadScenario(io, scenario)
				if err != nil {
					return err
				}
				p, err := plan.Lower(s)
				if err != nil {
					return WithCode(ExitInvalid, err)
				}
				// A fleet holds one socket per client at most, plus its own working set.
				largest := 0
				for _, f := range p.Fleets {
					largest = max(largest, f.Clients)
				}
				checks = netsim.DoctorSpec(cmd.Context(), s.Name, p.Net, uint64(largest)+1024)
			} else {
				checks = netsim.Doctor(cmd.Context())
			}
			tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			for _, ch := range checks {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Status, ch.Name, ch.Detail)
				if ch.Hint != "" {
					fmt.Fprintf(tw, "\t\tfix: %s\n", ch.Hint)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if netsim.Failed(checks) {
				what := "this machine"
				if scenario != "" {
					what = scenario
				}
				return WithCode(ExitIncapable, fmt.Errorf("%w: %s cannot run here (see the failed checks)", ErrIncapable, what))
			}
			return nil
		},
	}
	c.Flags().StringVar(&scenario, "scenario", "", "also check this scenario (file or built-in name)")
	return c
}
