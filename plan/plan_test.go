package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/scenarios"
)

func builtin(t *testing.T, name string) *Plan {
	t.Helper()
	s, err := scenarios.LoadBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Lower(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// Every built-in lowers; its network plans with interface names the kernel takes and
// addresses inside the benchmark range only; every agent configuration it makes passes
// the agent's own validation.
func TestLowerBuiltins(t *testing.T) {
	bs, err := scenarios.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		p := builtin(t, b.Name)
		nodes, err := netsim.Nodes(p.Net)
		if err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
		for _, n := range nodes {
			seen := map[string]bool{"lo": true}
			for _, i := range n.Ifaces {
				if seen[i.Name] || len(i.Name) > 15 || strings.Contains(i.Name, "portlab") {
					t.Errorf("%s: %s: bad or duplicate interface name %q", b.Name, n.Name, i.Name)
				}
				seen[i.Name] = true
				if i.Addr.IsValid() && !netsim.BenchmarkRange().Contains(i.Addr.Addr()) {
					t.Errorf("%s: %s: address %s outside the benchmark range", b.Name, n.Name, i.Addr)
				}
			}
		}
		for _, m := range p.MPs {
			cfg := m.Config
			cfg.Normalize()
			if err := cfg.Validate(); err != nil {
				t.Errorf("%s: mp %s: %v", b.Name, m.Name, err)
			}
			if !netsim.BenchmarkRange().Contains(m.Addr) || cfg.Listen.HTTP.Addr() != m.Addr {
				t.Errorf("%s: mp %s at %s listens on %s", b.Name, m.Name, m.Addr, cfg.Listen.HTTP)
			}
		}
		total := 0
		for _, f := range p.Fleets {
			cfg := f.Config
			if err := cfg.Normalize(); err != nil {
				t.Errorf("%s: fleet %s: %v", b.Name, f.Segment, err)
			}
			total += f.Clients
		}
		want := 0
		for _, g := range p.Scenario.Clients {
			want += g.Count
		}
		if total != want || p.Clients() != want {
			t.Errorf("%s: %d clients planned, the scenario has %d", b.Name, total, want)
		}
		// Each event is a step; a site change is one more when its publication (after
		// site.publish.delay) falls within the run.
		wantSteps := len(p.Scenario.Timeline)
		for _, e := range p.Scenario.Timeline {
			if e.SitePorts != nil && e.At.D()+p.Scenario.Site.Publish.Delay.D() < p.Duration {
				wantSteps++
			}
		}
		if len(p.Steps) != wantSteps {
			t.Errorf("%s: %d steps for %d events, want %d", b.Name, len(p.Steps), len(p.Scenario.Timeline), wantSteps)
		}
		for i := 1; i < len(p.Steps); i++ {
			if p.Steps[i].At < p.Steps[i-1].At {
				t.Errorf("%s: steps out of order: %v after %v", b.Name, p.Steps[i].At, p.Steps[i-1].At)
			}
		}
	}
}

// port-change: the site's HTTP port moves 80 -> 8080 at 8s and client push at 9s
// installs the site's ports as they are then; both MPs (mp2 of the secondary site
// inherits) move their listeners.
func TestLowerPortChange(t *testing.T) {
	p := builtin(t, "port-change")
	if len(p.Steps) != 3 {
		t.Fatalf("%d steps", len(p.Steps))
	}
	// The site republishes the new port in AD DS 10s after the change (at 18s).
	pub, ok := p.Steps[2].Action.(*Publish)
	if !ok || p.Steps[2].At != 18*time.Second || !pub.Lagged || pub.Args.Ports == nil || pub.Args.Ports.HTTP != 8080 ||
		pub.Args.AD != nil || p.Steps[2].Detail != "the site change of 8s reaches AD DS (DNS publication off): http 8080, https 443" {
		t.Fatalf("step 2 at %v: %+v %q", p.Steps[2].At, p.Steps[2].Action, p.Steps[2].Detail)
	}
	if l := p.Site.Location; l == nil || !l.PublishAD || l.PublishDNS || l.Ports.HTTP != 80 || l.Domain != "corp.example" ||
		l.GC.Port() != 3268 || l.LDAP.Port() != 389 || l.DNS.Port() != 53 || len(l.MPs) != 2 {
		t.Fatalf("site location %+v", p.Site.Location)
	}
	for _, f := range p.Fleets {
		if f.Config.Location == nil || f.Config.Location.GlobalCatalog != p.Site.Location.GC || f.Config.Domain != "corp.example" {
			t.Errorf("fleet %s location %+v", f.Segment, f.Config.Location)
		}
	}
	sp, ok := p.Steps[0].Action.(*SitePorts)
	if !ok || sp.Ports.HTTP.Default != 8080 || p.Steps[0].Detail != "http 80 -> 8080" {
		t.Fatalf("step 0: %+v %q", p.Steps[0].Action, p.Steps[0].Detail)
	}
	for _, m := range p.MPs {
		if l := sp.Listen[m.Name]; l.HTTP.Port() != 8080 || l.HTTP.Addr() != m.Addr || l.HTTPS.Port() != 443 {
			t.Errorf("mp %s after the change: %+v", m.Name, l)
		}
	}
	rc, ok := p.Steps[1].Action.(*Reconfigure)
	if !ok || rc.Args.HTTPPort != 8080 || rc.Args.HTTPSPort != 443 || rc.Args.Method != "push" {
		t.Fatalf("step 1: %+v", p.Steps[1].Action)
	}
	var mp1, mp2 mp.Config
	for _, m := range p.MPs {
		switch m.Name {
		case "mp1":
			mp1 = m.Config
		case "mp2":
			mp2 = m.Config
		}
	}
	if mp1.SiteCode != "PS1" || mp2.SiteCode != "SS1" || len(mp1.Peers) != 0 || mp2.Listen.HTTP.Port() != 80 {
		t.Errorf("mp1 %+v\nmp2 %+v", mp1, mp2)
	}
}

// wake-up: one magic packet per client, unicast to the client's own address or to the
// client range's broadcast address, on the site's wake-up port; static neighbours for
// the router that keeps them.
func TestLowerWake(t *testing.T) {
	p := builtin(t, "wake-up")
	var bcast, ucast *Wake
	for _, st := range p.Steps {
		if w, ok := st.Action.(*Wake); ok {
			switch w.Group {
			case "bcast-a":
				bcast = w
			case "ucast-a":
				ucast = w
			}
		}
	}
	if bcast == nil || ucast == nil || len(bcast.Send.Targets) != 40 || len(ucast.Send.Targets) != 40 {
		t.Fatalf("wake steps %+v %+v", bcast, ucast)
	}
	if to := bcast.Send.Targets[3].To.String(); to != "198.18.19.255:9" {
		t.Errorf("broadcast target %s", to)
	}
	g, _ := p.Group("ucast-a")
	addr, mac := g.Client(0)
	if ucast.Send.Targets[0].To.Addr() != addr || ucast.Send.Targets[0].MAC != mac.String() {
		t.Errorf("unicast target %+v, client 0 is %s %s", ucast.Send.Targets[0], addr, mac)
	}
	if len(p.Neighbors) != 1 || p.Neighbors[0].Router != "ra" || len(p.Neighbors[0].Addrs) != 80 {
		t.Errorf("neighbors %+v", p.Neighbors)
	}
	if p.Firewalls["rc"]["block-wol"] != netsim.Drop || p.Firewalls["rc"][netsim.DefaultCounter] != netsim.Accept {
		t.Errorf("firewall actions %+v", p.Firewalls)
	}
}

// The scenario format's operations and outcomes are the ones the fleet records, so a
// gate can match every request the fleet makes.
func TestVocabularies(t *testing.T) {
	recorded := map[string]bool{metrics.OpLocation: true, metrics.OpRegistration: true, metrics.OpPolicy: true,
		metrics.OpHeartbeat: true, metrics.OpLongPoll: true}
	for _, op := range scenarios.Operations() {
		if !recorded[op] {
			t.Errorf("gate operation %q is not one the fleet records", op)
		}
	}
	for _, o := range []string{metrics.OK, metrics.Refused, metrics.Timeout, metrics.Reset, metrics.TLSError, metrics.Error, metrics.HTTPOutcome(503)} {
		if !scenarios.Outcome(o).Valid() {
			t.Errorf("outcome %q the fleet records is not a valid gate outcome", o)
		}
	}
}

// One MP's documented capacity spreads over processes: the fleet segment in parts of at
// most ClientsPerFleet, the MP in workers of at most SessionsPerWorker sharing its ports,
// unless the scenario fixes the workers; every client is in exactly one part.
func TestLowerSplitsProcesses(t *testing.T) {
	s, err := scenarios.LoadBuiltin("mp-capacity")
	if err != nil {
		t.Fatal(err)
	}
	if err := Rescale(s, 25000); err != nil {
		t.Fatal(err)
	}
	p, err := LowerWith(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Fleets) != 3 || p.MPs[0].Workers != 3 || !p.MPs[0].Config.ReusePort {
		t.Fatalf("25,000 clients: %d fleet processes, %d MP workers (reuseport %v); want 3 and 3",
			len(p.Fleets), p.MPs[0].Workers, p.MPs[0].Config.ReusePort)
	}
	total := 0
	for _, f := range p.Fleets {
		if f.Clients > DefaultClientsPerFleet {
			t.Errorf("fleet %s: %d clients, over %d", f.Name(), f.Clients, DefaultClientsPerFleet)
		}
		total += f.Clients
	}
	if total != 25000 {
		t.Errorf("fleet parts hold %d clients, want 25000", total)
	}
	s.ManagementPoints[0].Workers = 5
	if p, err = LowerWith(s, Options{ClientsPerFleet: 25000}); err != nil {
		t.Fatal(err)
	}
	if len(p.Fleets) != 1 || p.MPs[0].Workers != 5 {
		t.Errorf("--clients-per-fleet 25000 and workers: 5 gave %d fleets, %d workers", len(p.Fleets), p.MPs[0].Workers)
	}
	s.ManagementPoints[0].Workers = 0
	if p, err = LowerWith(s, Options{SessionsPerWorker: 30000}); err != nil || p.MPs[0].Workers != 1 || p.MPs[0].Config.ReusePort {
		t.Errorf("--sessions-per-worker 30000: %d workers, reuseport %v (%v)", p.MPs[0].Workers, p.MPs[0].Config.ReusePort, err)
	}
}
