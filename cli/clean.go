package cli

import (
	"fmt"

	"github.com/portlab/portlab/netsim"
	"github.com/spf13/cobra"
)

func newCleanCmd(io streams) *cobra.Command {
	var run string
	var dryRun bool
	c := &cobra.Command{
		Use:   "clean",
		Short: "Remove network namespaces pinned by `portlab run --keep`",
		Long: `clean removes the namespaces portlab pinned under /run/netns (names starting with
portlab-), and only those. A namespace disappears, with its links and nftables table,
once no process runs inside it any more. Runs without --keep leave nothing to clean:
their namespaces vanish with the run, even when it is killed.`,
		Example: `  portlab clean                 # every pinned portlab namespace
  portlab clean --run 3f2a9c1e  # one run's
  portlab clean --dry-run       # list them only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
			removed, err := netsim.Clean(run)
			for _, p := range removed {
				fmt.Fprintf(io.out, "removed %s\n", p)
			}
			if err != nil {
				return WithCode(ExitRunFailed, err)
			}
			if len(removed) == 0 {
				fmt.Fprintln(io.err, "nothing to clean")
			}
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "only this run ID's namespaces")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list pinned namespaces, remove nothing")
	return c
}
