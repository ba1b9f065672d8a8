package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/plan"
	"github.com/spf13/cobra"
)

func newDoctorCmd(io streams) *cobra.Command {
	var scenario string
	var clients int
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run portlab, and say how to fix what is missing",
		Long: `doctor checks what portlab needs from this machine: root (or unprivileged user
namespaces, for a rootless run), network namespaces, veth, bridge, nftables, AF_PACKET
and the open-file limit (whose soft value it raises to the hard one). Each check is
probed in a throwaway namespace; the host's network is not touched.

With --scenario it also checks that scenario's needs (descriptors for its clients) and
builds its network once and tears it down. Exit 3 when something a run needs fails.

The capacity lines say what this machine allows: how one process's open-file limit
splits large segments and MPs over processes, how many clients its memory holds at
portlab's measured cost per client, and, with --scenario (and --clients), how that
scenario will be spread.`,
		Example: `  portlab doctor
  portlab doctor --scenario mp-capacity --clients 25000
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
			var plannedFor *plan.Plan
			if scenario != "" {
				s, err := loadScenario(io, scenario)
				if err != nil {
					return err
				}
				if cmd.Flags().Changed("clients") {
					if err := rescale(s, clients); err != nil {
						return WithCode(ExitInvalid, err)
					}
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
				plannedFor = p
			} else {
				checks = netsim.Doctor(cmd.Context())
			}
			checks = append(checks, capacityChecks(plannedFor)...)
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
	c.Flags().IntVar(&clients, "clients", 0, "with --scenario: check it rescaled to this many clients, as run --clients would run it")
	return c
}

// Memory per client, as make bench-scale measured it on mp-capacity (10 s polling,
// TCP notification): the fleet's RSS per client and the MP's per session, rounded up.
const (
	fleetBytesPerClient = 140 << 10
	mpBytesPerSession   = 75 << 10
)

// capacityChecks says what this machine allows: the process split the open-file limit
// implies, and how many clients its memory holds; for a planned scenario, how it will be
// spread.
func capacityChecks(p *plan.Plan) []netsim.Check {
	var out []netsim.Check
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		c := netsim.Check{Name: "processes", Status: netsim.OK,
			Detail: fmt.Sprintf("%d open files per process: a fleet process runs up to %d clients, an MP worker serves up to %d; larger segments and MPs are split (25,000 clients on one MP: 3 fleet processes, 3 MP workers)",
				rl.Max, plan.DefaultClientsPerFleet, plan.DefaultSessionsPerWorker)}
		if rl.Max < netsim.WantNOFILE {
			c.Status = netsim.Warn
			c.Detail = fmt.Sprintf("%d open files per process, under %d", rl.Max, netsim.WantNOFILE)
			c.Hint = "pass smaller --clients-per-fleet and --sessions-per-worker to portlab run (about a third of the limit each)"
		}
		out = append(out, c)
	}
	if mem := memAvailable(); mem > 0 {
		n := mem / (fleetBytesPerClient + mpBytesPerSession)
		out = append(out, netsim.Check{Name: "memory", Status: netsim.OK,
			Detail: fmt.Sprintf("%.1f GiB available: about %d clients (%d KiB per client for the fleet and the MP, as make bench-scale measured)",
				float64(mem)/(1<<30), n, (fleetBytesPerClient+mpBytesPerSession)>>10)})
	}
	out = append(out, netsim.Check{Name: "cpu", Status: netsim.OK,
		Detail: fmt.Sprintf("%d CPUs; what one MP's clients cost them: make bench-scale (README, Measured figures)", runtime.NumCPU())})
	if p != nil {
		workers := 0
		for _, m := range p.MPs {
			workers += m.Workers
		}
		c := netsim.Check{Name: "spread", Status: netsim.OK,
			Detail: fmt.Sprintf("%d clients in %d fleet process(es); %d MP(s) in %d worker process(es)", p.Clients(), len(p.Fleets), len(p.MPs), workers)}
		if mem := memAvailable(); mem > 0 && uint64(p.Clients())*(fleetBytesPerClient+mpBytesPerSession) > mem {
			c.Status = netsim.Warn
			c.Detail += "; more than this machine's memory holds"
			c.Hint = "fewer clients, or run it as shards on several machines (portlab run --shard, portlab k8s job)"
		}
		out = append(out, c)
	}
	return out
}

// memAvailable is /proc/meminfo's MemAvailable in bytes (0 when unknown).
func memAvailable() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
