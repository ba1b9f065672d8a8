package cli

import (
	"log/slog"

	"github.com/portlab/portlab/agent/site"
	"github.com/spf13/cobra"
)

func newAgentSiteCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:     "site",
		Short:   "Internal: the site server (sends wake-up packets), driven by portlab run over stdin",
		Example: "  (started by portlab run inside the site server's namespace)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(io.err, nil))
			return site.RunAgent(cmd.Context(), io.in, io.out, log)
		},
	}
}
