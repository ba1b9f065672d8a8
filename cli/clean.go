package cli

import (
	"fmt"
	"strings"

	"github.com/portlab/portlab/netsim"
	"github.com/spf13/cobra"
)

func newCleanCmd(io streams) *cobra.Command {
	var run string
	var dryRun, force bool
	c := &cobra.Command{
		Use:   "clean",
		Short: "Remove network namespaces pinned by `portlab run --keep`",
		Long: `clean removes the namespaces portlab pinned under /run/netns (names starting with
portlab-), and only those. A namespace disappears, with its links and nftables table,
once no process runs inside it any more. Runs without --keep leave nothing to clean:
their namespaces vanish with the run, even when it is killed.

A run still in use is left alone: one whose portlab run is still going, or with any
process inside one of its namespaces (a shell from ip netns exec). clean says which
processes; --force removes its pins anyway. Asking for such a run by --run without
--force exits 2.`,
		Example: `  portlab clean                 # every pinned portlab namespace no process uses
  portlab clean --run 3f2a9c1e  # one run's
  portlab clean --dry-run       # list them only
  portlab clean --force         # in use or not`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if run != "" && strings.Trim(run, "0123456789abcdef") != "" {
				return WithCode(ExitInvalid, fmt.Errorf("--run %q: a run ID is hexadecimal, as `ip netns list` shows it in portlab-<run>-<node>", run))
			}
			if dryRun {
				paths, err := netsim.Pinned()
				if err != nil {
					return err
				}
				for _, p := range paths {
					fmt.Fprintln(io.out, p)
				}
				return nil
			}
			rep, err := netsim.CleanRuns(run, force)
			for _, p := range rep.Removed {
				fmt.Fprintf(io.out, "removed %s\n", p)
			}
			for _, l := range rep.Skipped {
				fmt.Fprintf(io.err, "portlab: %s: its %d namespace(s) left pinned (--force removes them)\n", l, len(l.Pins))
			}
			if err != nil {
				return WithCode(ExitRunFailed, err)
			}
			if run != "" && len(rep.Skipped) > 0 {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("run %s is still in use", run), Quiet: true}
			}
			if len(rep.Removed) == 0 && len(rep.Skipped) == 0 {
				fmt.Fprintln(io.err, "nothing to clean")
			}
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "only this run ID's namespaces")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list pinned namespaces, remove nothing")
	c.Flags().BoolVar(&force, "force", false, "remove the pins of runs still in use too")
	return c
}
