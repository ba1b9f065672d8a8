package cli

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/cobra"
)

func newValidateCmd(io streams) *cobra.Command {
	var quiet bool
	var clients int
	var sets []string
	c := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files and print every error with file:line:column",
		Long: `validate reads each scenario strictly (unknown keys, wrong types and duplicate keys
are errors), applies defaults and checks the semantics (ports, address ranges, names,
references, timeline, gates). Every error names file:line:column and the YAML path,
quotes the line and adds a hint where one is obvious. Exit 2 when any file is invalid.

--set PATH=VALUE overrides the scenario before the check (each file gets every --set),
as run and show do; an error an override causes names its flag ("--set #2: ...")
instead of a line of the file. A built-in name may stand for a file.`,
		Example: `  portlab validate my-change.yaml
  portlab validate scenarios/*.yaml
  portlab show port-change > mine.yaml && portlab validate mine.yaml
  portlab validate --clients 25000 mine.yaml   # would it hold one MP's capacity?
  portlab validate blocked-443 --set site.ports.https.default=10443`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ovs, err := parseSets(io, sets)
			if err != nil {
				return err
			}
			bad := 0
			var firstErr error
			for _, f := range args {
				s, err := scenarios.ResolveWith(f, ovs)
				if err == nil && cmd.Flags().Changed("clients") {
					err = rescale(s, clients)
				}
				switch {
				case err == nil:
					if !quiet {
						fmt.Fprintf(io.out, "%s: ok\n", terminalSafe(f))
					}
				case errors.Is(err, scenarios.ErrInvalid):
					bad++
					printScenarioError(io, err)
				default:
					bad++
					fmt.Fprintf(io.err, "%s\n", terminalSafe(err.Error()))
					if firstErr == nil {
						firstErr = err
					}
				}
			}
			if bad > 0 {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%d of %d file(s) invalid", bad, len(args)), Quiet: false}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only errors")
	c.Flags().IntVar(&clients, "clients", 0, "check the scenario rescaled to this many clients, as run --clients would run it")
	setFlag(c, &sets)
	return c
}

// rescale is --clients for run, show and validate: the same bound and the same
// refusal (with the largest count that fits) everywhere.
func rescale(s *scenarios.Scenario, n int) error {
	if n < 1 || n > plan.MaxClients {
		return fmt.Errorf("--clients %d out of range 1 to %d (every client needs an address of 198.18.0.0/15)", n, plan.MaxClients)
	}
	return plan.Rescale(s, n)
}

// printScenarioError prints a scenario ErrorList verbosely, or any other error plainly.
func printScenarioError(io streams, err error) {
	var el scenarios.ErrorList
	var e *scenarios.Error
	switch {
	case errors.As(err, &el):
		fmt.Fprintln(io.err, el.Verbose())
		fmt.Fprintf(io.err, "%d error(s)\n", len(el))
	case errors.As(err, &e):
		fmt.Fprintln(io.err, e.Verbose())
	default:
		fmt.Fprintln(io.err, terminalSafe(err.Error()))
	}
}

// loadScenario resolves a file path or built-in name; invalid input exits 2.
func loadScenario(io streams, ref string) (*scenarios.Scenario, error) {
	return loadScenarioWith(io, ref, nil)
}

// loadScenarioWith is loadScenario with the --set overrides given (see setFlag).
func loadScenarioWith(io streams, ref string, ovs []scenarios.Override) (*scenarios.Scenario, error) {
	s, err := scenarios.ResolveWith(ref, ovs)
	if err == nil {
		return s, nil
	}
	if errors.Is(err, scenarios.ErrInvalid) {
		printScenarioError(io, err)
		what := "a valid scenario"
		if len(ovs) > 0 {
			what += " with these --set flags"
		}
		return nil, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%s is not %s", terminalSafe(ref), what)}
	}
	return nil, WithCode(ExitInvalid, err)
}

// setHelp is the --set flag's help, shared by every command that takes it.
const setHelp = "override PATH=VALUE of the scenario before it is checked (repeatable): site.ports.https.default=8443, clients[internet].count=500; list items by name or 0-based index"

// setFlag adds the repeatable --set flag to c.
func setFlag(c *cobra.Command, sets *[]string) {
	c.Flags().StringArrayVar(sets, "set", nil, setHelp)
}

// parseSets reads the --set flags; a malformed one exits 2, naming it.
func parseSets(io streams, sets []string) ([]scenarios.Override, error) {
	ovs, err := scenarios.ParseOverrides(sets)
	if err != nil {
		printScenarioError(io, err)
		return nil, &ExitError{Code: ExitInvalid, Err: errors.New("invalid --set flag")}
	}
	return ovs, nil
}

func newListCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the built-in scenarios",
		Example: "  portlab list\n  portlab show port-change",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := scenarios.Builtins()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			for _, b := range bs {
				fmt.Fprintf(tw, "%s\t%s\n", b.Name, b.Description)
			}
			return tw.Flush()
		},
	}
}

func newShowCmd(io streams) *cobra.Command {
	var raw bool
	var clients int
	var sets []string
	c := &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a scenario with every default applied",
		Long: `show prints a built-in scenario (or a file) as portlab will run it: every default
filled in, so nothing is hidden. With --raw it prints the built-in file as shipped,
comments included, as a starting point for your own.

--set PATH=VALUE (repeatable) overrides the scenario first: show then prints the merged
scenario, exactly what run would run with the same flags.`,
		Example: `  portlab show port-change
  portlab show --raw wake-up > my-wake-up.yaml
  portlab show --clients 25000 notification-cost   # the groups and client ranges at that scale
  portlab show blocked-443 --set site.ports.https.default=10443 --set 'clients[internet].count=50'`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if raw && (len(sets) > 0 || cmd.Flags().Changed("clients")) {
				return WithCode(ExitInvalid, errors.New("--raw prints the file as written; leave it out to see the scenario with --set or --clients applied"))
			}
			if raw {
				src, err := scenarios.BuiltinSource(args[0])
				if err != nil {
					// A file, read as the loader reads one: bounded, never hanging.
					src, ferr := scenarios.ReadFile(args[0], scenarios.MaxFileSize)
					if ferr == nil {
						_, err = io.out.Write(src)
						return err
					}
					if !errors.Is(ferr, os.ErrNotExist) {
						err = ferr
					}
					return WithCode(ExitInvalid, err)
				}
				_, err = io.out.Write(src)
				return err
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
			out, err := s.Marshal()
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "# %s with defaults applied\n", scenarios.Printable(args[0]))
			for _, o := range ovs {
				fmt.Fprintf(io.out, "# --set %s\n", scenarios.Printable(o.String()))
			}
			_, err = io.out.Write(out)
			return err
		},
	}
	c.Flags().BoolVar(&raw, "raw", false, "print the file as written, without defaults")
	c.Flags().IntVar(&clients, "clients", 0, "rescale to this many clients as run --clients does (groups keep their proportions; client ranges grow)")
	setFlag(c, &sets)
	return c
}

func builtinNames() []string {
	bs, _ := scenarios.Builtins()
	var n []string
	for _, b := range bs {
		n = append(n, b.Name)
	}
	return n
}

func newInitCmd(io streams) *cobra.Command {
	var out string
	var force bool
	c := &cobra.Command{
		Use:   "init [NAME]",
		Short: "Write a commented starter scenario that validates",
		Example: `  portlab init                         # to stdout
  portlab init my-change -o my-change.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "my-change"
			if len(args) == 1 {
				name = args[0]
			}
			src, err := scenarios.Starter(name)
			if err != nil {
				return WithCode(ExitInvalid, err)
			}
			if out == "" || out == "-" {
				_, err = io.out.Write(src)
				return err
			}
			// Only a file is "existing": /dev/stdout or a FIFO is written to, not replaced.
			if !force && isFile(out) {
				return WithCode(ExitInvalid, fmt.Errorf("%s exists; use --force to overwrite", out))
			}
			if err := writeOutput(out, src); err != nil {
				return err
			}
			fmt.Fprintf(io.err, "wrote %s; check it with: portlab validate %s\n", terminalSafe(out), terminalSafe(out))
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	c.Flags().BoolVarP(&force, "force", "f", false, "overwrite an existing file")
	return c
}

func newSchemaCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the scenario JSON Schema (for editors and CI linters)",
		Long: `schema prints the JSON Schema generated from portlab's scenario types. The same file
is committed as scenarios/scenario.schema.json; start a scenario with
  # yaml-language-server: $schema=scenario.schema.json
and editors with the YAML language server complete and check fields as you type.`,
		Example: "  portlab schema > scenario.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := scenarios.Schema()
			if err != nil {
				return err
			}
			_, err = io.out.Write(b)
			return err
		},
	}
}

func newVersionCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print portlab's version and the scenario format it reads",
		Example: "  portlab version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(io.out, "portlab %s (scenario format v%d)\n", Version, scenarios.CurrentVersion)
			return nil
		},
	}
}
