// Package fwimport translates one chain of a real firewall — the JSON listing of
// `nft -j list ruleset` (libnftables-json(5)) or the output of iptables-save (IPv4) —
// into the firewall block of a scenario router, so a port change can be rehearsed
// against the edge as it really is. Merge puts the block into a scenario file, editing
// its text so every comment stays.
//
// It is not a firewall emulator: it never approximates. Every rule either translates
// exactly, or is refused with its number, its text and the reason; an import with a
// refusal is an error (Import.Err) unless the caller writes it as partial. It reads
// files only; it touches no network and runs no tool.
//
//	nft -j list ruleset ──ImportNFT──┐                 ┌─► Import.YAML  (block to paste)
//	                                 ├─► rules in a ──►┤
//	iptables-save ──ImportIPTables───┘   neutral form  └─► Merge(scenario) ─► scenarios.Parse
//	                     (--map: addresses → segments)
//
// # What translates exactly
//
//	accept, drop                         accept, drop
//	reject with tcp reset (TCP only)     reject (portlab: TCP reset)
//	reject / icmp(x) port-unreachable    reject, for a rule that cannot match TCP
//	   (udp, icmp)                          (portlab: ICMP port unreachable)
//	return in the base chain             the chain's policy
//	policy accept|drop                   default: accept|drop
//	meta l4proto / ip protocol / -p      proto tcp|udp|icmp (a set: one rule each)
//	tcp|udp dport N, N-M, >=N, >N,       port N / N-M; an anonymous set, vmap or
//	  { set }, multiport --dports          multiport list: one rule per element
//	meta l4proto {tcp,udp} th dport N    proto tcp and proto udp, port N
//	ip saddr/daddr, -s/-d: address,      from:/to: the segment of the one --map prefix
//	  prefix, range, anonymous set,        the address lies in (a range or set: one rule
//	  -m iprange                           per segment); 0.0.0.0/0 is any
//	leading ct state established,related implied: portlab's table accepts them first
//	  accept (-m conntrack/-m state)
//	tcp dport vmap { k : verdict, ... }  one rule per element (keys never overlap)
//	counter, comment, log next to a      nothing (portlab counts every rule); a comment
//	  verdict                              that is a valid rule name names the rule
//
// # What is refused (and why)
//
//	NAT: dnat, snat, masquerade,         portlab does not translate addresses; rules of a
//	  redirect, nat chains, -j DNAT...     nat chain on the forwarding path are refused too
//	marks: meta/ct mark, -m mark,        not modelled
//	  -j MARK/CONNMARK
//	named sets (@set), ipset             their elements change at run time
//	concatenations, more than 64 rules   not one field at a time; too large to read
//	  from one expansion
//	interfaces: iifname, oif, -i, -o     portlab matches addresses: rewrite with addresses
//	                                       and --map
//	ct state other than the leading      portlab models no other state (invalid, new,
//	  established,related accept           untracked; established without related)
//	jump, goto, -j CHAIN, -g CHAIN       one rule list: inline the chain
//	logging only (log, -j LOG/NFLOG)     no verdict; --skip-log skips them, listed
//	counter only, continue, no -j        no verdict: portlab rules always decide
//	limit, meter, quota, -m limit,       rates and quotas are not modelled
//	  hashlimit, connlimit, recent
//	negations (!=, ! -s, ! --dport)      portlab cannot express "everything but"
//	source ports, tcp flags, icmp types, portlab matches protocol and destination port
//	  other header fields, raw payload     only; icmp means every icmp packet
//	ports including 0 (0-1023, < 1024)   portlab ports start at 1
//	th dport without l4proto tcp/udp     it also matches sctp, dccp, udplite
//	reject with another ICMP code, or    portlab rejects TCP with a reset and everything
//	  with ICMP for TCP                    else with ICMP port unreachable
//	IPv6-only rules of an inet table     the lab is IPv4 only; --ipv4-only skips them,
//	                                       listed (exact for an IPv4 lab)
//	an address no --map covers, or a     there is no segment to stand for it
//	  prefix larger than a mapping
//	another chain on the forwarding      packets pass it too: one chain is exact only
//	  path with rules (prerouting,         when the others are empty
//	  forward, postrouting; mangle, raw)
//	a chain without the leading          it filters replies too, portlab never does;
//	  established,related accept that      --assume-stateful translates it anyway, noted
//	  can stop a packet                    in the output (not exact for replies)
//
// A mapping (--map CIDR=SEGMENT) stands for the whole segment: a portlab rule `from:
// lan` matches lan's subnet and its client range. A rule about a prefix strictly inside
// a mapping becomes a rule about the whole segment, and its comment says so.
package fwimport
