package fwimport

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/portlab/portlab/scenarios"
)

// JSON builders for one nft rule's statements, as `nft -j list ruleset` writes them.
func pl(proto, field string) string {
	return fmt.Sprintf(`{"payload":{"protocol":%q,"field":%q}}`, proto, field)
}
func meta(key string) string { return fmt.Sprintf(`{"meta":{"key":%q}}`, key) }
func ct(key string) string   { return fmt.Sprintf(`{"ct":{"key":%q}}`, key) }
func match(op, left, right string) string {
	return fmt.Sprintf(`{"match":{"op":%q,"left":%s,"right":%s}}`, op, left, right)
}
func eq(left, right string) string { return match("==", left, right) }
func prefix(a string, n int) string {
	return fmt.Sprintf(`{"prefix":{"addr":%q,"len":%d}}`, a, n)
}

const (
	accept  = `{"accept":null}`
	drop    = `{"drop":null}`
	counter = `{"counter":{"packets":0,"bytes":0}}`
	ctEstab = `{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}}`
)

// nftListingOf is a listing with one chain, inet filter forward (policy accept): a
// leading ct state established,related accept, then one rule per statements list.
func nftListingOf(rules ...[]string) []byte {
	var b strings.Builder
	b.WriteString(`{"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}},` +
		`{"table":{"family":"inet","name":"filter","handle":1}},` +
		`{"chain":{"family":"inet","table":"filter","name":"forward","handle":1,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},` +
		`{"rule":{"family":"inet","table":"filter","chain":"forward","handle":2,"expr":[` + ctEstab + `,` + accept + `]}}`)
	for i, r := range rules {
		fmt.Fprintf(&b, `,{"rule":{"family":"inet","table":"filter","chain":"forward","handle":%d,"expr":[%s]}}`, i+3, strings.Join(r, ","))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func testMap(t *testing.T) []Mapping {
	var ms []Mapping
	for _, s := range []string{"198.18.16.0/20=lan", "198.18.32.0/20=internet", "198.19.1.0/24=dc"} {
		m, err := ParseMapping(s)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// entry2 imports the listing and returns the entry of the chain's rule 2 (rule 1 is
// the leading ct rule).
func entry2(t *testing.T, im *Import) Entry {
	t.Helper()
	for _, e := range im.Entries {
		if !e.Other && e.Number == 2 {
			return e
		}
	}
	t.Fatalf("no rule 2 in %+v", im.Entries)
	return Entry{}
}

// Every refusal the importer makes, one nft rule each, with its exact reason.
func TestNFTRefusals(t *testing.T) {
	cases := []struct {
		name  string
		stmts []string
		want  string
	}{
		// NAT
		{"dnat", []string{eq(pl("tcp", "dport"), "80"), `{"dnat":{"addr":"198.19.1.2","port":8080}}`},
			"NAT (dnat to 198.19.1.2:8080): portlab does not translate addresses; the filter would see translated addresses"},
		{"snat", []string{`{"snat":{"addr":"198.19.1.1"}}`},
			"NAT (snat to 198.19.1.1): portlab does not translate addresses; the filter would see translated addresses"},
		{"masquerade", []string{`{"masquerade":null}`},
			"NAT (masquerade): portlab does not translate addresses; the filter would see translated addresses"},
		{"redirect", []string{`{"redirect":{"port":3128}}`},
			`NAT (redirect {"port":3128}): portlab does not translate addresses; the filter would see translated addresses`},
		{"ct status dnat", []string{match("in", ct("status"), `"dnat"`), accept},
			"NAT (ct status dnat): portlab does not translate addresses; the filter would see translated addresses"},
		// marks
		{"meta mark", []string{eq(meta("mark"), "1"), accept},
			"marks (meta mark): portlab does not model packet or connection marks"},
		{"ct mark", []string{eq(ct("mark"), "2"), drop},
			"marks (ct mark): portlab does not model packet or connection marks"},
		{"meta mark set", []string{`{"mangle":{"key":{"meta":{"key":"mark"}},"value":3}}`, accept},
			"marks (meta mark set 3): portlab does not model packet or connection marks"},
		{"ct mark set", []string{`{"mangle":{"key":{"ct":{"key":"mark"}},"value":3}}`, accept},
			"marks (ct mark set 3): portlab does not model packet or connection marks"},
		// sets
		{"named address set", []string{eq(pl("ip", "saddr"), `"@blocked"`), drop},
			"named set @blocked (ip saddr @blocked): its elements can change at run time; portlab does not model sets"},
		{"named port set", []string{eq(pl("tcp", "dport"), `"@ports"`), accept},
			"named set @ports (tcp dport @ports): its elements can change at run time; portlab does not model sets"},
		{"named verdict map", []string{`{"vmap":{"key":` + pl("tcp", "dport") + `,"data":"@vm"}}`},
			"named set @vm (vmap @vm): its elements can change at run time; portlab does not model sets"},
		{"concatenation", []string{eq(`{"concat":[`+pl("ip", "saddr")+`,`+pl("tcp", "dport")+`]}`, `{"set":[{"concat":["198.18.16.1",22]}]}`), accept},
			"concatenation (ip saddr . tcp dport): portlab rules match fields one by one; write one rule per element"},
		{"set update", []string{`{"set":{"op":"add","elem":` + pl("ip", "saddr") + `,"set":"@seen"}}`, accept},
			`set update (set {"op":"add","elem":{"payload":{"protocol":"ip","field":"saddr"}},"set":"@seen"}): portlab does not model dynamic sets`},
		// interfaces
		{"iifname", []string{eq(meta("iifname"), `"eth0"`), accept},
			"interface match (iifname eth0): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"},
		{"oif", []string{eq(meta("oif"), `"eth1"`), drop},
			"interface match (oif eth1): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"},
		// connection states
		{"ct state invalid", []string{match("in", ct("state"), `"invalid"`), drop},
			"ct state invalid: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"},
		{"ct state new", []string{match("in", ct("state"), `"new"`), eq(pl("tcp", "dport"), "443"), accept},
			"ct state new: portlab's rules see every packet that is not established or related, new and invalid alike; remove `ct state new`/--ctstate NEW from the source rule if invalid packets do not matter to the rehearsal"},
		{"ct state established only", []string{match("in", ct("state"), `"established"`), accept},
			"ct state established: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"},
		{"ct state not leading", []string{ctEstab, accept},
			"ct state established,related accept after other rules: portlab accepts established and related traffic before every rule, so only a leading one translates"},
		{"ct state negated", []string{match("!=", ct("state"), `"established"`), drop},
			"negation (ct state != established): portlab rules cannot express 'everything but'"},
		{"ct state vmap invalid", []string{`{"vmap":{"key":` + ct("state") + `,"data":{"set":[["established",{"accept":null}],["invalid",{"drop":null}]]}}}`},
			"ct state invalid : drop: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"},
		{"ct other key", []string{eq(ct("direction"), `"original"`), accept},
			"ct direction: portlab's table models no conntrack field other than established/related"},
		// jumps
		{"jump", []string{`{"jump":{"target":"web"}}`},
			"jump to chain web: portlab has one rule list; inline that chain's rules into this one"},
		{"goto", []string{eq(pl("tcp", "dport"), "21"), `{"goto":{"target":"ftp"}}`},
			"goto to chain ftp: portlab has one rule list; inline that chain's rules into this one"},
		{"vmap jump", []string{`{"vmap":{"key":` + pl("tcp", "dport") + `,"data":{"set":[[22,{"jump":{"target":"ssh"}}]]}}}`},
			"jump to chain ssh: portlab has one rule list; inline that chain's rules into this one"},
		// logging only, counters only, no verdict
		{"log only", []string{`{"log":{"prefix":"fwd "}}`},
			"logging only (log): no verdict; pass --skip-log to skip logging-only rules (listed in the output)"},
		{"counter only", []string{counter},
			"no verdict (no accept, drop or reject): the rule only counts or marks and lets the packet go on to the next rule; portlab rules always decide"},
		{"continue", []string{eq(pl("tcp", "dport"), "443"), `{"continue":null}`},
			"no verdict (continue): the rule only counts or marks and lets the packet go on to the next rule; portlab rules always decide"},
		// rates, quotas
		{"limit", []string{`{"limit":{"rate":10,"burst":5,"per":"second"}}`, accept},
			"rate limit (limit rate 10/second): portlab rules match every packet, they cannot limit a rate"},
		{"meter", []string{`{"meter":{"name":"m","key":` + pl("ip", "saddr") + `,"stmt":{"limit":{"rate":1,"per":"second"}}}}`, accept},
			`rate limit (meter {"name":"m","key":{"payload":{"protocol":"ip","field":"saddr"}},"stmt":{"limit":{"rate":1,"per":"second"}}}): portlab rules match every packet, they cannot limit a rate`},
		{"quota", []string{`{"quota":{"val":10,"val_unit":"mbytes"}}`, drop},
			"quota (quota 10 mbytes): portlab rules do not count bytes toward a limit"},
		// negations
		{"negated address", []string{match("!=", pl("ip", "saddr"), prefix("198.18.16.0", 20)), drop},
			"negation (ip saddr != 198.18.16.0/20): portlab rules cannot express 'everything but'"},
		{"negated port", []string{match("!=", pl("tcp", "dport"), "22"), accept},
			"negation (tcp dport != 22): portlab rules cannot express 'everything but'"},
		{"negated protocol", []string{match("!=", meta("l4proto"), `"tcp"`), drop},
			"negation (meta l4proto != tcp): portlab rules cannot express 'everything but'"},
		// IPv6-only rules in an inet table
		{"ip6 saddr", []string{eq(pl("ip6", "saddr"), `"2001:db8::1"`), accept},
			"matches only IPv6 (ip6 saddr): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"},
		{"nfproto ipv6", []string{eq(meta("nfproto"), `"ipv6"`), drop},
			"matches only IPv6 (meta nfproto ipv6): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"},
		{"icmpv6 type", []string{eq(pl("icmpv6", "type"), `"nd-router-advert"`), accept},
			"matches only IPv6 (icmpv6 type): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"},
		{"l4proto ipv6-icmp", []string{eq(meta("l4proto"), `"ipv6-icmp"`), accept},
			"matches only IPv6 (meta l4proto ipv6-icmp): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"},
		{"reject with icmpv6", []string{`{"reject":{"type":"icmpv6","expr":"admin-prohibited"}}`},
			"matches only IPv6 (reject with icmpv6 admin-prohibited): the lab is IPv4 only; pass --ipv4-only to skip IPv6-only rules (listed in the output)"},
		// icmp types, source ports, flags, header fields
		{"icmp type", []string{eq(pl("icmp", "type"), `"echo-request"`), accept},
			"icmp type/code match (icmp type echo-request): portlab's icmp rules match every icmp packet"},
		{"tcp sport", []string{eq(pl("tcp", "sport"), "80"), accept},
			"source port match (tcp sport): portlab rules match destination ports only"},
		{"tcp flags", []string{match("in", pl("tcp", "flags"), `"syn"`), drop},
			"tcp flags (tcp flags syn): portlab rules do not look at TCP flags"},
		{"ip ttl", []string{eq(pl("ip", "ttl"), "1"), drop},
			"ip ttl: portlab rules match no IP header field but addresses and protocol"},
		{"raw payload", []string{eq(`{"payload":{"base":"th","offset":16,"len":16}}`, "80"), drop},
			"raw payload match (@th,16,16): not modelled"},
		{"fib", []string{eq(`{"fib":{"result":"type","flags":["daddr"]}}`, `"local"`), accept},
			`fib expression ({"fib":{"result":"type","flags":["daddr"]}}): not modelled`},
		{"xt", []string{`{"xt":{"type":"match","name":"owner"}}`, accept},
			`iptables-nft compatibility expression (xt {"type":"match","name":"owner"}): nft cannot show what it matches; import this ruleset from iptables-save output with ` + "`portlab import iptables`"},
		{"notrack", []string{`{"notrack":null}`},
			"statement notrack is not modelled (notrack)"},
		// protocols and ports
		{"sctp", []string{eq(meta("l4proto"), `"sctp"`), drop},
			"protocol sctp: portlab rules match tcp, udp, icmp or any protocol"},
		{"th dport alone", []string{eq(pl("th", "dport"), "53"), accept},
			"th dport without `meta l4proto tcp` or `udp` also matches other protocols with ports (sctp, dccp, udplite): portlab ports are tcp or udp"},
		{"conflicting protocols", []string{eq(meta("l4proto"), `"udp"`), eq(pl("tcp", "dport"), "53"), accept},
			"tcp dport conflicts with the rule's other protocol match (udp): the rule can never match"},
		{"port 0", []string{eq(pl("tcp", "dport"), `{"range":[0,1023]}`), drop},
			"port range 0-1023 includes port 0, which portlab cannot express: start the range at 1"},
		{"ports below", []string{match("<", pl("tcp", "dport"), "1024"), drop},
			"port range 0-1023 includes port 0, which portlab cannot express: start the range at 1"},
		{"ports twice", []string{eq(pl("tcp", "dport"), `{"range":[1,100]}`), eq(pl("tcp", "dport"), "50"), accept},
			"matches destination ports twice (tcp dport): not supported"},
		{"service name", []string{eq(pl("tcp", "dport"), `"https"`), accept},
			`port "https" is a service name: list the ruleset with numeric ports`},
		// reject types
		{"reject host-unreachable", []string{`{"reject":{"type":"icmp","expr":"host-unreachable"}}`},
			"reject with icmp host-unreachable: portlab's reject answers TCP with a reset and everything else with ICMP port unreachable"},
		{"reject admin-prohibited", []string{`{"reject":{"type":"icmpx","expr":"admin-prohibited"}}`},
			"reject with icmpx admin-prohibited: portlab's reject answers TCP with a reset and everything else with ICMP port unreachable"},
		{"reject tcp with icmp", []string{eq(pl("tcp", "dport"), "80"), `{"reject":{"type":"icmpx","expr":"port-unreachable"}}`},
			"reject answers TCP with ICMP port unreachable; portlab's reject answers TCP with a reset (use `reject with tcp reset`/--reject-with tcp-reset for TCP)"},
		{"reject everything", []string{`{"reject":null}`},
			"reject answers TCP with ICMP port unreachable; portlab's reject answers TCP with a reset (use `reject with tcp reset`/--reject-with tcp-reset for TCP)"},
		// addresses and the map
		{"unmapped address", []string{eq(pl("ip", "daddr"), `"198.18.200.7"`), drop},
			"destination 198.18.200.7/32 is not mapped to a segment: add --map 198.18.200.7/32=SEGMENT (or a line `198.18.200.7/32 SEGMENT` to the --map-file)"},
		{"prefix larger than a mapping", []string{eq(pl("ip", "saddr"), prefix("198.18.0.0", 15)), drop},
			"source 198.18.0.0/15 is larger than the mapped 198.18.16.0/20 = lan, 198.18.32.0/20 = internet, 198.19.1.0/24 = dc: portlab rules match whole segments, so the rest of 198.18.0.0/15 has no segment to stand for it"},
		{"range across segments", []string{eq(pl("ip", "saddr"), `{"range":["198.18.16.0","198.18.40.255"]}`), drop},
			"source 198.18.32.0/21 lies inside 198.18.32.0/20 = internet: the rule applies to all of segment internet; source 198.18.40.0/24 lies inside 198.18.32.0/20 = internet: the rule applies to all of segment internet; expanded into 2 portlab rules that together do what it does"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := [][]string{c.stmts}
			if c.name == "ct state not leading" {
				// A second leading ct rule is as implied as the first: put a rule before it.
				rules = [][]string{{eq(pl("tcp", "dport"), "22"), drop}, c.stmts}
			}
			im, err := ImportNFT(nftListingOf(rules...), Options{File: "t.json", Map: testMap(t)})
			if err != nil {
				t.Fatal(err)
			}
			e := entry2(t, im)
			if len(rules) == 2 {
				e = im.Entries[2]
			}
			if c.name == "range across segments" {
				// Translates: the note is the point.
				if e.Outcome != Translated || strings.Join(e.Notes, "; ") != c.want {
					t.Fatalf("got %v %q, notes %q", e.Outcome, e.Reason, e.Notes)
				}
				return
			}
			if e.Outcome != Refused {
				t.Fatalf("rule %d %s, want refused (%s)", e.Number, e.Outcome, e.Text)
			}
			if e.Reason != c.want {
				t.Errorf("reason\n got: %s\nwant: %s", e.Reason, c.want)
			}
			err = im.Err()
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), e.Where()+": "+e.Text+"\n      "+c.want) {
				t.Errorf("Err() does not list %s with its reason:\n%v", e.Where(), err)
			}
		})
	}
}

// Skipping on request: --skip-log and --ipv4-only turn refusals into listed skips.
func TestNFTSkips(t *testing.T) {
	listing := nftListingOf(
		[]string{`{"log":{"prefix":"fwd "}}`},
		[]string{eq(pl("ip6", "saddr"), `"2001:db8::1"`), accept},
		[]string{`{"vmap":{"key":` + meta("l4proto") + `,"data":{"set":[["ipv6-icmp",{"accept":null}],["tcp",{"drop":null}]]}}}`},
		[]string{eq(pl("tcp", "dport"), "443"), accept},
	)
	im, err := ImportNFT(listing, Options{File: "t.json", SkipLog: true, IPv4Only: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Err(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		o      Outcome
		reason string
	}{
		{Implied, "implied: portlab's table accepts established and related traffic before any rule"},
		{Skipped, "skipped (--skip-log): logging only, no verdict"},
		{Skipped, "skipped (--ipv4-only): matches only IPv6 (ip6 saddr)"},
		{Translated, ""},
		{Translated, ""},
	}
	for i, w := range want {
		if e := im.Entries[i]; e.Outcome != w.o || e.Reason != w.reason {
			t.Errorf("rule %d: %s %q, want %s %q", i+1, e.Outcome, e.Reason, w.o, w.reason)
		}
	}
	if n := im.Entries[3].Notes; len(n) != 1 || n[0] != "skipped (--ipv4-only): the element matching only IPv6 (meta l4proto ipv6-icmp)" {
		t.Errorf("vmap notes %q", n)
	}
	wantRules := []scenarios.Rule{
		{Name: "r4", Proto: "tcp", Action: "drop"},
		{Name: "r5", Proto: "tcp", Port: scenarios.PortRange{Lo: 443, Hi: 443}, Action: "accept"},
	}
	if fmt.Sprint(im.Firewall.Rules) != fmt.Sprint(wantRules) {
		t.Errorf("rules %v, want %v", im.Firewall.Rules, wantRules)
	}
	y := string(im.YAML())
	for _, s := range []string{"# Flags: --skip-log --ipv4-only.", "skipped (--skip-log)", "skipped (--ipv4-only)"} {
		if !strings.Contains(y, s) {
			t.Errorf("output lacks %q:\n%s", s, y)
		}
	}
}

// Exact translations of the forms the importer supports.
func TestNFTTranslations(t *testing.T) {
	cases := []struct {
		name  string
		stmts []string
		want  string // the rules as flowRule renders them, one per line
	}{
		{"port set", []string{eq(pl("tcp", "dport"), `{"set":[80,443,{"range":[8000,8999]}]}`), accept},
			"{name: r2-1, proto: tcp, port: 80, action: accept}\n{name: r2-2, proto: tcp, port: 443, action: accept}\n{name: r2-3, proto: tcp, port: 8000-8999, action: accept}"},
		{"ports above", []string{match(">", pl("udp", "dport"), "1023"), drop},
			"{name: r2, proto: udp, port: 1024-65535, action: drop}"},
		{"every port", []string{eq(pl("udp", "dport"), `{"range":[0,65535]}`), drop},
			"{name: r2, proto: udp, action: drop}"},
		{"address set to segments", []string{eq(pl("ip", "saddr"), `{"set":[`+prefix("198.18.16.0", 20)+`,"198.18.33.1"]}`), eq(pl("ip", "daddr"), prefix("198.19.1.0", 24)), `{"reject":{"type":"tcp reset"}}`},
			"{name: r2-1, proto: tcp, from: lan, to: dc, action: reject}\n{name: r2-2, proto: tcp, from: internet, to: dc, action: reject}"},
		{"protocol numbers", []string{eq(pl("ip", "protocol"), `{"set":[6,17]}`), eq(pl("th", "dport"), "53"), drop},
			"{name: r2-1, proto: tcp, port: 53, action: drop}\n{name: r2-2, proto: udp, port: 53, action: drop}"},
		{"icmp", []string{eq(meta("l4proto"), `"icmp"`), `{"reject":{"type":"icmp","expr":"port-unreachable"}}`},
			"{name: r2, proto: icmp, action: reject}"},
		{"udp reject default", []string{eq(pl("udp", "dport"), "9"), `{"reject":null}`},
			"{name: r2, proto: udp, port: 9, action: reject}"},
		{"0.0.0.0/0 is any", []string{eq(pl("ip", "saddr"), prefix("0.0.0.0", 0)), counter, `{"log":null}`, drop},
			"{name: r2, proto: any, action: drop}"},
		{"return is the policy", []string{eq(pl("tcp", "dport"), "23"), `{"return":null}`},
			"{name: r2, proto: tcp, port: 23, action: accept}"},
		{"verdict map", []string{`{"vmap":{"key":` + pl("ip", "daddr") + `,"data":{"set":[[` + prefix("198.19.1.0", 24) + `,{"drop":null}],["198.18.16.9",{"continue":null}],[` + prefix("198.18.32.0", 20) + `,{"accept":null}]]}}}`},
			"{name: r2-1, proto: any, to: dc, action: drop}\n{name: r2-2, proto: any, to: internet, action: accept}"},
		{"nfproto ipv4 is no constraint", []string{eq(meta("nfproto"), `"ipv4"`), eq(pl("tcp", "dport"), "22"), drop},
			"{name: r2, proto: tcp, port: 22, action: drop}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err := ImportNFT(nftListingOf(c.stmts), Options{File: "t.json", Map: testMap(t)})
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Err(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range im.Firewall.Rules {
				got = append(got, flowRule(r))
			}
			if strings.Join(got, "\n") != c.want {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), c.want)
			}
		})
	}
}

// A rule's comment names its portlab rules when it is a valid, unused rule name.
func TestRuleNames(t *testing.T) {
	rule := func(comment string) string {
		return `{"rule":{"family":"inet","table":"filter","chain":"forward","handle":9,"comment":` + fmt.Sprintf("%q", comment) +
			`,"expr":[` + eq(pl("tcp", "dport"), "22") + `,` + drop + `]}}`
	}
	base := string(nftListingOf())
	listing := strings.TrimSuffix(base, "]}") + "," + rule("ssh") + "," + rule("ssh") + "," + rule("Not A Name") + "," + rule("default") + "]}"
	im, err := ImportNFT([]byte(listing), Options{File: "t.json"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range im.Firewall.Rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "ssh r3 r4 r5" {
		t.Errorf("names %s", got)
	}
}

func TestNFTInputErrors(t *testing.T) {
	chain := func(extra string) string {
		return `{"nftables":[{"table":{"family":"inet","name":"filter","handle":1}},` + extra + `]}`
	}
	fwd := `{"chain":{"family":"inet","table":"filter","name":"forward","handle":1,"type":"filter","hook":"forward","prio":0,"policy":"accept"}}`
	cases := []struct {
		name, data, chain, want string
	}{
		{"not json", "table inet filter {", "", "not an nft JSON listing (`nft -j list ruleset`)"},
		{"no nftables array", `{"foo":[]}`, "", `no "nftables" array`},
		{"two documents", `{"nftables":[]} {"nftables":[]}`, "", "more than one JSON document"},
		{"commands", `{"nftables":[{"add":{"table":{"family":"inet","name":"x"}}}]}`, "", `"add" is a command of nft's JSON input, not part of a listing`},
		{"object with two keys", `{"nftables":[{"table":{},"chain":{}}]}`, "", "has 2 properties, want exactly one naming its kind"},
		{"no forward chain", chain(`{"chain":{"family":"inet","table":"filter","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"accept"}}`), "", "no forward-hook chain in an ip or inet table"},
		{"two forward chains", chain(fwd + `,` + strings.Replace(fwd, `"forward","handle"`, `"fwd2","handle"`, 1)), "", "2 forward-hook chains ('inet filter forward', 'inet filter fwd2'): pick one with --chain"},
		{"unknown chain", chain(fwd), "inet filter nope", `no chain "inet filter nope" (chains: 'inet filter forward')`},
		{"short chain", chain(fwd), "forward", "want 'FAMILY TABLE CHAIN'"},
		{"regular chain", chain(`{"chain":{"family":"inet","table":"filter","name":"web","handle":2}}`), "inet filter web", "is a regular chain (no hook)"},
		{"ip6 chain", chain(strings.Replace(fwd, `"inet"`, `"ip6"`, 1)), "ip6 filter forward", "is in an ip6 table: portlab's lab is IPv4 only"},
		{"nat chain", chain(strings.Replace(fwd, `"type":"filter"`, `"type":"nat"`, 1)), "inet filter forward", "is a nat chain: NAT is not modelled"},
		{"input chain", chain(strings.Replace(fwd, `"hook":"forward"`, `"hook":"input"`, 1)), "inet filter forward", "hooks input: only a forward-hook chain filters what a router forwards"},
		{"wrong type", `{"nftables":[{"rule":{"expr":"x"}}]}`, "", "rule: json: cannot unmarshal"},
		{"too deep", `{"nftables":[` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `]}`, "", "JSON nested 72 deep, more than 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ImportNFT([]byte(c.data), Options{File: "t.json", Chain: c.chain})
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrInput containing %q", err, c.want)
			}
		})
	}
}

func TestMappings(t *testing.T) {
	bad := []struct{ in, want string }{
		{"10.1.0.0/16", "want CIDR=SEGMENT"},
		{"10.1.2.3/16=lan", "10.1.2.3/16 has host bits set; did you mean 10.1.0.0/16?"},
		{"2001:db8::/32=lan", "is not IPv4"},
		{"10.1.0.0/16=Lan", `"Lan" is not a segment name`},
		{"ten=lan", `"ten" is not an address or prefix`},
	}
	for _, c := range bad {
		if _, err := ParseMapping(c.in); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseMapping(%q): %v, want %q", c.in, err, c.want)
		}
	}
	m, err := ParseMapping("198.18.16.9=lan")
	if err != nil || m.Prefix.String() != "198.18.16.9/32" {
		t.Errorf("a bare address is a /32: %v %v", m, err)
	}
	ms, err := ParseMapFile("m", []byte("# plan\n198.18.16.0/20 lan # clients\n\n198.19.1.0/24\tdc\n"))
	if err != nil || len(ms) != 2 || ms[1].From != "m:4" {
		t.Errorf("map file: %v %v", ms, err)
	}
	if _, err := ParseMapFile("m", []byte("198.18.16.0/20 lan extra\n")); err == nil || !strings.Contains(err.Error(), "m:1: want `CIDR SEGMENT`, got 3 fields") {
		t.Errorf("map file error: %v", err)
	}
	a, _ := ParseMapping("198.18.16.0/20=lan")
	b, _ := ParseMapping("198.18.16.0/20=dc")
	if _, err := ImportNFT(nftListingOf(), Options{Map: []Mapping{a, b}}); err == nil || !strings.Contains(err.Error(), "198.18.16.0/20 is mapped to lan (--map) and to dc (--map)") {
		t.Errorf("conflicting mappings: %v", err)
	}
	// Overlapping mappings: a prefix inside both is ambiguous.
	c, _ := ParseMapping("198.18.0.0/16=big")
	im, err := ImportNFT(nftListingOf([]string{eq(pl("ip", "saddr"), prefix("198.18.16.0", 24)), drop}), Options{Map: []Mapping{a, c}})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry2(t, im); e.Reason != "source 198.18.16.0/24 lies inside 2 mapped prefixes (198.18.16.0/20 = lan, 198.18.0.0/16 = big): which segment it means is ambiguous" {
		t.Errorf("ambiguous: %q", e.Reason)
	}
}

func TestExpansionBound(t *testing.T) {
	var ports []string
	for p := 1; p <= 65; p++ {
		ports = append(ports, fmt.Sprint(p))
	}
	im, err := ImportNFT(nftListingOf([]string{eq(pl("tcp", "dport"), `{"set":[`+strings.Join(ports, ",")+`]}`), drop}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry2(t, im); e.Reason != "expands into 65 portlab rules, more than 64: split the set or the mapping" {
		t.Errorf("reason %q", e.Reason)
	}
}

// A chain without the leading established,related accept filters replies too.
func TestStatelessChain(t *testing.T) {
	listing := strings.Replace(string(nftListingOf([]string{eq(pl("tcp", "dport"), "23"), drop})), ctEstab+`,`+accept, counter+`,`+accept, 1)
	im, err := ImportNFT([]byte(listing), Options{File: "t.json"})
	if err != nil {
		t.Fatal(err)
	}
	err = im.Err()
	if err == nil || !strings.Contains(err.Error(), "chain inet filter forward: policy accept\n      "+reasonStateless) {
		t.Errorf("want the chain refused:\n%v", err)
	}
	im, _ = ImportNFT([]byte(listing), Options{File: "t.json", AssumeStateful: true})
	if err := im.Err(); err != nil || len(im.Notes) != 1 || !strings.HasPrefix(im.Notes[0], "--assume-stateful:") {
		t.Errorf("--assume-stateful: %v %q", err, im.Notes)
	}
	// Accepting everything is the same stateless or not.
	all := strings.Replace(string(nftListingOf([]string{accept})), ctEstab+`,`+accept, counter+`,`+accept, 1)
	if im, _ := ImportNFT([]byte(all), Options{}); im.Err() != nil {
		t.Errorf("accept-only chain refused: %v", im.Err())
	}
}

// iptablesOf is iptables-save output with a filter table whose FORWARD chain (policy
// ACCEPT) has a leading conntrack accept and then the given rules.
func iptablesOf(rules ...string) []byte {
	s := "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:USER - [0:0]\n" +
		"-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	for _, r := range rules {
		s += "-A FORWARD " + r + "\n"
	}
	return []byte(s + "COMMIT\n")
}

func TestIPTablesRefusals(t *testing.T) {
	cases := []struct{ rule, want string }{
		// NAT
		{"-p tcp --dport 80 -j DNAT --to-destination 198.19.1.2:8080", "NAT (-j DNAT): portlab does not translate addresses; the filter would see translated addresses"},
		{"-j MASQUERADE", "NAT (-j MASQUERADE): portlab does not translate addresses; the filter would see translated addresses"},
		{"-j SNAT --to-source 198.19.1.1", "NAT (-j SNAT): portlab does not translate addresses; the filter would see translated addresses"},
		// marks
		{"-m mark --mark 0x1 -j ACCEPT", "marks (-m mark): portlab does not model packet or connection marks"},
		{"-m connmark --mark 0x1 -j ACCEPT", "marks (-m connmark): portlab does not model packet or connection marks"},
		{"-j MARK --set-xmark 0x2/0xffffffff", "marks (-j MARK): portlab does not model packet or connection marks"},
		{"-j CONNMARK --set-xmark 0x2/0xffffffff", "marks (-j CONNMARK): portlab does not model packet or connection marks"},
		// sets
		{"-m set --match-set blocked src -j DROP", "ipset match (-m set): portlab does not model sets"},
		// interfaces
		{"-i eth0 -j ACCEPT", "interface match (-i eth0): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"},
		{"-o eth1 -j DROP", "interface match (-o eth1): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"},
		{"-m physdev --physdev-in eth0 -j DROP", "interface match (-m physdev): portlab rules match segments by address, not by interface; rewrite the rule with source/destination addresses and map them with --map"},
		// connection states
		{"-m conntrack --ctstate INVALID -j DROP", "ct state invalid: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"},
		{"-p tcp -m conntrack --ctstate NEW -m tcp --dport 443 -j ACCEPT", "ct state new: portlab's rules see every packet that is not established or related, new and invalid alike; remove `ct state new`/--ctstate NEW from the source rule if invalid packets do not matter to the rehearsal"},
		{"-m state --state ESTABLISHED -j ACCEPT", "ct state established: portlab's table is stateful (established and related traffic passes before every rule) and models no other connection state"},
		{"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "ct state established,related accept after other rules: portlab accepts established and related traffic before every rule, so only a leading one translates"},
		{"-m conntrack ! --ctstate NEW -j DROP", "negation (! --ctstate NEW): portlab rules cannot express 'everything but'"},
		// jumps
		{"-j USER", "jump to chain USER: portlab has one rule list; inline that chain's rules into this one"},
		{"-p tcp --dport 21 -g USER", "goto to chain USER: portlab has one rule list; inline that chain's rules into this one"},
		// logging only, counters only
		{"-j LOG --log-prefix \"fwd: \"", "logging only (-j LOG): no verdict; pass --skip-log to skip logging-only rules (listed in the output)"},
		{"-j NFLOG --nflog-group 5", "logging only (-j NFLOG): no verdict; pass --skip-log to skip logging-only rules (listed in the output)"},
		{"-p tcp -m tcp --dport 110", "no verdict (no -j): the rule only counts or marks and lets the packet go on to the next rule; portlab rules always decide"},
		// rates
		{"-m limit --limit 5/min -j ACCEPT", "rate limit (-m limit): portlab rules match every packet, they cannot limit a rate"},
		{"-m hashlimit --hashlimit-upto 5/min --hashlimit-name x -j ACCEPT", "rate limit (-m hashlimit): portlab rules match every packet, they cannot limit a rate"},
		{"-p tcp -m connlimit --connlimit-above 10 -j REJECT --reject-with tcp-reset", "rate limit (-m connlimit): portlab rules match every packet, they cannot limit a rate"},
		// negations
		{"! -s 198.18.16.0/20 -j DROP", "negation (! -s 198.18.16.0/20): portlab rules cannot express 'everything but'"},
		{"-p tcp -m tcp ! --dport 22 -j ACCEPT", "negation (! --dport 22): portlab rules cannot express 'everything but'"},
		{"! -p tcp -j DROP", "negation (! -p tcp): portlab rules cannot express 'everything but'"},
		// icmp types, source ports, flags
		{"-p icmp -m icmp --icmp-type 8 -j ACCEPT", "icmp type/code match (--icmp-type 8): portlab's icmp rules match every icmp packet"},
		{"-p tcp -m tcp --sport 80 -j ACCEPT", "source port match (--sport 80): portlab rules match destination ports only"},
		{"-p udp -m multiport --sports 53,123 -j ACCEPT", "source port match (--sports 53,123): portlab rules match destination ports only"},
		{"-p tcp -m multiport --ports 80,443 -j ACCEPT", "multiport --ports 80,443 matches source or destination ports: portlab rules match destination ports only"},
		{"-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP", "tcp flags (--tcp-flags FIN,SYN,RST,ACK SYN): portlab rules do not look at TCP flags"},
		{"-f -j DROP", "fragment match (-f): not modelled"},
		// protocols, ports, reject
		{"-p sctp -j DROP", "protocol sctp: portlab rules match tcp, udp, icmp or any protocol"},
		{"-p tcp -m tcp --dport 0:1023 -j DROP", "port range 0-1023 includes port 0, which portlab cannot express: start the range at 1"},
		{"-p tcp -m tcp --dport :1023 -j DROP", "port range 0-1023 includes port 0, which portlab cannot express: start the range at 1"},
		{"-p tcp -m tcp --dport http -j ACCEPT", `port "http": not a number (service names are not resolved)`},
		{"-j REJECT --reject-with icmp-host-prohibited", "reject with icmp-host-prohibited: portlab's reject answers TCP with a reset and everything else with ICMP port unreachable"},
		{"-p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable", "reject answers TCP with ICMP port unreachable; portlab's reject answers TCP with a reset (use `reject with tcp reset`/--reject-with tcp-reset for TCP)"},
		{"-j REJECT --reject-with icmp-port-unreachable", "reject answers TCP with ICMP port unreachable; portlab's reject answers TCP with a reset (use `reject with tcp reset`/--reject-with tcp-reset for TCP)"},
		{"-j TCPMSS --clamp-mss-to-pmtu", "target -j TCPMSS: not modelled"},
		{"-m owner --uid-owner 0 -j DROP", "match module -m owner: not modelled"},
		// addresses
		{"-s 2001:db8::1 -j DROP", "-s 2001:db8::1: an IPv6 address; `portlab import iptables` reads IPv4 iptables-save output"},
		{"-d 198.18.200.7/32 -j DROP", "destination 198.18.200.7/32 is not mapped to a segment: add --map 198.18.200.7/32=SEGMENT (or a line `198.18.200.7/32 SEGMENT` to the --map-file)"},
		{"-s 198.18.0.0/255.254.0.0 -j DROP", "source 198.18.0.0/15 is larger than the mapped 198.18.16.0/20 = lan, 198.18.32.0/20 = internet, 198.19.1.0/24 = dc: portlab rules match whole segments, so the rest of 198.18.0.0/15 has no segment to stand for it"},
		{"-s 198.18.0.0/255.0.255.0 -j DROP", "-s 198.18.0.0/255.0.255.0: not a prefix"},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			rules := []string{c.rule}
			if strings.HasSuffix(c.want, "so only a leading one translates") {
				rules = []string{"-p tcp --dport 22 -j DROP", c.rule} // not leading
			}
			im, err := ImportIPTables(iptablesOf(rules...), Options{File: "t.rules", Map: testMap(t)})
			if err != nil {
				t.Fatal(err)
			}
			e := entry2(t, im)
			if len(rules) == 2 {
				e = im.Entries[2]
			}
			if e.Outcome != Refused || e.Reason != c.want {
				t.Errorf("rule 2: %s\n got: %s\nwant: %s", e.Outcome, e.Reason, c.want)
			}
			if e.Line != 7+len(rules) || e.Text != "-A FORWARD "+c.rule {
				t.Errorf("origin %+v", e.Origin)
			}
			if err := im.Err(); !strings.Contains(fmt.Sprint(err), fmt.Sprintf("rule %d, line %d: -A FORWARD %s\n      %s", e.Number, e.Line, c.rule, c.want)) {
				t.Errorf("Err() does not list %s with its line and reason:\n%v", e.Where(), err)
			}
		})
	}
}

func TestIPTablesTranslations(t *testing.T) {
	cases := []struct{ rule, want string }{
		{"-p tcp -m multiport --dports 80,443,8000:8999 -j ACCEPT", "{name: r2-1, proto: tcp, port: 80, action: accept}\n{name: r2-2, proto: tcp, port: 443, action: accept}\n{name: r2-3, proto: tcp, port: 8000-8999, action: accept}"},
		{"-p tcp -m tcp --dport 1024: -j DROP", "{name: r2, proto: tcp, port: 1024-65535, action: drop}"},
		{"-s 198.18.16.0/20,198.18.32.5 -d 198.19.1.0/255.255.255.0 -p 6 -j REJECT --reject-with tcp-reset", "{name: r2-1, proto: tcp, from: lan, to: dc, action: reject}\n{name: r2-2, proto: tcp, from: internet, to: dc, action: reject}"},
		{"-p udp -m udp --dport 9 -j REJECT", "{name: r2, proto: udp, port: 9, action: reject}"},
		{"-p icmp -j REJECT --reject-with icmp-port-unreachable", "{name: r2, proto: icmp, action: reject}"},
		{"-p all -j DROP", "{name: r2, proto: any, action: drop}"},
		{"-p tcp --dport 23 -j RETURN", "{name: r2, proto: tcp, port: 23, action: accept}"},
		{"-m comment --comment \"web in\" -p tcp --dport 443 -j ACCEPT", "{name: r2, proto: tcp, port: 443, action: accept}"},
		{"-m comment --comment web -p tcp --dport 443 -c 10 20 -j ACCEPT", "{name: web, proto: tcp, port: 443, action: accept}"},
		{"-m iprange --dst-range 198.19.1.10-198.19.1.20 -j DROP", "{name: r2, proto: any, to: dc, action: drop}"},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			im, err := ImportIPTables(iptablesOf(c.rule), Options{File: "t.rules", Map: testMap(t)})
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Err(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range im.Firewall.Rules {
				got = append(got, flowRule(r))
			}
			if strings.Join(got, "\n") != c.want {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), c.want)
			}
		})
	}
}

func TestIPTablesInputErrors(t *testing.T) {
	cases := []struct{ name, data, chain, want string }{
		{"empty", "", "", "no table (*filter ...): not iptables-save output"},
		{"no commit", "*filter\n:FORWARD ACCEPT [0:0]\n", "", "table filter (line 1) has no COMMIT"},
		{"rule outside", "-A FORWARD -j ACCEPT\n", "", "t.rules:1: rule outside a table"},
		{"undeclared chain", "*filter\n:FORWARD ACCEPT [0:0]\n-A NOPE -j ACCEPT\nCOMMIT\n", "", "t.rules:3: rule for chain NOPE, which the table does not declare"},
		{"not -A", "*filter\n:FORWARD ACCEPT [0:0]\n-I FORWARD 1 -j ACCEPT\nCOMMIT\n", "", "iptables-save output has only -A CHAIN rules here"},
		{"quote", "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment \"x -j ACCEPT\nCOMMIT\n", "", "t.rules:3: unterminated quote"},
		{"nat chain", "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", "nat PREROUTING", "the nat table translates addresses; NAT is not modelled"},
		{"user chain", string(iptablesOf()), "USER", "chain filter USER is a user-defined chain"},
		{"input chain", string(iptablesOf()), "filter INPUT", "chain filter INPUT does not see forwarded traffic: import FORWARD"},
		{"no chain", string(iptablesOf()), "filter NOPE", "table filter has no chain NOPE (chains: INPUT, FORWARD, OUTPUT, USER)"},
		{"no table", string(iptablesOf()), "mangle FORWARD", "no table mangle"},
		{"bad policy", "*filter\n:FORWARD REJECT [0:0]\nCOMMIT\n", "", `chain FORWARD has policy "REJECT" (ACCEPT or DROP)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ImportIPTables([]byte(c.data), Options{File: "t.rules", Chain: c.chain})
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrInput containing %q", err, c.want)
			}
		})
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`-m comment --comment "allow \"https\" now" -s 'a b' -j  ACCEPT`)
	want := []string{"-m", "comment", "--comment", `allow "https" now`, "-s", "a b", "-j", "ACCEPT"}
	if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("got %q %v", got, err)
	}
}

func TestRangePrefixes(t *testing.T) {
	for _, c := range []struct{ lo, hi, want string }{
		{"198.18.0.0", "198.18.0.255", "[198.18.0.0/24]"},
		{"198.18.0.1", "198.18.0.9", "[198.18.0.1/32 198.18.0.2/31 198.18.0.4/30 198.18.0.8/31]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"198.18.0.9", "198.18.0.1", "[]"},
	} {
		lo, hi := mustAddr(c.lo), mustAddr(c.hi)
		if got := fmt.Sprint(rangePrefixes(lo, hi)); got != c.want {
			t.Errorf("%s-%s: %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
