package cli

import "github.com/spf13/cobra"

// newAgentCmd is the hidden parent of the agent modes: the same binary re-executed inside
// a network namespace by the orchestrator, speaking agent on stdin/stdout.
func newAgentCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:    "agent",
		Short:  "Internal: run as an agent inside a namespace (started by portlab run)",
		Hidden: true,
	}
	c.AddCommand(
		newAgentMPCmd(io),
		newAgentFleetCmd(io),
		newAgentSiteCmd(io),
	// agent modes: one line each, above this comment
	)
	return c
}
