package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/portlab/portlab/agent/fleet"
)

// newAgentFleetCmd is `portlab agent fleet`: one client segment's simulated clients,
// driven over agent on stdin/stdout (see fleet.RunAgent).
func newAgentFleetCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "fleet",
		Short: "Internal: run a fleet of simulated ConfigMgr clients (started by portlab run)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(io.err, nil)).With("agent", "fleet")
			return fleet.RunAgent(c.Context(), io.in, io.out, log, fleet.Options{})
		},
	}
}
