// Package sitedns is the DNS side of a ConfigMgr site's service location: an
// authoritative DNS server for the scenario's domain, serving the management points'
// A records and their service location (SRV) records, and the client-side lookup the
// simulated clients run against it.
//
// A client that finds no MP in its MP list or in AD DS asks DNS for
//
//	_mssms_mp_<sitecode>._tcp.<domain> 14400 IN SRV <priority> <weight> <port> <intranet FQDN>
//
// and then for the target's A record. The server answers over UDP and TCP on the
// sockets the caller gives it (the site agent passes port 53; tests use 127.0.0.1:0):
//
//	corp.example.                        SOA, NS                      the zone apex
//	ns1.corp.example.                    A    (Zone.NSAddr, if given)
//	mp1.corp.example.                    A    one per MP
//	_mssms_mp_ps1._tcp.corp.example.     SRV  one per intranet MP of site PS1
//
// plus records added by hand (AddStatic): an SRV or A record nobody updates, the
// "stale SRV record" of DOMAIN.md's story 7. Hand-made records are kept apart from the
// published ones, so Publish never touches them; a name that has both serves both.
//
// Names in the zone that do not exist are NXDOMAIN; names that exist without the
// asked type get an empty NOERROR answer; both carry the SOA. Names outside the zone
// are REFUSED: the server is authoritative only and never recurses. UDP answers
// larger than 512 bytes (or the client's EDNS0 size, at most 1232) are truncated with
// the TC bit set, and the client retries over TCP.
//
// # Choices portlab made
//
//   - The SRV port is the site's intranet request port for that MP: its HTTPS port
//     when the MP accepts HTTPS and the site has one, else its HTTP port (Microsoft's
//     manual-publication steps: "80 for HTTP, 443 for HTTPS"); never an alternate
//     port. See SRVPort.
//   - Priority and weight are unused by clients (one MP per site in the original
//     design): portlab publishes 0 and 0 (SRVPriority, SRVWeight).
//   - TTLs: SRV 14400 as Microsoft documents; A, NS and SOA 3600.
//   - An internet-only MP gets its A record but no SRV record.
//
// # What it is not
//
// Not a general DNS server: no recursion, no zone transfer, no dynamic update, no
// DNSSEC, IPv4 A records only. The fleet's lookup is not a general resolver either:
// it asks one server, SRV then A, and does not follow CNAMEs.
package sitedns
