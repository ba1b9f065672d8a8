package fwimport

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/portlab/portlab/scenarios"
)

// ErrRefused marks an import in which at least one rule cannot be translated exactly.
// The error (a *RefusedError) lists every refused rule with its number, text and reason.
var ErrRefused = errors.New("rules refused")

// DefaultRouter is the router an import is for when Options.Router is empty.
const DefaultRouter = "edge"

// maxExpansion bounds how many portlab rules one source rule may become (anonymous sets
// and verdict maps expand into one rule per element and per segment): past it the
// translation would be exact but unreadable, and a source rule that large is a sign of
// a set that belongs in the firewall, not in a rehearsal.
const maxExpansion = 64

// Options say which chain to import and how.
type Options struct {
	// File names the input in messages and in the output's header.
	File string
	// Chain selects the chain. nft: "FAMILY TABLE CHAIN", such as "inet filter forward"
	// (default: the one forward-hook chain of an ip or inet table). iptables: "TABLE
	// CHAIN" or just "CHAIN" for the filter table (default "filter FORWARD").
	Chain string
	// Router is the scenario router the block is for (default DefaultRouter).
	Router string
	// Map turns the rules' addresses into segments.
	Map []Mapping
	// SkipLog skips logging-only rules (a log statement or -j LOG, no verdict), listing
	// them in the output, instead of refusing them. Exact: logging decides nothing.
	SkipLog bool
	// IPv4Only skips rules that can only match IPv6 packets (ip6 ..., meta nfproto ipv6,
	// icmpv6, reject with icmpv6), listing them in the output, instead of refusing them.
	// Exact for the lab, which is IPv4 only.
	IPv4Only bool
	// AssumeStateful translates a chain that lacks a leading `ct state
	// established,related accept` (and so also filters replies) as if it had one. Not
	// exact: the output says so in its header.
	AssumeStateful bool
}

// Outcome is what became of one source rule.
type Outcome int

// Outcomes.
const (
	// Translated: the rule became one or more portlab rules (Entry.Rules).
	Translated Outcome = iota
	// Implied: the leading established,related accept, which portlab's stateful table
	// always has before any rule.
	Implied
	// Skipped on request (--skip-log, --ipv4-only); listed in the output.
	Skipped
	// Refused: it cannot be translated exactly (Entry.Reason says why).
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Translated:
		return "translated"
	case Implied:
		return "implied"
	case Skipped:
		return "skipped"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("outcome%d", int(o))
}

// Origin is where a rule came from.
type Origin struct {
	// Chain, as Import.Chain names the imported one ("inet filter forward", "filter
	// FORWARD"); another chain for refusals of other chains on the forwarding path.
	Chain string
	// Number is the rule's position in its chain, 1-based; 0 for the chain itself.
	Number int
	// Line in the file (iptables); 0 for nft.
	Line int
	// Handle of the rule (nft); 0 for iptables.
	Handle int64
	// Text is the rule as written: the iptables-save line (without the counters of -c),
	// or for nft the rule's JSON rendered back in nft syntax.
	Text  string
	other bool // a chain other than the imported one: Where names it
}

// Where renders "rule 3 (handle 7)" or "rule 3, line 12", or "chain X" for Number 0.
func (o Origin) Where() string {
	var s string
	switch {
	case o.Number == 0:
		s = "chain " + o.Chain
	case o.other:
		s = fmt.Sprintf("%s rule %d", o.Chain, o.Number)
	default:
		s = fmt.Sprintf("rule %d", o.Number)
	}
	switch {
	case o.Line > 0:
		s += fmt.Sprintf(", line %d", o.Line)
	case o.Handle > 0:
		s += fmt.Sprintf(" (handle %d)", o.Handle)
	}
	return s
}

// Entry is one source rule (or chain) and its outcome.
type Entry struct {
	Origin
	Outcome Outcome
	// Rules are the indexes of the portlab rules it became (Translated).
	Rules []int
	// Reason says why the rule was refused, skipped or implied.
	Reason string
	// Notes are facts of a translation the reader should know (a prefix inside a
	// mapping, a log statement that is not modelled).
	Notes []string
	// Other: the entry is about another chain of the ruleset, not a rule of the
	// imported one (or the imported chain as a whole when Number is 0).
	Other bool
}

// Import is one chain translated into a scenario firewall block.
type Import struct {
	// Format is "nft" or "iptables".
	Format string
	// Options as given (defaults filled: Router, Chain).
	Options Options
	// Chain is the imported chain's name, as Options.Chain spells it.
	Chain string
	// Policy is the chain's policy as written (accept, drop; ACCEPT, DROP).
	Policy string
	// Firewall is the translation: what translated exactly, in order.
	Firewall scenarios.Firewall
	// Entries: every rule of the chain in order, then entries about the chain itself
	// and other chains of the ruleset.
	Entries []Entry
	// Notes about the whole import (other chains it ignored, --assume-stateful).
	Notes []string
}

// Refused returns the refused entries.
func (im *Import) Refused() []Entry {
	var out []Entry
	for _, e := range im.Entries {
		if e.Outcome == Refused {
			out = append(out, e)
		}
	}
	return out
}

// Err is nil when every rule translated (or was implied or skipped); otherwise a
// *RefusedError (errors.Is ErrRefused) listing every refused rule.
func (im *Import) Err() error {
	if r := im.Refused(); len(r) > 0 {
		return &RefusedError{Import: im, Entries: r}
	}
	return nil
}

// RefusedError lists the rules an import refused.
type RefusedError struct {
	Import  *Import
	Entries []Entry
}

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func (e *RefusedError) Error() string {
	var b strings.Builder
	rules, own, other, chain := 0, 0, 0, 0
	for _, x := range e.Import.Entries {
		if !x.Other {
			rules++
		}
	}
	for _, x := range e.Entries {
		switch {
		case !x.Other:
			own++
		case x.Number == 0:
			chain++
		default:
			other++
		}
	}
	fmt.Fprintf(&b, "%s: %d of %d rules of %s refused", e.Import.Options.File, own, rules, e.Import.Chain)
	if chain > 0 {
		b.WriteString(", and the chain itself")
	}
	if other > 0 {
		fmt.Fprintf(&b, ", and %d rules of other chains on the forwarding path", other)
	}
	b.WriteString(": not translated exactly\n")
	for _, x := range e.Entries {
		fmt.Fprintf(&b, "  %s: %s\n      %s\n", x.Where(), x.Text, x.Reason)
	}
	return strings.TrimRight(b.String(), "\n")
}

// The neutral form both parsers produce: one source rule's matches, as alternatives
// (nil: any), and its verdict.

type verdictKind int

const (
	vNone verdictKind = iota
	vAccept
	vDrop
	vReject
	vReturn
)

type rejectKind int

const (
	rejPortUnreach rejectKind = iota // ICMP (or ICMPX) port unreachable: nft's and iptables' default
	rejTCPReset
)

type portRange struct{ lo, hi int }

// rule is a source rule in neutral form.
type rule struct {
	origin  Origin
	comment string // the rule's comment, a name candidate

	refuse []string // why it cannot be translated (first found first)
	v6only string   // non-empty: it can only match IPv6 packets, and why
	notes  []string

	ctEstRel bool   // matches exactly ct state {established, related}
	matches  int    // other matches (a ct rule with them is not the plain one)
	log      string // the log statement or target ("log", "-j LOG"), if any

	protoSet bool
	protos   []scenarios.Proto // alternatives when protoSet
	portSet  bool
	ports    []portRange // alternatives when portSet; empty with portSet: every port
	needL4   string      // a port match that needs protos within tcp/udp (nft th dport)
	srcSet   bool
	src      []netip.Prefix
	dstSet   bool
	dst      []netip.Prefix

	verdict verdictKind
	reject  rejectKind
	// alts: a verdict map, one alternative per element (each a copy of the rule with the
	// element's key and verdict); the rule's own verdict is unused then.
	alts []rule
}

func (r *rule) refusef(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if !slices.Contains(r.refuse, msg) {
		r.refuse = append(r.refuse, msg)
	}
}

// restrictProto intersects the rule's protocol alternatives with set.
func (r *rule) restrictProto(set []scenarios.Proto, what string) {
	if !r.protoSet {
		r.protoSet, r.protos = true, slices.Clone(set)
		return
	}
	var keep []scenarios.Proto
	for _, p := range r.protos {
		if slices.Contains(set, p) {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		r.refusef("%s conflicts with the rule's other protocol match (%s): the rule can never match", what, joinProtos(r.protos))
	}
	r.protos = keep
}

func joinProtos(ps []scenarios.Proto) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

func (r *rule) setPorts(ports []portRange, what string) {
	if r.portSet {
		r.refusef("matches destination ports twice (%s): not supported", what)
		return
	}
	r.portSet, r.ports = true, ports
}

func (r *rule) setAddrs(dst bool, ps []netip.Prefix, what string) {
	set, list := &r.srcSet, &r.src
	if dst {
		set, list = &r.dstSet, &r.dst
	}
	if *set {
		r.refusef("matches %s twice: not supported", what)
		return
	}
	*set, *list = true, ps
}

// Reasons shared by both parsers, worded once.
const (
	reasonInterface  = "interface match (%s): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"
	reasonMark       = "marks (%s): portlab does not model packet or connection marks"
	reasonNAT        = "NAT (%s): portlab does not translate addresses; the filter would see translated addresses"
	reasonRate       = "rate limit (%s): portlab rules match every packet, they cannot limit a rate"
	reasonNegation   = "negation (%s): portlab rules cannot express 'everything but'"
	reasonSport      = "source port match (%s): portlab rules match destination ports only"
	reasonICMPType   = "icmp type/code match (%s): portlab's icmp rules match every icmp packet"
	reasonNoVerdict  = "no verdict (%s): the rule only counts or marks and lets the packet go on to the next rule; portlab rules always decide"
	reasonLogOnly    = "logging only (%s): no verdict; pass --skip-log to skip logging-only rules (listed in the output)"
	reasonJump       = "%s to chain %s: portlab has one rule list; inline that chain's rules into this one"
	reasonPort0      = "port range %d-%d includes port 0, which portlab cannot express: start the range at 1"
	reasonRejectTCP  = "reject answers TCP with ICMP %s; portlab's reject answers TCP with a reset (use `reject with tcp reset`/--reject-with tcp-reset for TCP)"
	reasonRejectWith = "reject with %s: portlab's reject answers TCP with a reset and everything else with ICMP port unreachable"
	reasonCtState    = "ct state %s: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"
	reasonCtNew      = "ct state new: portlab's rules see every packet that is not established or related, new and invalid alike; remove `ct state new`/--ctstate NEW from the source rule if invalid packets do not matter to the rehearsal"
	reasonCtNotLead  = "ct state established,related accept after other rules: portlab accepts established and related traffic before every rule, so only a leading one translates"
	reasonCtMixed    = "ct state established,related combined with other matches or another verdict: portlab accepts all established and related traffic first, and nothing else"
	reasonProto      = "protocol %s: portlab rules match tcp, udp, icmp or any protocol"
	reasonNever      = "the rule can never match"
	reasonV6         = "matches only IPv6 (%s): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"
	reasonStateless  = "the chain does not begin with `ct state established,related accept`, so it filters replies and established traffic with its rules too; portlab's table is always stateful (replies pass before any rule). Add that rule at the top if the real edge is stateful, or pass --assume-stateful (the output says so)"
	reasonExpansion  = "expands into %d portlab rules, more than %d: split the set or the mapping"
	reasonThDport    = "%s without `meta l4proto tcp` or `udp` also matches other protocols with ports (sctp, dccp, udplite): portlab ports are tcp or udp"
)

// translator turns neutral rules into portlab rules.
type translator struct {
	im    *Import
	used  map[string]bool // rule names given so far
	deflt scenarios.Action
}

var ruleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// assemble translates the chain's rules in order into im.Firewall and im.Entries.
func assemble(im *Import, rules []rule, policy scenarios.Action) {
	t := &translator{im: im, used: map[string]bool{}, deflt: policy}
	im.Firewall.Default = policy
	leading, sawCt := true, false
	var chainEntries []Entry
	for i := range rules {
		r := &rules[i]
		e := Entry{Origin: r.origin, Notes: r.notes}
		switch {
		case len(r.refuse) > 0:
			e.Outcome, e.Reason = Refused, strings.Join(r.refuse, "; ")
			leading = false
		case r.v6only != "":
			if im.Options.IPv4Only {
				e.Outcome, e.Reason = Skipped, "skipped (--ipv4-only): matches only IPv6 ("+r.v6only+")"
			} else {
				e.Outcome, e.Reason = Refused, fmt.Sprintf(reasonV6, r.v6only)
				leading = false
			}
		case r.ctEstRel && (r.matches > 0 || r.verdict != vAccept || len(r.alts) > 0):
			e.Outcome, e.Reason = Refused, reasonCtMixed
			leading = false
		case r.ctEstRel && !leading:
			e.Outcome, e.Reason = Refused, reasonCtNotLead
		case r.ctEstRel:
			e.Outcome, e.Reason = Implied, "implied: portlab's table accepts established and related traffic before any rule"
			sawCt = true
		case r.verdict == vNone && len(r.alts) == 0 && r.log != "":
			if im.Options.SkipLog {
				e.Outcome, e.Reason = Skipped, "skipped (--skip-log): logging only, no verdict"
			} else {
				e.Outcome, e.Reason = Refused, fmt.Sprintf(reasonLogOnly, r.log)
				leading = false
			}
		default:
			leading = false
			out, notes, refusals := t.rule(r)
			if len(refusals) > 0 {
				e.Outcome, e.Reason = Refused, strings.Join(refusals, "; ")
				break
			}
			e.Outcome, e.Notes = Translated, append(e.Notes, notes...)
			for _, pr := range out {
				e.Rules = append(e.Rules, len(im.Firewall.Rules))
				im.Firewall.Rules = append(im.Firewall.Rules, pr)
			}
		}
		im.Entries = append(im.Entries, e)
	}
	// Stateless versus stateful matters only if something can stop a packet.
	stops := policy != scenarios.Accept
	for _, r := range im.Firewall.Rules {
		stops = stops || r.Action != scenarios.Accept
	}
	if !sawCt && stops {
		if im.Options.AssumeStateful {
			im.Notes = append(im.Notes, "--assume-stateful: the chain has no leading `ct state established,related accept`, so the real edge also filters replies and established traffic with these rules; portlab lets them through first. Not exact for replies.")
		} else {
			chainEntries = append(chainEntries, Entry{Origin: Origin{Chain: im.Chain, Text: "policy " + im.Policy}, Outcome: Refused, Reason: reasonStateless, Other: true})
		}
	}
	im.Entries = append(im.Entries, chainEntries...)
}

// rule translates one source rule into portlab rules, or says why it cannot.
func (t *translator) rule(r *rule) (out []scenarios.Rule, notes, refusals []string) {
	alts := r.alts
	if alts == nil {
		alts = []rule{*r}
	}
	var all []scenarios.Rule
	for i := range alts {
		if v6 := alts[i].v6only; v6 != "" && r.v6only == "" {
			// One element of a verdict map that can only match IPv6.
			if t.im.Options.IPv4Only {
				notes = appendNew(notes, "skipped (--ipv4-only): the element matching only IPv6 ("+v6+")")
				continue
			}
			refusals = appendNew(refusals, fmt.Sprintf(reasonV6, v6))
			continue
		}
		rs, ns, refs := t.one(&alts[i])
		if len(all)+len(rs) > maxExpansion {
			return nil, nil, []string{fmt.Sprintf(reasonExpansion, len(all)+len(rs), maxExpansion) + " (or more)"}
		}
		all = append(all, rs...)
		notes = appendNew(notes, ns...)
		refusals = appendNew(refusals, refs...)
	}
	if len(refusals) > 0 {
		return nil, nil, refusals
	}
	if len(all) > maxExpansion {
		return nil, nil, []string{fmt.Sprintf(reasonExpansion, len(all), maxExpansion)}
	}
	if len(all) == 0 {
		// A verdict map whose every element continues (or was skipped as IPv6-only).
		return nil, nil, []string{"decides nothing in the lab: every element of its verdict map continues or matches only IPv6"}
	}
	if len(all) > 1 {
		notes = append(notes, fmt.Sprintf("expanded into %d portlab rules that together do what it does", len(all)))
	}
	names := t.names(r, len(all))
	for i := range all {
		all[i].Name = names[i]
		t.used[names[i]] = true
	}
	return all, notes, nil
}

// names are the n portlab rules' names for r: its comment when that is a valid rule
// name (so a scenario's gates can keep naming it), else r<number>; "-1", "-2", ... when
// it expands. Names already used go to the next candidate.
func (t *translator) names(r *rule, n int) []string {
	gen := func(base string) []string {
		if n == 1 {
			return []string{base}
		}
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", base, i+1)
		}
		return out
	}
	free := func(ns []string) bool {
		for _, x := range ns {
			if t.used[x] {
				return false
			}
		}
		return true
	}
	if c := strings.TrimSpace(r.comment); c != "" && len(c) <= 60 && c != "default" && ruleNameRE.MatchString(c) {
		if ns := gen(c); free(ns) {
			return ns
		}
	}
	base := fmt.Sprintf("r%d", r.origin.Number)
	for {
		if ns := gen(base); free(ns) {
			return ns
		}
		base += "x"
	}
}

// one translates a rule without alternatives.
func (t *translator) one(r *rule) (out []scenarios.Rule, notes, refusals []string) {
	if len(r.refuse) > 0 {
		return nil, nil, r.refuse
	}
	var action scenarios.Action
	switch r.verdict {
	case vAccept:
		action = scenarios.Accept
	case vDrop:
		action = scenarios.Drop
	case vReject:
		action = scenarios.Reject
	case vReturn:
		action = t.deflt
		notes = append(notes, fmt.Sprintf("return in a base chain: the chain's policy (%s) applies", t.deflt))
	case vNone:
		return nil, nil, nil // continue in a verdict map: no rule
	}
	protos := []scenarios.Proto{scenarios.ProtoAny}
	if r.protoSet {
		protos = r.protos
	}
	if r.portSet {
		for _, p := range protos {
			if p != scenarios.ProtoTCP && p != scenarios.ProtoUDP {
				if r.needL4 != "" {
					return nil, nil, []string{fmt.Sprintf(reasonThDport, r.needL4)}
				}
				return nil, nil, []string{fmt.Sprintf("a destination port with protocol %s: portlab ports are tcp or udp", p)}
			}
		}
	}
	if action == scenarios.Reject {
		for _, p := range protos {
			switch {
			case (p == scenarios.ProtoTCP || p == scenarios.ProtoAny) && r.reject != rejTCPReset:
				return nil, nil, []string{fmt.Sprintf(reasonRejectTCP, "port unreachable")}
			case p != scenarios.ProtoTCP && r.reject == rejTCPReset:
				return nil, nil, []string{"reject with tcp reset on a rule that is not TCP only"}
			}
		}
	}
	froms, n1, ref1 := t.segments(r.srcSet, r.src, "source")
	tos, n2, ref2 := t.segments(r.dstSet, r.dst, "destination")
	notes = appendNew(notes, n1...)
	notes = appendNew(notes, n2...)
	if refs := append(ref1, ref2...); len(refs) > 0 {
		return nil, nil, refs
	}
	ports := []portRange{{}}
	if r.portSet && len(r.ports) > 0 {
		ports = r.ports
	}
	// Count before building: a product of large sets must be refused, not built.
	if n := len(protos) * len(ports) * len(froms) * len(tos); n > maxExpansion {
		return nil, nil, []string{fmt.Sprintf(reasonExpansion, n, maxExpansion)}
	}
	for _, p := range protos {
		for _, pr := range ports {
			for _, f := range froms {
				for _, to := range tos {
					out = append(out, scenarios.Rule{Proto: p, Port: scenarios.PortRange{Lo: pr.lo, Hi: pr.hi}, From: f, To: to, Action: action})
				}
			}
		}
	}
	return out, notes, nil
}

// segments maps a rule's address alternatives to segment names ("" = any).
func (t *translator) segments(set bool, ps []netip.Prefix, what string) (segs, notes, refusals []string) {
	if !set {
		return []string{""}, nil, nil
	}
	for _, p := range ps {
		if p.Bits() == 0 {
			return []string{""}, nil, nil // 0.0.0.0/0: every IPv4 address
		}
	}
	for _, p := range ps {
		seg, note, ref := segmentFor(t.im.Options.Map, p, what)
		if ref != "" {
			refusals = appendNew(refusals, ref)
			continue
		}
		notes = appendNew(notes, note)
		segs = appendNew(segs, seg)
	}
	return segs, notes, refusals
}

func appendNew(list []string, items ...string) []string {
	for _, s := range items {
		if s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// rangePrefixes splits an inclusive IPv4 address range into the prefixes that cover it
// exactly.
func rangePrefixes(lo, hi netip.Addr) []netip.Prefix {
	if !lo.Is4() || !hi.Is4() || hi.Less(lo) {
		return nil
	}
	a, b := u32(lo), u32(hi)
	var out []netip.Prefix
	for {
		bits := 32
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if uint64(a)%size != 0 || uint64(a)+size-1 > uint64(b) {
				break
			}
			bits--
		}
		out = append(out, netip.PrefixFrom(addr4(a), bits))
		end := uint64(a) + uint64(1)<<(32-bits) - 1
		if end >= uint64(b) {
			return out
		}
		a = uint32(end + 1)
	}
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// finishPorts validates port ranges: 0 means the range also holds port 0, which a
// portlab port cannot; 0-65535 is every port (the constraint drops, the protocol stays).
func finishPorts(r *rule, rs []portRange) []portRange {
	var out []portRange
	for _, p := range rs {
		switch {
		case p.lo > p.hi || p.hi > 65535 || p.lo < 0:
			r.refusef("port range %d-%d is not a valid range", p.lo, p.hi)
		case p.lo == 0 && p.hi == 65535:
			return []portRange{} // every port
		case p.lo == 0:
			r.refusef(reasonPort0, p.lo, p.hi)
		default:
			out = append(out, p)
		}
	}
	return out
}
