// Package cli holds portlab's cobra commands. Commands are thin: each RunE parses flags
// and calls into a package (scenarios, netsim, harness, reports). main is one call to Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/portlab/portlab/cli.Version=...".
var Version = "dev"

// streams are where a command reads and writes; tests replace them.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// stopSignals end a command the way Ctrl-C does: SIGTERM (a service manager, CI
// cancelling a job) and SIGHUP (the terminal or SSH session went away) too, so a run
// they end still writes its results, marked interrupted.
func stopSignals() []os.Signal { return []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} }

// Main runs the CLI with the process's arguments and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	return Run(ctx, os.Args[1:], streams{os.Stdin, os.Stdout, os.Stderr})
}

// Run executes one command line and returns the exit code.
func Run(ctx context.Context, args []string, io streams) int {
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitPassed
	}
	// cobra reports unknown commands and missing required flags as plain errors.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "required flag") {
		err = WithCode(ExitInvalid, err)
	}
	var ee *ExitError
	if !(errors.As(err, &ee) && ee.Quiet) {
		// Errors quote arguments and file contents: nothing in them reaches the
		// terminal as a control sequence.
		fmt.Fprintln(io.err, "portlab:", terminalSafe(err.Error()))
	}
	return codeFor(err)
}

func newRootCmd(io streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "portlab",
		Short: "Rehearse ConfigMgr client communication port changes in a namespace-isolated lab",
		Long: `portlab builds fake management points, routers and firewalls in Linux network
namespaces on this host, replays a port-change scenario with thousands of simulated
ConfigMgr clients, and reports which clients stay managed, how long fallback takes,
what the firewall drops, and what each transport costs the management point.

Exit codes: 0 passed, 1 a gate failed, 2 invalid input, 3 this machine cannot run it,
4 interrupted, 5 the run itself failed.`,
		Example: `  portlab list                      # the built-in scenarios
  portlab validate my-change.yaml   # check a scenario, every error with file:line:col
  portlab init my-change -o my-change.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.in)
	root.SetOut(io.out)
	root.SetErr(io.err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return WithCode(ExitInvalid, fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath()))
	})
	root.AddCommand(
		newValidateCmd(io),
		newListCmd(io),
		newShowCmd(io),
		newInitCmd(io),
		newSchemaCmd(io),
		newVersionCmd(io),
		newAgentCmd(io),
		newWakeCmd(io),
		newMPCmd(io),
		newSiteCmd(io),
		newDoctorCmd(io),
		newCleanCmd(io),
		newReportCmd(io),
		newCompareCmd(io),
		newRunCmd(io),
		newK8sCmd(io),
		newImportCmd(io),
		newPredictCmd(io),
		newSweepCmd(io),
		newMergeCmd(io),
		// more commands: one line each, above this comment
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes cobra's argument-count errors exit 2 like every other usage error.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath()))
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}
