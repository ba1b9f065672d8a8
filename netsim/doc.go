// Package netsim builds portlab's network out of Linux network namespaces: client
// segments, routers and firewalls, management points and the site server, joined by
// veth pairs (and bridges where a segment has more than two members), with addresses
// from 198.18.0.0/15 only, static routes, nftables firewalls, processes running inside
// the namespaces, and packet capture. It is not a general network emulator: no latency
// or loss shaping, no IPv6, no dynamic routing.
//
// # A topology
//
// For a scenario with a client segment lan (clients 198.18.16.0/20), a router core
// linking lan and dc, and mp1 plus the site server on dc, Build makes five namespaces
// (one per box below) and four veth pairs:
//
//	 client-lan              router-core              switch-dc         mp-mp1
//	┌─────────────────┐     ┌───────────────────┐     ┌──────────┐     ┌─────────────────┐
//	│ lo: local       │     │ table inet portlab│     │          │ p1  │ eth0            │
//	│  198.18.16.0/20 │     │ ip_forward=1      │     │   br0    ├─────┤  198.19.1.2/24  │
//	│  (AnyIP)        │     │                   │     │          │     └─────────────────┘
//	│ eth0            │     │ lan 198.19.0.1/24 │     │          │      site
//	│  198.19.0.2/24  ├─────┤ dc  198.19.1.1/24 ├─────┤ p0       │ p2  ┌─────────────────┐
//	└─────────────────┘     └───────────────────┘     │          ├─────┤ eth0            │
//	                                                  └──────────┘     │  198.19.1.3/24  │
//	                                                                   └─────────────────┘
//
// Every namespace is anonymous and held only by a file descriptor of the Topology (and
// by the processes running inside it), so a killed orchestrator leaves no namespace,
// veth or nftables table behind: the kernel removes them with the last reference.
// Options.Keep pins each as /run/netns/portlab-<run>-<node> for `ip netns exec`;
// Clean removes pins. Nothing is ever created, changed or removed in the host
// namespace: veth pairs are created inside one namespace with the peer placed
// directly in the other, and sysctls are written from a thread inside the namespace.
//
// # Layout decisions
//
//   - Node names carry their kind: client-<segment>, router-<name>, mp-<name>, site,
//     switch-<segment> (ClientNode, RouterNode, MPNode, SiteNode, SwitchNode).
//   - A segment with exactly two members is one veth pair. With one, or three and more,
//     the members' veths meet on a bridge (br0) in a switch namespace of its own, which
//     keeps bridged frames out of every router's forward chain.
//   - Addresses on a segment subnet go in order: routers, MPs, the site, the client
//     namespace (.1, .2, ...). Interfaces are eth0 in hosts; in routers, the segment's
//     name (ethN when it does not fit IFNAMSIZ).
//   - Client identities: the client namespace routes its whole range to lo (AnyIP), so
//     every address of the range is local and a client binds its own source address
//     before connecting (DialerFrom, IP_BIND_ADDRESS_NO_PORT). Nodes on the client
//     segment reach the range via the client namespace's link address: one neighbour
//     entry instead of one per client (the ARP table's size is a host-wide limit), and
//     no address of ours inside the range, so the client namespace never mistakes the
//     router's ARP requests for its own. The client namespace ARPs from its link
//     address (arp_announce=2) for the same reason.
//   - Directed broadcast: each router facing a client segment has a broadcast route for
//     the range's broadcast address (for 198.18.16.0/20, 198.18.31.255) in its local
//     table, so it classifies that address as a directed broadcast rather than
//     forwarding it as unicast. It forwards it onto the segment as an Ethernet broadcast
//     only with Router.DirectedBroadcast (bc_forwarding=1 on "all" and on the input
//     interface); otherwise it keeps it.
//   - Static neighbours: AddNeighbors adds permanent ARP entries plus on-link /32 routes
//     for given clients, so unicast wake-up reaches hosts that answer no ARP.
//   - Routes are static, computed over the router graph: every node reaches every
//     subnet and client range along a shortest path, ties going to the router listed
//     first, so a flow takes the same routers both ways on a tree.
//   - Routers forward (ip_forward=1); every other namespace has forwarding off. IPv6 is
//     disabled everywhere (no link-local addresses, DAD or router solicitations);
//     rp_filter is off, since IPv4 settings of a new namespace are copied from the host.
//
// # Firewalls
//
// A router with a firewall has table inet portlab with one forward chain. Its first rule
// accepts established and related traffic; then come the scenario's rules in order, then
// the default action. Each rule counts into a named counter object (rule name, and
// "default"), read back with Counters. SetFirewall replaces every rule in one atomic
// batch; connections already established keep flowing, new ones meet the new rules.
//
// # Processes and threads: the contract
//
//   - Do(node, fn) runs fn on a locked OS thread switched into node's namespace, then
//     switches back. If switching back fails the thread stays locked and dies with its
//     goroutine, so no goroutine ever runs in the wrong namespace. Sockets keep the
//     namespace they were created in: create them inside fn, use them anywhere.
//     Goroutines started inside fn do NOT run in the namespace.
//   - Start / StartCommand fork a process (portlab itself by default, for the hidden
//     `agent` subcommand) from such a thread, so it starts inside the namespace. It gets
//     pipes on stdin and stdout; stderr is kept (its last 64 KiB). An agent must exit
//     when its stdin closes: that, not Pdeathsig (which fires when the forking thread
//     exits, not the process), is what takes agents down with a dead orchestrator.
//     Ending the start context closes stdin, then kills after a grace period.
//   - Close kills agents still running, stops captures, and releases the namespaces.
//     It is idempotent.
//
// # Capture
//
// With Options.CaptureDir each link gets a pcapng file <segment>-<node>.pcapng,
// captured with a pure-Go AF_PACKET ring at the named node's end (no libpcap, no cgo).
//
// # Rootless
//
// ReexecRootless re-executes portlab in a new user + network namespace when it is not
// root; everything but pinning works there. Doctor reports what this machine can do.
package netsim
