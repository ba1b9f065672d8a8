package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/portlab/portlab/fwimport"
	"github.com/portlab/portlab/reports"
	"github.com/spf13/cobra"
)

// importFlags are the flags both `import nft` and `import iptables` take.
type importFlags struct {
	chain, router, mapFile, into, out string
	maps                              []string
	partial, skipLog, ipv4Only        bool
	assumeStateful                    bool
}

func newImportCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "import nft|iptables FILE",
		Short: "Translate a real firewall chain into a scenario firewall block",
		Long: `import translates ONE chain of a real firewall into the firewall block of a scenario
router, so a port change can be rehearsed against the edge as it is, not a hand-copied
version of it: 'import nft' reads the output of 'nft -j list ruleset', 'import
iptables' the output of iptables-save (IPv4). Run 'portlab import nft --help' or
'portlab import iptables --help' for the flags and examples.

Every rule either translates exactly or is refused with its number and the reason:
nothing is approximated silently. The default refuses the whole import when any rule
is refused (exit 2, every refused rule listed); --partial writes what translates, the
refused rules as comments, and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return WithCode(ExitInvalid, fmt.Errorf("name a format: portlab import nft FILE, or portlab import iptables FILE"))
		},
	}
	c.AddCommand(newImportFormatCmd(io, "nft"), newImportFormatCmd(io, "iptables"))
	return c
}

const importTranslates = `What translates exactly: accept, drop; reject with tcp reset (TCP) or ICMP port
unreachable (UDP, ICMP); protocols tcp, udp, icmp; destination ports, ranges and
anonymous sets of them (nft { 80, 443 }, iptables -m multiport) as one portlab rule
per element; source and destination addresses, prefixes, ranges and anonymous sets
through --map; a leading 'ct state established,related accept' (portlab's table always
has it); return in the base chain (the policy); the chain's policy as the default;
counters, comments and log statements next to a verdict. Refused, with the reason:
NAT, marks, named sets, interfaces (rewrite with addresses and --map), other ct states,
jumps and gotos, logging-only rules (unless --skip-log), rate limits, quotas, rules
without a verdict, negations, source ports, TCP flags, ICMP types, reject with another
ICMP code (or ICMP for TCP), IPv6-only rules (unless --ipv4-only), and any rule in
another chain that also sees forwarded packets.

Addresses: a rule's address or prefix must equal or lie inside exactly one --map prefix
(CIDR=SEGMENT); it becomes from:/to: that segment. A segment stands for all of itself,
subnet and client range: a rule about part of a mapped prefix applies to the whole
segment (the output notes it). A larger prefix or an unmapped address is refused.

Output: the block on stdout, or -o FILE (written atomically). With --into SCENARIO
the block replaces (or adds) the firewall of --router in that scenario, which is
written whole with its comments and layout kept, and checked with the scenario loader.
Rules are named after their source comment when it is a valid rule name, else r<N>
(N = the rule's position in the chain).

Exit codes: 0 written, every rule translated; 1 --partial written with refused rules
left out; 2 invalid input: a refused rule (nothing written), a bad flag, an unreadable
file, a merged scenario that does not validate.`

func newImportFormatCmd(io streams, format string) *cobra.Command {
	var f importFlags
	what, arg, example, chainHelp := "", "", "", ""
	switch format {
	case "nft":
		what = "the output of 'nft -j list ruleset'"
		arg = "RULESET.json"
		chainHelp = "the chain: 'FAMILY TABLE CHAIN' (default: the one forward-hook chain of an ip or inet table)"
		example = `  nft -j list ruleset > edge.json
  portlab import nft edge.json --map 198.18.16.0/20=lan --map 198.18.32.0/20=internet --map 198.19.1.0/24=dc
  portlab import nft edge.json --chain 'inet filter forward' --map-file edge.map -o edge-firewall.yaml
  portlab import nft edge.json --map-file edge.map --router edge --into my-change.yaml -o my-change.yaml
  nft -j list ruleset | portlab import nft - --map-file edge.map --partial`
	case "iptables":
		what = "the output of iptables-save (IPv4)"
		arg = "FILE"
		chainHelp = "the chain: 'TABLE CHAIN' or 'CHAIN' (default 'filter FORWARD')"
		example = `  iptables-save > edge.rules
  portlab import iptables edge.rules --map 198.18.16.0/20=lan --map 198.18.32.0/20=internet --map 198.19.1.0/24=dc
  portlab import iptables edge.rules --map-file edge.map --into my-change.yaml -o my-change.yaml
  portlab import iptables edge.rules --map-file edge.map --skip-log --partial -o partial.yaml`
	}
	c := &cobra.Command{
		Use:     format + " " + arg,
		Short:   "Translate one chain of " + what + " into a scenario firewall block",
		Long:    "import " + format + " reads " + what + " (a file, or - for standard input;\nat most 8 MiB) and translates one chain into a scenario firewall block.\n\n" + importTranslates,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(io, format, args[0], f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.chain, "chain", "", chainHelp)
	fl.StringVar(&f.router, "router", fwimport.DefaultRouter, "the scenario router the block is for")
	fl.StringArrayVar(&f.maps, "map", nil, "CIDR=SEGMENT: addresses in CIDR are scenario segment SEGMENT (repeatable)")
	fl.StringVar(&f.mapFile, "map-file", "", "a file of CIDR SEGMENT lines (# starts a comment), added to --map")
	fl.StringVar(&f.into, "into", "", "merge the block into this scenario's router and write the whole scenario")
	fl.StringVarP(&f.out, "output", "o", "", "write to this file (atomically) instead of stdout")
	fl.BoolVar(&f.partial, "partial", false, "write what translates, refused rules as comments, and exit 1 if any was refused")
	fl.BoolVar(&f.skipLog, "skip-log", false, "skip logging-only rules (listed in the output) instead of refusing them")
	fl.BoolVar(&f.assumeStateful, "assume-stateful", false, "translate a chain without a leading established,related accept as if it had one (noted; not exact for replies)")
	if format == "nft" {
		fl.BoolVar(&f.ipv4Only, "ipv4-only", false, "skip rules that only match IPv6 (listed in the output) instead of refusing them")
	}
	return c
}

func runImport(io streams, format, path string, f importFlags) error {
	opt := fwimport.Options{File: path, Chain: f.chain, Router: f.router, SkipLog: f.skipLog,
		IPv4Only: f.ipv4Only, AssumeStateful: f.assumeStateful}
	if path == "-" {
		opt.File = "standard input"
	}
	for _, m := range f.maps {
		mp, err := fwimport.ParseMapping(m)
		if err != nil {
			return WithCode(ExitInvalid, err)
		}
		opt.Map = append(opt.Map, mp)
	}
	if f.mapFile != "" {
		data, err := fwimport.ReadInput(f.mapFile, nil)
		if err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("--map-file: %w", err))
		}
		ms, err := fwimport.ParseMapFile(f.mapFile, data)
		if err != nil {
			return WithCode(ExitInvalid, err)
		}
		opt.Map = append(opt.Map, ms...)
	}
	data, err := fwimport.ReadInput(path, io.in)
	if err != nil {
		return WithCode(ExitInvalid, err)
	}
	var im *fwimport.Import
	if format == "nft" {
		im, err = fwimport.ImportNFT(data, opt)
	} else {
		im, err = fwimport.ImportIPTables(data, opt)
	}
	if err != nil {
		return WithCode(ExitInvalid, err)
	}
	refused := im.Err()
	if refused != nil && !f.partial {
		return WithCode(ExitInvalid, fmt.Errorf("import %s %w\nnothing written; --partial writes what translates, with the refused rules as comments", format, refused))
	}
	out := im.YAML()
	mode := os.FileMode(0o644)
	if f.into != "" {
		src, err := fwimport.ReadInput(f.into, nil)
		if err != nil {
			return WithCode(ExitInvalid, fmt.Errorf("--into: %w", err))
		}
		if st, err := os.Stat(f.into); err == nil {
			mode = st.Mode().Perm()
		}
		out, err = fwimport.Merge(f.into, src, im)
		if err != nil {
			var me *fwimport.MergeError
			if errors.As(err, &me) {
				printScenarioError(io, me.Errors)
				return WithCode(ExitInvalid, fmt.Errorf("%s (gates and timeline events naming rules of the old firewall need the imported names: r<N>, or the source rule's comment)", me.Msg))
			}
			return WithCode(ExitInvalid, err)
		}
	}
	if f.out == "" || f.out == "-" {
		if _, err := io.out.Write(out); err != nil {
			return err
		}
	} else {
		if err := reports.WriteFileAtomic(f.out, out, mode); err != nil {
			return fmt.Errorf("write %s: %w", f.out, err)
		}
		fmt.Fprintf(io.err, "wrote %s\n", f.out)
	}
	if refused != nil {
		// Run prints it (made terminal-safe: rule texts are the file's bytes).
		return WithCode(ExitGateFailed, fmt.Errorf("import %s %w\n--partial: written without the %d refused rule(s)", format, refused, len(im.Refused())))
	}
	return nil
}
