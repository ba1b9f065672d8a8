package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/agent/site"
	"github.com/spf13/cobra"
)

// newAgentCmd is the hidden parent of the agent modes: the same binary re-executed inside
// a network namespace by the orchestrator, speaking the agent protocol on stdin/stdout.
// Every mode runs agent.Serve; an invalid configuration exits 2, anything else 5.
func newAgentCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:    "agent",
		Short:  "Internal: run as an agent inside a namespace (started by portlab run)",
		Hidden: true,
	}
	mode := func(use, short string, make func() agent.Agent) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				log := slog.New(slog.NewTextHandler(io.err, nil)).With("agent", use)
				if path := os.Getenv(agent.ProfileEnv); path != "" {
					stop, err := startProfile(path)
					if err != nil {
						log.Warn("cpu profile", "err", err)
					} else {
						defer stop()
					}
				}
				// A terminal's Ctrl-C or hang-up reaches the whole process group, agents
				// included; the orchestrator alone decides when its agents stop (it closes
				// their stdin and collects their last figures), so an agent that dies of
				// the same SIGINT would be counted as a death and lose them.
				// SIGTERM, sent to this process alone, still stops it.
				signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
				ctx, stop := signal.NotifyContext(context.WithoutCancel(cmd.Context()), syscall.SIGTERM)
				defer stop()
				err := agent.Serve(ctx, io.in, io.out, log, make())
				if errors.Is(err, agent.ErrConfig) {
					return WithCode(ExitInvalid, err)
				}
				return err
			},
		}
	}
	c.AddCommand(
		mode("mp", "Internal: one fake management point, commanded on stdin (JSON lines)", func() agent.Agent { return &mp.Agent{} }),
		mode("fleet", "Internal: a fleet of simulated ConfigMgr clients (started by portlab run)", func() agent.Agent { return &fleet.Agent{} }),
		mode("site", "Internal: the site server (sends wake-up packets), driven by portlab run over stdin", func() agent.Agent { return &site.Agent{} }),
	// agent modes: one line each, above this comment
	)
	return c
}

// startProfile starts a CPU profile into path; stop ends and writes it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
