package fwimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portlab/portlab/scenarios"
)

// ImportNFT translates one chain of an `nft -j list ruleset` listing. An error wrapping
// ErrInput means the listing or the options cannot be used at all; otherwise the Import
// holds the translation and every rule's outcome, and Import.Err says whether anything
// was refused.
func ImportNFT(data []byte, opt Options) (*Import, error) {
	opt = withDefaults(opt, "")
	if err := checkMappings(opt.Map); err != nil {
		return nil, err
	}
	if n := nesting(data); n > maxNesting {
		return nil, fmt.Errorf("%w: %s: JSON nested %d deep, more than %d: not an nft listing", ErrInput, opt.File, n, maxNesting)
	}
	var l nftListing
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%w: %s: not an nft JSON listing (`nft -j list ruleset`): %w", ErrInput, opt.File, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: more than one JSON document", ErrInput, opt.File)
	}
	if l.Nftables == nil {
		return nil, fmt.Errorf("%w: %s: no \"nftables\" array: not an nft JSON listing (`nft -j list ruleset`)", ErrInput, opt.File)
	}
	var chains []*nftChain
	rules := map[string][]*nftRule{}
	for i, o := range l.Nftables {
		switch {
		case o.Chain != nil:
			if o.Chain.Family == "" || o.Chain.Table == "" || o.Chain.Name == "" {
				return nil, fmt.Errorf("%w: %s: element %d: a chain without family, table or name", ErrInput, opt.File, i)
			}
			chains = append(chains, o.Chain)
		case o.Rule != nil:
			if o.Rule.Family == "" || o.Rule.Table == "" || o.Rule.Chain == "" {
				return nil, fmt.Errorf("%w: %s: element %d: a rule without family, table or chain", ErrInput, opt.File, i)
			}
			k := chainKey(o.Rule.Family, o.Rule.Table, o.Rule.Chain)
			rules[k] = append(rules[k], o.Rule)
		}
	}
	sel, err := selectNFTChain(chains, opt.Chain, opt.File)
	if err != nil {
		return nil, err
	}
	key := chainKey(sel.Family, sel.Table, sel.Name)
	opt.Chain = key
	im := &Import{Format: "nft", Options: opt, Chain: key, Policy: sel.Policy}
	policy := scenarios.Accept
	switch sel.Policy {
	case "", "accept":
		if sel.Policy == "" {
			im.Policy = "accept"
		}
	case "drop":
		policy = scenarios.Drop
	default:
		return nil, fmt.Errorf("%w: %s: chain %s has policy %q", ErrInput, opt.File, key, sel.Policy)
	}
	var neutral []rule
	for i, r := range rules[key] {
		neutral = append(neutral, nftNeutral(r, i+1, key, sel.Family))
	}
	assemble(im, neutral, policy)
	im.Entries = append(im.Entries, otherNFTChains(chains, rules, sel)...)
	return im, nil
}

func withDefaults(opt Options, chain string) Options {
	if opt.Router == "" {
		opt.Router = DefaultRouter
	}
	if opt.File == "" {
		opt.File = "input"
	}
	if opt.Chain == "" {
		opt.Chain = chain
	}
	return opt
}

func chainKey(family, table, chain string) string { return family + " " + table + " " + chain }

// forwardPath are the hooks forwarded IPv4 packets pass on a router.
var forwardPath = map[string]bool{"prerouting": true, "forward": true, "postrouting": true, "ingress": true, "egress": true}

// seesIPv4 reports whether a table of this family sees IPv4 packets a router forwards.
func seesIPv4(family string) bool { return family == "ip" || family == "inet" || family == "netdev" }

func selectNFTChain(chains []*nftChain, want, file string) (*nftChain, error) {
	if want == "" {
		var fwd []*nftChain
		for _, c := range chains {
			if c.Hook == "forward" && (c.Family == "ip" || c.Family == "inet") && (c.Type == "" || c.Type == "filter") {
				fwd = append(fwd, c)
			}
		}
		switch len(fwd) {
		case 1:
			return fwd[0], nil
		case 0:
			return nil, fmt.Errorf("%w: %s: no forward-hook chain in an ip or inet table; name the chain with --chain 'FAMILY TABLE CHAIN'", ErrInput, file)
		}
		var names []string
		for _, c := range fwd {
			names = append(names, "'"+chainKey(c.Family, c.Table, c.Name)+"'")
		}
		return nil, fmt.Errorf("%w: %s: %d forward-hook chains (%s): pick one with --chain", ErrInput, file, len(fwd), strings.Join(names, ", "))
	}
	f := strings.Fields(want)
	if len(f) < 3 {
		return nil, fmt.Errorf("%w: --chain %q: want 'FAMILY TABLE CHAIN', such as 'inet filter forward'", ErrInput, want)
	}
	family, table, name := f[0], f[1], strings.Join(f[2:], " ")
	var c *nftChain
	for _, x := range chains {
		if x.Family == family && x.Table == table && x.Name == name {
			c = x
		}
	}
	if c == nil {
		var names []string
		for _, x := range chains {
			names = append(names, "'"+chainKey(x.Family, x.Table, x.Name)+"'")
		}
		return nil, fmt.Errorf("%w: %s: no chain %q (chains: %s)", ErrInput, file, want, strings.Join(names, ", "))
	}
	switch {
	case c.Family == "ip6":
		return nil, fmt.Errorf("%w: chain %q is in an ip6 table: portlab's lab is IPv4 only", ErrInput, want)
	case c.Family != "ip" && c.Family != "inet":
		return nil, fmt.Errorf("%w: chain %q is in a %s table: only ip and inet tables filter routed IPv4 traffic", ErrInput, want, c.Family)
	case c.Hook == "":
		return nil, fmt.Errorf("%w: chain %q is a regular chain (no hook): it is reached only by a jump, and has no policy to become the default", ErrInput, want)
	case c.Type == "nat":
		return nil, fmt.Errorf("%w: chain %q is a nat chain: NAT is not modelled", ErrInput, want)
	case c.Hook != "forward":
		return nil, fmt.Errorf("%w: chain %q hooks %s: only a forward-hook chain filters what a router forwards", ErrInput, want, c.Hook)
	}
	return c, nil
}

// otherNFTChains refuses, rule by rule, the other chains that also see the packets a
// router forwards: translating one chain is exact only when the rest let everything
// through unchanged.
func otherNFTChains(chains []*nftChain, rules map[string][]*nftRule, sel *nftChain) []Entry {
	var out []Entry
	for _, c := range chains {
		if c == sel || !forwardPath[c.Hook] || !seesIPv4(c.Family) {
			continue
		}
		key := chainKey(c.Family, c.Table, c.Name)
		reason := fmt.Sprintf("chain %s (type %s, hook %s, priority %s) also sees forwarded packets: importing one chain is exact only when the others are empty", key, c.Type, c.Hook, compact(c.Prio))
		if c.Type == "nat" {
			reason = fmt.Sprintf(reasonNAT, "chain "+key+", hook "+c.Hook)
		}
		for i, r := range rules[key] {
			out = append(out, Entry{Origin: Origin{Chain: key, Number: i + 1, Handle: r.Handle, Text: ruleText(r), other: true}, Outcome: Refused, Reason: reason, Other: true})
		}
	}
	return out
}

// nftNeutral reads one rule's statements.
func nftNeutral(nr *nftRule, number int, chain, family string) rule {
	r := rule{origin: Origin{Chain: chain, Number: number, Handle: nr.Handle, Text: ruleText(nr)}, comment: nr.Comment}
	if family != "inet" && family != "ip" {
		r.refusef("family %s", family)
	}
	for _, s := range nr.Expr {
		if r.verdict != vNone || len(r.alts) > 0 {
			// nft accepts nothing after a verdict; a listing that has something is not one.
			r.refusef("statement after the verdict (%s)", stmtText(s))
			break
		}
		nftStatement(&r, s)
	}
	if r.verdict == vNone && len(r.alts) == 0 && r.log == "" && !r.ctEstRel && len(r.refuse) == 0 {
		r.refusef(reasonNoVerdict, "no accept, drop or reject")
	}
	if r.log != "" && (r.verdict != vNone || len(r.alts) > 0) {
		r.notes = append(r.notes, "the log statement is not modelled (portlab counts the rule instead)")
	}
	return r
}

func nftStatement(r *rule, s nftStmt) {
	switch s.Kind {
	case "match":
		var m nftMatch
		if err := json.Unmarshal(s.Body, &m); err != nil {
			r.refusef("unreadable match: %v", err)
			return
		}
		nftMatchStmt(r, &m)
	case "counter":
		// A counter next to a verdict changes nothing; portlab counts every rule anyway.
	case "accept":
		r.verdict = vAccept
	case "drop":
		r.verdict = vDrop
	case "return":
		r.verdict = vReturn
	case "reject":
		r.verdict = vReject
		var rj nftReject
		if !isNull(s.Body) {
			if err := json.Unmarshal(s.Body, &rj); err != nil {
				r.refusef("unreadable reject: %v", err)
				return
			}
		}
		nftRejectKind(r, rj)
	case "continue":
		r.refusef(reasonNoVerdict, "continue")
	case "jump", "goto":
		var t nftTarget
		json.Unmarshal(s.Body, &t)
		r.refusef(reasonJump, s.Kind, t.Target)
	case "log":
		r.log = "log"
	case "limit", "meter":
		r.refusef(reasonRate, stmtText(s))
	case "quota":
		r.refusef("quota (%s): portlab rules do not count bytes toward a limit", stmtText(s))
	case "set", "map":
		r.refusef("set update (%s): portlab does not model dynamic sets", stmtText(s))
	case "mangle":
		var m nftMangle
		json.Unmarshal(s.Body, &m)
		if m.Key.Key == "mark" && (m.Key.Kind == "meta" || m.Key.Kind == "ct") {
			r.refusef(reasonMark, stmtText(s))
		} else {
			r.refusef("packet change (%s): portlab rules do not change packets", stmtText(s))
		}
	case "snat", "dnat", "masquerade", "redirect":
		r.refusef(reasonNAT, stmtText(s))
	case "xt":
		r.refusef("iptables-nft compatibility expression (%s): nft cannot show what it matches; import this ruleset from iptables-save output with `portlab import iptables`", stmtText(s))
	case "vmap":
		var v nftVmap
		if err := json.Unmarshal(s.Body, &v); err != nil {
			r.refusef("unreadable vmap: %v", err)
			return
		}
		nftVmapStmt(r, &v)
	default:
		r.refusef("statement %s is not modelled (%s)", s.Kind, stmtText(s))
	}
}

func nftRejectKind(r *rule, rj nftReject) {
	switch {
	case rj.Type == "tcp reset":
		r.reject = rejTCPReset
		r.restrictProto([]scenarios.Proto{scenarios.ProtoTCP}, "reject with tcp reset")
	case rj.Type == "icmpv6":
		r.v6only = "reject with icmpv6 " + rj.Expr
	case rj.Type == "", rj.Type == "icmp" || rj.Type == "icmpx":
		if rj.Expr == "" || rj.Expr == "port-unreachable" {
			r.reject = rejPortUnreach
			return
		}
		r.refusef(reasonRejectWith, strings.TrimSpace(rj.Type+" "+rj.Expr))
	default:
		r.refusef(reasonRejectWith, strings.TrimSpace(rj.Type+" "+rj.Expr))
	}
}

func nftMatchStmt(r *rule, m *nftMatch) {
	what := m.Left.text()
	switch m.Left.Kind {
	case "payload":
		nftPayloadMatch(r, m, what)
		return
	case "meta":
		nftMetaMatch(r, m, what)
		return
	case "ct":
		r.matches++
		switch m.Left.Key {
		case "state":
			if r.ctEstRel {
				r.refusef("matches ct state twice")
			}
			nftCtState(r, m)
			r.matches--
		case "mark":
			r.refusef(reasonMark, what)
		case "status":
			v := m.Right.text()
			if strings.Contains(v, "dnat") || strings.Contains(v, "snat") {
				r.refusef(reasonNAT, what+" "+v)
			} else {
				r.refusef("%s %s: portlab does not model conntrack status", what, v)
			}
		default:
			r.refusef("%s: portlab's table models no conntrack field other than established/related", what)
		}
		return
	case "concat":
		r.refusef("concatenation (%s): portlab rules match fields one by one; write one rule per element", what)
	case "&", "|", "^", "<<", ">>":
		r.refusef("bitwise match (%s %s): not modelled", what, m.Right.text())
	default:
		r.refusef("%s expression (%s): not modelled", m.Left.Kind, what)
	}
	r.matches++
}

// nftEq checks the operator of a value match: equality (or set membership) only.
func nftEq(r *rule, m *nftMatch, what string) bool {
	switch m.Op {
	case "==", "in":
		return true
	case "!=":
		r.refusef(reasonNegation, what+" != "+m.Right.text())
	default:
		r.refusef("comparison %s %s %s: not supported for %s", what, m.Op, m.Right.text(), what)
	}
	return false
}

func nftPayloadMatch(r *rule, m *nftMatch, what string) {
	r.matches++
	if m.Left.Base != "" {
		r.refusef("raw payload match (%s): not modelled", what)
		return
	}
	proto, field := m.Left.Protocol, m.Left.Field
	switch proto {
	case "ip":
		switch field {
		case "saddr", "daddr":
			if !nftEq(r, m, what) {
				return
			}
			if ps, ok := nftAddrs(r, &m.Right, what); ok {
				r.setAddrs(field == "daddr", ps, what)
			}
		case "protocol":
			if nftEq(r, m, what) {
				nftProtos(r, &m.Right, what)
			}
		default:
			r.refusef("%s: portlab rules match no IP header field but addresses and protocol", what)
		}
	case "ip6", "icmpv6":
		r.v6only = what
	case "tcp", "udp":
		p := scenarios.Proto(proto)
		r.restrictProto([]scenarios.Proto{p}, what)
		switch field {
		case "dport":
			nftPorts(r, m, what)
		case "sport":
			r.refusef(reasonSport, what)
		case "flags":
			r.refusef("tcp flags (%s %s): portlab rules do not look at TCP flags", what, m.Right.text())
		default:
			r.refusef("%s: portlab rules match no %s header field but the destination port", what, proto)
		}
	case "th":
		switch field {
		case "dport":
			r.needL4 = what
			nftPorts(r, m, what)
		case "sport":
			r.refusef(reasonSport, what)
		default:
			r.refusef("%s: not modelled", what)
		}
	case "icmp":
		r.restrictProto([]scenarios.Proto{scenarios.ProtoICMP}, what)
		r.refusef(reasonICMPType, what+" "+m.Right.text())
	case "sctp", "dccp", "udplite", "esp", "ah", "comp", "gre":
		r.refusef(reasonProto, proto)
	case "ether", "vlan", "arp":
		r.refusef("link-layer match (%s): not modelled", what)
	default:
		r.refusef("%s: not modelled", what)
	}
}

func nftMetaMatch(r *rule, m *nftMatch, what string) {
	r.matches++
	switch m.Left.Key {
	case "l4proto":
		if nftEq(r, m, what) {
			nftProtos(r, &m.Right, what)
		}
	case "nfproto", "protocol":
		if !nftEq(r, m, what) {
			return
		}
		var v4, v6, other bool
		for _, v := range nftValues(&m.Right) {
			switch v.Str {
			case "ipv4", "ip":
				v4 = true
			case "ipv6", "ip6":
				v6 = true
			default:
				other = true
			}
		}
		switch {
		case other:
			r.refusef("%s %s: portlab rules match IPv4 only", what, m.Right.text())
		case v6 && !v4:
			r.v6only = what + " " + m.Right.text()
		}
	case "iifname", "oifname", "iif", "oif", "iiftype", "oiftype", "iifgroup", "oifgroup",
		"iifkind", "oifkind", "ibrname", "obrname", "ibriport", "obriport", "sdif", "sdifname":
		r.refusef(reasonInterface, what+" "+m.Right.text())
	case "mark":
		r.refusef(reasonMark, what)
	default:
		r.refusef("%s: portlab rules do not match packet metadata", what)
	}
}

// nftValues flattens a right-hand side into its elements: an immediate, a list (flags),
// or an anonymous set (elements possibly wrapped in elem).
func nftValues(e *nftExpr) []nftExpr {
	switch e.Kind {
	case "set", "list":
		var out []nftExpr
		for i := range e.List {
			el := e.List[i]
			if el.Kind == "elem" && el.Val != nil {
				el = *el.Val
			}
			out = append(out, el)
		}
		return out
	case "elem":
		if e.Val != nil {
			return []nftExpr{*e.Val}
		}
	}
	return []nftExpr{*e}
}

func namedSet(r *rule, e *nftExpr, what string) bool {
	if e.Kind == "string" && strings.HasPrefix(e.Str, "@") {
		r.refusef("named set %s (%s %s): its elements can change at run time; portlab does not model sets", e.Str, what, e.Str)
		return true
	}
	return false
}

// nftProtos reads a protocol match (meta l4proto, ip protocol).
func nftProtos(r *rule, e *nftExpr, what string) {
	if namedSet(r, e, what) {
		return
	}
	var ps []scenarios.Proto
	v6 := false
	for _, v := range nftValues(e) {
		name := v.Str
		switch {
		case v.Kind == "number" && v.Int:
			name = map[int64]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}[v.Num]
			if name == "" {
				name = v.Str
			}
		case v.Kind != "string":
			r.refusef("%s %s: not a protocol", what, v.text())
			return
		}
		switch name {
		case "tcp", "udp", "icmp":
			ps = append(ps, scenarios.Proto(name))
		case "ipv6-icmp", "icmpv6":
			v6 = true
		default:
			r.refusef(reasonProto, name)
			return
		}
	}
	if len(ps) == 0 && v6 {
		r.v6only = what + " " + e.text()
		return
	}
	if v6 {
		r.notes = append(r.notes, "ipv6-icmp left out: the lab is IPv4 only")
	}
	r.restrictProto(ps, what)
}

// nftPorts reads a destination port match.
func nftPorts(r *rule, m *nftMatch, what string) {
	if namedSet(r, &m.Right, what) {
		return
	}
	one := func(v *nftExpr) (portRange, bool) {
		switch v.Kind {
		case "number":
			if v.Int {
				return portRange{int(v.Num), int(v.Num)}, true
			}
		case "string":
			if n, err := strconv.Atoi(v.Str); err == nil {
				return portRange{n, n}, true
			}
			r.refusef("port %q is a service name: list the ruleset with numeric ports", v.Str)
			return portRange{}, false
		case "range":
			if len(v.List) == 2 && v.List[0].Int && v.List[1].Int {
				return portRange{int(v.List[0].Num), int(v.List[1].Num)}, true
			}
		}
		r.refusef("%s %s: not a port, port range or anonymous set of them", what, v.text())
		return portRange{}, false
	}
	var rs []portRange
	switch m.Op {
	case "==", "in":
		for _, v := range nftValues(&m.Right) {
			pr, ok := one(&v)
			if !ok {
				return
			}
			rs = append(rs, pr)
		}
	case "!=":
		r.refusef(reasonNegation, what+" != "+m.Right.text())
		return
	case "<", ">", "<=", ">=", "⇐":
		if !m.Right.Int {
			r.refusef("comparison %s %s %s: not a number", what, m.Op, m.Right.text())
			return
		}
		n := int(m.Right.Num)
		switch m.Op {
		case "<":
			rs = []portRange{{0, n - 1}}
		case "<=", "⇐":
			rs = []portRange{{0, n}}
		case ">":
			rs = []portRange{{n + 1, 65535}}
		case ">=":
			rs = []portRange{{n, 65535}}
		}
	default:
		r.refusef("comparison %s %s %s: not supported", what, m.Op, m.Right.text())
		return
	}
	r.setPorts(finishPorts(r, rs), what)
}

// nftAddrs reads an IPv4 address match: an address, prefix, range or anonymous set.
func nftAddrs(r *rule, e *nftExpr, what string) ([]netip.Prefix, bool) {
	if namedSet(r, e, what) {
		return nil, false
	}
	var out []netip.Prefix
	for _, v := range nftValues(e) {
		switch v.Kind {
		case "string":
			a, err := netip.ParseAddr(v.Str)
			if err != nil || !a.Is4() {
				r.refusef("%s %s: not an IPv4 address", what, v.text())
				return nil, false
			}
			out = append(out, netip.PrefixFrom(a, 32))
		case "prefix":
			a, err := netip.ParseAddr(v.Addr.Str)
			if err != nil || !a.Is4() || v.Len < 0 || v.Len > 32 {
				r.refusef("%s %s: not an IPv4 prefix", what, v.text())
				return nil, false
			}
			out = append(out, netip.PrefixFrom(a, int(v.Len)).Masked())
		case "range":
			var lo, hi netip.Addr
			var err1, err2 error
			if len(v.List) == 2 {
				lo, err1 = netip.ParseAddr(v.List[0].Str)
				hi, err2 = netip.ParseAddr(v.List[1].Str)
			}
			ps := rangePrefixes(lo, hi)
			if len(v.List) != 2 || err1 != nil || err2 != nil || len(ps) == 0 {
				r.refusef("%s %s: not an IPv4 address range", what, v.text())
				return nil, false
			}
			out = append(out, ps...)
		default:
			r.refusef("%s %s: not an address, prefix, range or anonymous set of them", what, v.text())
			return nil, false
		}
	}
	return out, true
}

// nftCtState reads a ct state match: only {established, related} translates (as the
// stateful table portlab always has).
func nftCtState(r *rule, m *nftMatch) {
	if m.Op != "==" && m.Op != "in" {
		r.refusef(reasonNegation, "ct state "+m.Op+" "+m.Right.text())
		return
	}
	var states []string
	for _, v := range nftValues(&m.Right) {
		states = append(states, v.Str)
	}
	slices.Sort(states)
	states = slices.Compact(states)
	switch strings.Join(states, ",") {
	case "established,related":
		r.ctEstRel = true
	case "new":
		r.refusef(reasonCtNew)
	default:
		r.refusef(reasonCtState, m.Right.text())
	}
}

// nftVmapStmt expands a verdict map into one alternative per element: the elements'
// keys never overlap, so the order of the expansion does not matter.
func nftVmapStmt(r *rule, v *nftVmap) {
	if namedSet(r, &v.Data, "vmap") {
		return
	}
	if v.Data.Kind != "set" {
		r.refusef("vmap %s: not an anonymous verdict map", v.Data.text())
		return
	}
	key := v.Key.text()
	if v.Key.Kind == "ct" && v.Key.Key == "state" {
		// ct state vmap { established : accept, related : accept, ... }: the stateful
		// table when every element accepts established or related.
		for _, el := range v.Data.List {
			if el.Kind != "list" || len(el.List) != 2 {
				r.refusef("vmap element %s: not a key : verdict pair", el.text())
				return
			}
			k, verdict := el.List[0].text(), el.List[1].Kind
			if (k != "established" && k != "related") || verdict != "accept" {
				r.refusef(reasonCtState, k+" : "+verdict)
			}
		}
		if len(r.refuse) == 0 {
			r.ctEstRel, r.verdict = true, vAccept
		}
		return
	}
	for _, el := range v.Data.List {
		if el.Kind != "list" || len(el.List) != 2 {
			r.refusef("vmap element %s: not a key : verdict pair", el.text())
			return
		}
		alt := *r
		alt.refuse, alt.notes, alt.alts = slices.Clone(r.refuse), slices.Clone(r.notes), nil
		m := nftMatch{Op: "==", Left: v.Key, Right: el.List[0]}
		alt.matches--
		nftMatchStmt(&alt, &m)
		switch vk := el.List[1].Kind; vk {
		case "accept":
			alt.verdict = vAccept
		case "drop":
			alt.verdict = vDrop
		case "return":
			alt.verdict = vReturn
		case "continue":
			alt.verdict = vNone
		case "jump", "goto":
			alt.refusef(reasonJump, vk, strings.TrimPrefix(el.List[1].text(), vk+" "))
		default:
			alt.refusef("vmap verdict %s: not modelled", el.List[1].text())
		}
		r.alts = append(r.alts, alt)
	}
	if len(r.alts) == 0 {
		r.refusef("vmap on %s: an empty verdict map", key)
	}
	r.matches++
}
