package fwimport

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portlab/portlab/scenarios"
)

// The iptables-save format (IPv4), as iptables-save and iptables-restore read and write
// it:
//
//	# comment
//	*filter                        a table
//	:FORWARD DROP [0:0]            a chain, its policy ("-" for user chains), counters
//	[0:0] -A FORWARD -p tcp ...    a rule (the [packets:bytes] prefix with -c only)
//	COMMIT                         the end of the table

type iptSave struct {
	tables []*iptTable
}

type iptTable struct {
	name   string
	line   int
	chains []*iptChain
	byName map[string]*iptChain
}

type iptChain struct {
	name, policy string
	line         int
	rules        []iptRule
}

type iptRule struct {
	line int
	text string
	args []string // after -A CHAIN
}

// parseIPTablesSave reads the file's structure; rules stay tokenised, unread.
func parseIPTablesSave(file string, data []byte) (*iptSave, error) {
	s := &iptSave{}
	var cur *iptTable
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxInputSize)
	n := 0
	errf := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s:%d: %s", ErrInput, file, n, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			if cur != nil {
				return nil, errf("table %s begins before table %s (line %d) has its COMMIT", line[1:], cur.name, cur.line)
			}
			name := line[1:]
			if name == "" || strings.ContainsAny(name, " \t") {
				return nil, errf("%q is not a table line", line)
			}
			cur = &iptTable{name: name, line: n, byName: map[string]*iptChain{}}
			s.tables = append(s.tables, cur)
		case line == "COMMIT":
			if cur == nil {
				return nil, errf("COMMIT outside a table")
			}
			cur = nil
		case strings.HasPrefix(line, ":"):
			if cur == nil {
				return nil, errf("chain line outside a table (no *table before it)")
			}
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, errf("%q: want `:CHAIN POLICY [packets:bytes]`", line)
			}
			if cur.byName[f[0]] != nil {
				return nil, errf("chain %s declared twice", f[0])
			}
			c := &iptChain{name: f[0], policy: f[1], line: n}
			cur.chains = append(cur.chains, c)
			cur.byName[c.name] = c
		default:
			if cur == nil {
				return nil, errf("rule outside a table (no *table before it)")
			}
			text := line
			if strings.HasPrefix(line, "[") {
				// [packets:bytes] counters of iptables-save -c.
				end := strings.IndexByte(line, ']')
				if end < 0 {
					return nil, errf("unterminated counters %q", line)
				}
				line = strings.TrimSpace(line[end+1:])
				text = line
			}
			args, err := splitArgs(line)
			if err != nil {
				return nil, errf("%v", err)
			}
			if len(args) < 2 || (args[0] != "-A" && args[0] != "--append") {
				return nil, errf("%q: iptables-save output has only -A CHAIN rules here", text)
			}
			c := cur.byName[args[1]]
			if c == nil {
				return nil, errf("rule for chain %s, which the table does not declare", args[1])
			}
			c.rules = append(c.rules, iptRule{line: n, text: text, args: args[2:]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, file, err)
	}
	if cur != nil {
		return nil, fmt.Errorf("%w: %s: table %s (line %d) has no COMMIT", ErrInput, file, cur.name, cur.line)
	}
	if len(s.tables) == 0 {
		return nil, fmt.Errorf("%w: %s: no table (*filter ...): not iptables-save output", ErrInput, file)
	}
	return s, nil
}

// splitArgs splits a rule line as iptables-restore does: on blanks, with double-quoted
// arguments (backslash escapes the next character) and single-quoted ones.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	inArg := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\\' && quote == '"' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case in && c == quote:
			in = false
		case in:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			in, quote, inArg = true, c, true
		case c == ' ' || c == '\t':
			if inArg {
				out = append(out, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inArg {
		out = append(out, cur.String())
	}
	return out, nil
}

// ImportIPTables translates one chain of iptables-save output (IPv4). An error wrapping
// ErrInput means the file or the options cannot be used at all; otherwise the Import
// holds the translation and every rule's outcome, and Import.Err says whether anything
// was refused.
func ImportIPTables(data []byte, opt Options) (*Import, error) {
	opt = withDefaults(opt, "filter FORWARD")
	if err := checkMappings(opt.Map); err != nil {
		return nil, err
	}
	s, err := parseIPTablesSave(opt.File, data)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(opt.Chain)
	var tname, cname string
	switch len(f) {
	case 1:
		tname, cname = "filter", f[0]
	case 2:
		tname, cname = f[0], f[1]
	default:
		return nil, fmt.Errorf("%w: --chain %q: want 'TABLE CHAIN' or 'CHAIN', such as 'filter FORWARD'", ErrInput, opt.Chain)
	}
	opt.Chain = tname + " " + cname
	var tbl *iptTable
	for _, t := range s.tables {
		if t.name == tname {
			tbl = t
		}
	}
	switch {
	case tbl == nil:
		return nil, fmt.Errorf("%w: %s: no table %s", ErrInput, opt.File, tname)
	case tname == "nat":
		return nil, fmt.Errorf("%w: --chain %q: the nat table translates addresses; NAT is not modelled", ErrInput, opt.Chain)
	case tname != "filter":
		return nil, fmt.Errorf("%w: --chain %q: only the filter table's FORWARD chain is imported", ErrInput, opt.Chain)
	}
	c := tbl.byName[cname]
	switch {
	case c == nil:
		var names []string
		for _, x := range tbl.chains {
			names = append(names, x.name)
		}
		return nil, fmt.Errorf("%w: %s: table %s has no chain %s (chains: %s)", ErrInput, opt.File, tname, cname, strings.Join(names, ", "))
	case c.policy == "-":
		return nil, fmt.Errorf("%w: chain %s is a user-defined chain: it is reached only by a jump and has no policy to become the default", ErrInput, opt.Chain)
	case cname != "FORWARD":
		return nil, fmt.Errorf("%w: chain %s does not see forwarded traffic: import FORWARD", ErrInput, opt.Chain)
	}
	im := &Import{Format: "iptables", Options: opt, Chain: opt.Chain, Policy: c.policy}
	var policy scenarios.Action
	switch c.policy {
	case "ACCEPT":
		policy = scenarios.Accept
	case "DROP":
		policy = scenarios.Drop
	default:
		return nil, fmt.Errorf("%w: %s:%d: chain %s has policy %q (ACCEPT or DROP)", ErrInput, opt.File, c.line, cname, c.policy)
	}
	var neutral []rule
	for i, r := range c.rules {
		neutral = append(neutral, iptNeutral(tbl, r, i+1, opt.Chain))
	}
	assemble(im, neutral, policy)
	im.Entries = append(im.Entries, otherIPTChains(s, tbl, c)...)
	return im, nil
}

// otherIPTChains refuses the rules of the other tables' chains on the forwarding path
// (raw, mangle and nat PREROUTING; mangle and security FORWARD; mangle and nat
// POSTROUTING): they see the same packets.
func otherIPTChains(s *iptSave, sel *iptTable, selc *iptChain) []Entry {
	var out []Entry
	for _, t := range s.tables {
		for _, c := range t.chains {
			if c == selc || !(c.name == "PREROUTING" || c.name == "FORWARD" || c.name == "POSTROUTING") {
				continue
			}
			key := t.name + " " + c.name
			reason := fmt.Sprintf("chain %s also sees forwarded packets: importing one chain is exact only when the others are empty", key)
			if t.name == "nat" {
				reason = fmt.Sprintf(reasonNAT, "table nat, chain "+c.name)
			}
			for i, r := range c.rules {
				out = append(out, Entry{Origin: Origin{Chain: key, Number: i + 1, Line: r.line, Text: r.text, other: true}, Outcome: Refused, Reason: reason, Other: true})
			}
		}
	}
	return out
}

// iptTargets are what a -j other than a verdict or a user chain does.
var iptTargets = map[string]string{
	"MARK": "mark", "CONNMARK": "mark",
	"DNAT": "nat", "SNAT": "nat", "MASQUERADE": "nat", "REDIRECT": "nat", "NETMAP": "nat",
	"LOG": "log", "NFLOG": "log", "ULOG": "log",
}

// iptNeutral reads one rule's arguments.
func iptNeutral(tbl *iptTable, ir iptRule, number int, chain string) rule {
	r := rule{origin: Origin{Chain: chain, Number: number, Line: ir.line, Text: ir.text}}
	a := ir.args
	neg := false
	modules := []string{}
	hasMod := func(m string) bool { return slices.Contains(modules, m) }
	next := func(i *int, opt string) (string, bool) {
		if *i+1 >= len(a) {
			r.refusef("option %s without a value", opt)
			return "", false
		}
		*i++
		return a[*i], true
	}
	negated := func(opt, v string) bool {
		if neg {
			r.refusef(reasonNegation, "! "+opt+" "+v)
			neg = false
			return true
		}
		return false
	}
	for i := 0; i < len(a); i++ {
		opt := a[i]
		if opt == "!" {
			neg = true
			continue
		}
		if len(r.refuse) > 0 && !isTarget(opt) {
			// Once refused, an option of unknown arity may follow: stop reading matches
			// (one reason is enough) but still read the target.
			continue
		}
		switch opt {
		case "-p", "--protocol":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			iptProto(&r, v)
		case "-s", "--source", "-d", "--destination":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			dst := opt == "-d" || opt == "--destination"
			if ps, ok := iptAddrs(&r, v, opt); ok {
				r.setAddrs(dst, ps, opt)
			}
			r.matches++
		case "-i", "--in-interface", "-o", "--out-interface":
			v, _ := next(&i, opt)
			r.refusef(reasonInterface, opt+" "+v)
		case "-f", "--fragment":
			r.refusef("fragment match (%s): not modelled", opt)
		case "-m", "--match":
			v, ok := next(&i, opt)
			if !ok {
				continue
			}
			modules = append(modules, v)
			iptModule(&r, v)
		case "-j", "--jump":
			v, ok := next(&i, opt)
			if !ok {
				continue
			}
			iptTarget(&r, tbl, v, a[i+1:])
			return r
		case "-g", "--goto":
			v, _ := next(&i, opt)
			r.refusef(reasonJump, "goto", v)
			return r
		case "-c", "--set-counters":
			i += 2
		case "--dport", "--destination-port":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			if !hasMod("tcp") && !hasMod("udp") && !r.protoSet {
				r.refusef("%s without -p tcp or -p udp", opt)
				continue
			}
			if pr, ok := iptPortRange(&r, v); ok {
				r.setPorts(finishPorts(&r, []portRange{pr}), opt)
			}
			r.matches++
		case "--dports", "--destination-ports":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			var rs []portRange
			for _, p := range strings.Split(v, ",") {
				pr, ok := iptPortRange(&r, p)
				if !ok {
					break
				}
				rs = append(rs, pr)
			}
			if len(r.refuse) == 0 {
				r.setPorts(finishPorts(&r, rs), opt)
			}
			r.matches++
		case "--sport", "--source-port", "--sports", "--source-ports":
			v, _ := next(&i, opt)
			r.refusef(reasonSport, opt+" "+v)
		case "--ports":
			v, _ := next(&i, opt)
			r.refusef("multiport --ports %s matches source or destination ports: portlab rules match destination ports only", v)
		case "--tcp-flags":
			v, _ := next(&i, opt)
			w, _ := next(&i, opt)
			r.refusef("tcp flags (%s %s %s): portlab rules do not look at TCP flags", opt, v, w)
		case "--syn":
			r.refusef("tcp flags (--syn): portlab rules do not look at TCP flags")
		case "--icmp-type":
			v, _ := next(&i, opt)
			r.refusef(reasonICMPType, opt+" "+v)
		case "--ctstate", "--state":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			iptCtState(&r, v)
		case "--comment":
			v, _ := next(&i, opt)
			r.comment = v
		case "--src-range", "--dst-range":
			v, ok := next(&i, opt)
			if !ok || negated(opt, v) {
				continue
			}
			lo, hi, _ := strings.Cut(v, "-")
			la, err1 := netip.ParseAddr(lo)
			ha, err2 := netip.ParseAddr(hi)
			ps := rangePrefixes(la, ha)
			if err1 != nil || err2 != nil || len(ps) == 0 {
				r.refusef("%s %s: not an IPv4 address range", opt, v)
				continue
			}
			r.setAddrs(opt == "--dst-range", ps, opt)
			r.matches++
		default:
			if !strings.HasPrefix(opt, "-") {
				r.refusef("unexpected argument %q", opt)
			} else {
				r.refusef("option %s (module %s) is not modelled", opt, strings.Join(modules, ", "))
			}
		}
		neg = false
	}
	if len(r.refuse) == 0 && !r.ctEstRel {
		r.refusef(reasonNoVerdict, "no -j")
	}
	return r
}

func isTarget(opt string) bool {
	return opt == "-j" || opt == "--jump" || opt == "-g" || opt == "--goto"
}

func iptModule(r *rule, m string) {
	switch m {
	case "tcp", "udp", "multiport", "conntrack", "state", "comment", "iprange", "icmp":
		// options follow; read there
	case "limit", "hashlimit", "connlimit", "recent":
		r.refusef(reasonRate, "-m "+m)
	case "mark", "connmark":
		r.refusef(reasonMark, "-m "+m)
	case "set":
		r.refusef("ipset match (-m set): portlab does not model sets")
	case "physdev":
		r.refusef(reasonInterface, "-m physdev")
	default:
		r.refusef("match module -m %s: not modelled", m)
	}
}

func iptProto(r *rule, v string) {
	switch strings.ToLower(v) {
	case "all", "0":
		return // every protocol
	case "tcp", "6":
		r.restrictProto([]scenarios.Proto{scenarios.ProtoTCP}, "-p "+v)
	case "udp", "17":
		r.restrictProto([]scenarios.Proto{scenarios.ProtoUDP}, "-p "+v)
	case "icmp", "1":
		r.restrictProto([]scenarios.Proto{scenarios.ProtoICMP}, "-p "+v)
	case "ipv6-icmp", "icmpv6", "58":
		r.refusef("-p %s: an IPv6 protocol in an IPv4 ruleset", v)
	default:
		r.refusef(reasonProto, v)
	}
	r.matches++
}

// iptAddrs reads -s/-d: an address, a prefix (/len or /mask), or a comma list.
func iptAddrs(r *rule, v, opt string) ([]netip.Prefix, bool) {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		addr, bits, hasBits := strings.Cut(s, "/")
		a, err := netip.ParseAddr(addr)
		if err != nil {
			r.refusef("%s %s: not an IPv4 address (iptables-save prints numbers; host names are not resolved)", opt, s)
			return nil, false
		}
		if !a.Is4() {
			r.refusef("%s %s: an IPv6 address; `portlab import iptables` reads IPv4 iptables-save output", opt, s)
			return nil, false
		}
		n := 32
		if hasBits {
			if m, err := netip.ParseAddr(bits); err == nil {
				n = maskBits(m)
			} else if n, err = strconv.Atoi(bits); err != nil {
				n = -1
			}
		}
		if n < 0 || n > 32 {
			r.refusef("%s %s: not a prefix", opt, s)
			return nil, false
		}
		out = append(out, netip.PrefixFrom(a, n).Masked())
	}
	return out, true
}

// maskBits turns a dotted mask into a prefix length, -1 when it is not contiguous.
func maskBits(m netip.Addr) int {
	if !m.Is4() {
		return -1
	}
	v := u32(m)
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}

// iptPortRange reads 80, 8000:8999, :1023 or 1024: (iptables ranges use a colon).
func iptPortRange(r *rule, v string) (portRange, bool) {
	lo, hi, isRange := strings.Cut(v, ":")
	if !isRange {
		lo, hi, isRange = strings.Cut(v, "-")
	}
	num := func(s string, def int) (int, bool) {
		if s == "" && isRange {
			return def, true
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			r.refusef("port %q: not a number (service names are not resolved)", s)
			return 0, false
		}
		return n, true
	}
	a, ok1 := num(lo, 0)
	b := a
	ok2 := true
	if isRange {
		b, ok2 = num(hi, 65535)
	}
	return portRange{a, b}, ok1 && ok2
}

func iptCtState(r *rule, v string) {
	states := strings.Split(strings.ToUpper(v), ",")
	slices.Sort(states)
	states = slices.Compact(states)
	switch strings.Join(states, ",") {
	case "ESTABLISHED,RELATED":
		r.ctEstRel = true
	case "NEW":
		r.refusef(reasonCtNew)
	default:
		r.refusef(reasonCtState, strings.ToLower(v))
	}
}

func iptTarget(r *rule, tbl *iptTable, target string, opts []string) {
	var reject string
	for i := 0; i < len(opts); i++ {
		if opts[i] == "--reject-with" && i+1 < len(opts) {
			reject = opts[i+1]
			i++
		}
	}
	switch target {
	case "ACCEPT":
		r.verdict = vAccept
	case "DROP":
		r.verdict = vDrop
	case "RETURN":
		r.verdict = vReturn
	case "REJECT":
		r.verdict = vReject
		switch reject {
		case "", "icmp-port-unreachable", "port-unreach":
			r.reject = rejPortUnreach
		case "tcp-reset", "tcp-rst":
			r.reject = rejTCPReset
			r.restrictProto([]scenarios.Proto{scenarios.ProtoTCP}, "--reject-with tcp-reset")
		default:
			r.refusef(reasonRejectWith, reject)
		}
	default:
		switch kind := iptTargets[target]; {
		case kind == "log":
			r.log = "-j " + target
		case kind == "mark":
			r.refusef(reasonMark, "-j "+target)
		case kind == "nat":
			r.refusef(reasonNAT, "-j "+target)
		case tbl.byName[target] != nil:
			r.refusef(reasonJump, "jump", target)
		default:
			r.refusef("target -j %s: not modelled", target)
		}
	}
}
