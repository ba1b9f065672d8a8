package cli

import (
	"errors"

	"github.com/portlab/portlab/agent/mp"
	"github.com/spf13/cobra"
)

// newAgentMPCmd is `portlab agent mp`: one fake management point speaking
// agent on stdin/stdout (the orchestrator starts it inside the MP's namespace).
func newAgentMPCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "mp",
		Short: "Internal: run one fake management point, commanded on stdin (JSON lines)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := mp.RunAgent(cmd.Context(), io.in, io.out, io.err)
			if errors.Is(err, mp.ErrConfig) {
				return WithCode(ExitInvalid, err)
			}
			return err
		},
	}
}
