// Package fleet simulates ConfigMgr clients: one state machine per client (location,
// registration, policy, heartbeat, default→alternate port fallback, the notification
// channel, sleep and wake) and the fleet that runs thousands of them in one process as
// an open-model load generator.
//
// Scheduling (see worker.go): a few worker goroutines each own a slice of the clients
// and a min-heap of their next due times. A due cycle runs in a short-lived goroutine;
// its results come back to the owning worker, which alone touches the client state and
// its metrics.Recorder, so nothing on the hot path is locked. An idle client costs a
// struct and, with a notification session, one goroutine parked in a socket read.
//
//	orchestrator --stdin JSON lines--> agent.Serve --> Fleet --ctrl--> worker 1..W
//	                                      ^                          | heap of due times
//	             <--stdout snapshots------+-- Collect each second    v
//	                                                        cycle goroutines --> MP
//
// It is not the fake MP (agent/mp) and does not build namespaces (netsim): it runs in
// whatever network namespace it is started in, and binds each client's own source
// address, which the namespace must route locally (an AnyIP route).
package fleet

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/portlab/portlab/agent"
)

// Duration is Go duration text in JSON ("5s").
type Duration = agent.Duration

// Config is the "config" command's Args: everything one fleet agent (one client
// segment) needs. What the scenario decides comes filled in; Normalize adds only the
// load engine's own knobs.
type Config struct {
	// Segment name, for logs.
	Segment string `json:"segment"`
	// Client identity range; the fleet's n-th client (groups in order) binds
	// Identities.Addr + 1 + n. Must hold every client (the network and broadcast
	// addresses are never used).
	Identities netip.Prefix `json:"identities"`
	// Offset is the position of this fleet's first client in the identity range: a
	// segment whose clients are split over several fleet processes gives each its
	// share of the range (the n-th client binds Identities.Addr + 1 + Offset + n).
	Offset int `json:"offset,omitempty"`
	// Groups of clients, in order.
	Groups []Group `json:"groups"`
	// Management points the clients can reach, by name.
	MPs []MP `json:"mps"`
	// The site's ports as published when the run starts.
	SitePorts SitePorts `json:"site_ports"`
	// Site code: the policy source the clients ask (SMS:<code>).
	SiteCode string `json:"site_code,omitempty"`
	// DNS domain of the clients (their FQDNs: client<index>.<domain>).
	Domain string `json:"domain,omitempty"`
	// Seed for every random choice (jitter, MP choice, GUIDs).
	Seed int64 `json:"seed"`
	// How long the load runs after the start; every loop ends then.
	Duration Duration `json:"duration"`
	// Clients start spread evenly over this window from the start: every group over the
	// whole window, the groups interleaved (groupRampOffset).
	Ramp Duration `json:"ramp,omitempty"`
	// RampOf, when set, is the number of clients the ramp spreads over by their global
	// index (the scenario's total, so every fleet process plans the same schedule); 0:
	// this fleet's clients in its own order.
	RampOf int `json:"ramp_of,omitempty"`
	// Absolute start time (shards on several hosts align on it); zero: when "start" arrives.
	StartTime time.Time `json:"start_time,omitzero"`
	// PEM of the CA that issued the MPs' certificates; empty: HTTPS clients do not verify
	// (lab only).
	CAPEM string `json:"ca_pem,omitempty"`
	// A cycle that starts later than this after its planned time counts as late (default 10ms).
	LateAfter Duration `json:"late_after,omitempty"`
	// Worker goroutines (default 2 × GOMAXPROCS, at most the number of clients).
	Workers int `json:"workers,omitempty"`
	// NIC is the interface sleeping clients' network cards read for wake-up packets
	// (AF_PACKET, promiscuous); empty: sleeping clients wake only by the "wake" command.
	NIC string `json:"nic,omitempty"`
	// Include every client's final state in the final report (default true when the
	// fleet has at most 20000 clients).
	ClientStates *bool `json:"client_states,omitempty"`
	// Location is where clients with a membership look the site up (locate.go); nil:
	// only the MP list.
	Location *Location `json:"location,omitempty"`
}

// MP is one management point as the clients reach it.
type MP struct {
	Name string     `json:"name"`
	Addr netip.Addr `json:"addr"`
	Site string     `json:"site,omitempty"`
	FQDN string     `json:"fqdn,omitempty"` // TLS server name (default Name)
	// InternetFacing: internet clients may use it (when no MP is, they use any).
	InternetFacing bool `json:"internet_facing,omitempty"`
}

// RequestPort is a request port with an optional alternate (0: none).
type RequestPort struct {
	Default   int `json:"default"`
	Alternate int `json:"alternate,omitempty"`
}

// SitePorts are the ports the site publishes.
type SitePorts struct {
	HTTP         RequestPort `json:"http"`
	HTTPS        RequestPort `json:"https"`
	Notification int         `json:"notification"`
}

// Group is a set of identical clients, as installed.
type Group struct {
	Name string `json:"name"`
	// First is the global index of the group's first client (MACs and GUIDs derive from
	// global indexes, so they are unique across fleets); this fleet has Count of them.
	First int `json:"first"`
	Count int `json:"count"`
	// When a group is split over several fleet processes: where this fleet's share
	// starts within the group, and the group's whole size (0: Count), so a
	// reconfiguration of "the first half of the group" means the same clients.
	GroupOffset int `json:"group_offset,omitempty"`
	GroupCount  int `json:"group_count,omitempty"`
	// Pinned MP name; empty: each client picks one from the MPLIST at random (seeded).
	MP string `json:"mp,omitempty"`
	// http or https.
	Scheme string `json:"scheme"`
	// Installed request ports (CCMHTTPPORT / CCMHTTPSPORT).
	HTTPPort  int `json:"http_port"`
	HTTPSPort int `json:"https_port"`
	// The client reads the site's publication (AD) and so knows its alternate port.
	KnowsAlternate bool `json:"knows_alternate"`
	// tcp, http, https or off.
	Notification      string   `json:"notification"`
	PolicyInterval    Duration `json:"policy_interval"`
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	ConnectTimeout    Duration `json:"connect_timeout"`
	// Time allowed for a response once connected (default 30s).
	RequestTimeout Duration `json:"request_timeout,omitempty"`
	Retries        int      `json:"retries"`
	UnmanagedAfter int      `json:"unmanaged_after"`
	Asleep         bool     `json:"asleep,omitempty"`
	// How long the request connection of a cycle is kept idle after it, for the next
	// cycle to reuse (default 0: closed at the end of the cycle). A real client polls
	// hourly and its connection does not outlive the exchange (IIS drops idle ones after
	// 120 s), so every cycle opens a new connection, and a stateful firewall's rule
	// change meets the next cycle's SYN.
	KeepIdle Duration `json:"keep_idle,omitempty"`
	// Planned cycles a busy client still runs, late, once its current cycle ends
	// (default 1); older ones are skipped and counted.
	Backlog int `json:"backlog,omitempty"`
	// Jitter of each planned cycle, as a fraction of the interval (default 0.1).
	Jitter float64 `json:"jitter,omitempty"`
	// Notification keep-alive interval on the TCP session (compressed from ~15 min).
	KeepAlive Duration `json:"keepalive"`
	// How long a long poll asks the MP to hold.
	LongPollWait Duration `json:"longpoll_wait"`
	// While long polling after a TCP failure, try TCP again this often (default 30s).
	TCPRetry Duration `json:"tcp_retry,omitempty"`
	// Membership decides the service location sources (locate.go): domain,
	// other-forest, workgroup or internet; empty: the MP list only, no refresh or
	// failover (benchmarks, and fleets configured without a site server).
	Membership string `json:"membership,omitempty"`
	// Service location refresh interval (default 30s) and MP failover: this many failed
	// attempts within the window (defaults 5 in 20s).
	LocationRefresh  Duration   `json:"location_refresh,omitempty"`
	FailoverFailures int        `json:"failover_failures,omitempty"`
	FailoverWindow   Duration   `json:"failover_window,omitempty"`
	member           membership // parsed Membership (Normalize)
	// Bench, when set, replaces the client's cycle by a fixed one (a benchmark against
	// other load generators: the same request at the same rate and connection pattern).
	// Not a scenario knob.
	Bench *BenchCycle `json:"bench,omitempty"`
}

// BenchCycle is a benchmark's cycle: Requests GETs of Path on one new connection.
type BenchCycle struct {
	Path     string `json:"path"`
	Requests int    `json:"requests"`
}

// ErrConfig: the fleet configuration is invalid. It wraps agent.ErrConfig.
var ErrConfig = fmt.Errorf("%w: fleet", agent.ErrConfig)

// Normalize validates c and fills the load engine's own knobs (lateness threshold,
// request timeout, idle keep-alive, backlog, jitter, TCP retry); what a scenario
// decides must already be set.
func (c *Config) Normalize() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...) }
	if c.Duration <= 0 {
		return bad("duration must be positive")
	}
	if c.LateAfter == 0 {
		c.LateAfter = Duration(10 * time.Millisecond)
	}
	if c.Ramp < 0 || c.Ramp > c.Duration {
		return bad("ramp %s outside [0, duration]", c.Ramp.D())
	}
	if !c.Identities.IsValid() || !c.Identities.Addr().Is4() {
		return bad("identities %v: need an IPv4 prefix", c.Identities)
	}
	if len(c.MPs) == 0 {
		return bad("no management points")
	}
	mps := map[string]bool{}
	for _, m := range c.MPs {
		if m.Name == "" || !m.Addr.IsValid() {
			return bad("management point %q: name and addr required", m.Name)
		}
		mps[m.Name] = true
	}
	if c.SitePorts.Notification == 0 || c.SitePorts.HTTP.Default == 0 || c.SitePorts.HTTPS.Default == 0 {
		return bad("site ports: http, https and notification are required")
	}
	total := 0
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Count <= 0 || g.Name == "" {
			return bad("group %d (%q): name and a positive count required", i, g.Name)
		}
		if g.GroupCount == 0 {
			g.GroupCount = g.Count
		}
		if g.GroupOffset < 0 || g.GroupOffset+g.Count > g.GroupCount {
			return bad("group %s: share [%d, %d) outside the group's %d clients", g.Name, g.GroupOffset, g.GroupOffset+g.Count, g.GroupCount)
		}
		if g.MP != "" && !mps[g.MP] {
			return bad("group %s: unknown management point %q", g.Name, g.MP)
		}
		if g.Scheme != "http" && g.Scheme != "https" {
			return bad("group %s: scheme %q", g.Name, g.Scheme)
		}
		switch g.Notification {
		case "tcp", "http", "https", "off":
		default:
			return bad("group %s: notification %q", g.Name, g.Notification)
		}
		if g.HTTPPort <= 0 || g.HTTPPort > 65535 || g.HTTPSPort <= 0 || g.HTTPSPort > 65535 {
			return bad("group %s: installed ports %d/%d", g.Name, g.HTTPPort, g.HTTPSPort)
		}
		for _, d := range []struct {
			name string
			v    Duration
		}{{"policy_interval", g.PolicyInterval}, {"heartbeat_interval", g.HeartbeatInterval},
			{"connect_timeout", g.ConnectTimeout}, {"keepalive", g.KeepAlive}, {"longpoll_wait", g.LongPollWait}} {
			if d.v <= 0 {
				return bad("group %s: %s must be positive", g.Name, d.name)
			}
		}
		if g.UnmanagedAfter <= 0 {
			return bad("group %s: unmanaged_after must be positive", g.Name)
		}
		if b := g.Bench; b != nil && (b.Requests < 1 || b.Requests > 100 || len(b.Path) == 0 || b.Path[0] != '/') {
			return bad("group %s: bench cycle wants 1..100 requests of an absolute path", g.Name)
		}
		if err := g.normalizeLocation(); err != nil {
			return bad("group %s: %v", g.Name, err)
		}
		setDur(&g.RequestTimeout, 30*time.Second)
		setDur(&g.TCPRetry, 30*time.Second)
		if g.Backlog == 0 {
			g.Backlog = 1
		}
		if g.Jitter == 0 {
			g.Jitter = 0.1
		}
		if g.Jitter < 0 || g.Jitter >= 0.5 || g.Retries < 0 {
			return bad("group %s: jitter must be in [0, 0.5) and retries >= 0", g.Name)
		}
		total += g.Count
	}
	if total == 0 {
		return bad("no clients")
	}
	if room := 1<<(32-c.Identities.Bits()) - 2; c.Offset < 0 || c.Offset+total > room {
		return bad("identities %v hold %d clients, the fleet needs %d from offset %d", c.Identities, room, total, c.Offset)
	}
	if c.Workers <= 0 {
		c.Workers = 0 // chosen by NewFleet from GOMAXPROCS
	}
	return nil
}

func setDur(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}
