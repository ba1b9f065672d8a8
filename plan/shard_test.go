package plan

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/scenarios"
)

func loadFixture(t *testing.T, name string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Load("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The split is a function of the scenario: the same shards from two loads of the file,
// whatever the seed; every MP in exactly one shard, every group with its MP, every shard
// at least one MP; largest MP first to the emptiest shard.
func TestSplit(t *testing.T) {
	s := loadFixture(t, "shard-site.yaml")
	want := map[int][]Shard{
		1: {{0, 1, []string{"mp1", "mp2", "mp3", "mp4"}, []string{"a", "b", "c", "d", "e", "f"}, 1400}},
		// mp1 750 clients, mp2 300, mp3 200, mp4 150.
		2: {{0, 2, []string{"mp1"}, []string{"a", "d"}, 750}, {1, 2, []string{"mp2", "mp3", "mp4"}, []string{"b", "c", "e", "f"}, 650}},
		3: {{0, 3, []string{"mp1"}, []string{"a", "d"}, 750}, {1, 3, []string{"mp2"}, []string{"b"}, 300},
			{2, 3, []string{"mp3", "mp4"}, []string{"c", "e", "f"}, 350}},
		4: {{0, 4, []string{"mp1"}, []string{"a", "d"}, 750}, {1, 4, []string{"mp2"}, []string{"b"}, 300},
			{2, 4, []string{"mp3"}, []string{"c"}, 200}, {3, 4, []string{"mp4"}, []string{"e", "f"}, 150}},
	}
	for n := 1; n <= 4; n++ {
		got, err := Split(s, n)
		if err != nil {
			t.Fatalf("Split(%d): %v", n, err)
		}
		if !reflect.DeepEqual(got, want[n]) {
			t.Errorf("Split(%d):\n got %+v\nwant %+v", n, got, want[n])
		}
		// Again, from a fresh load with another seed: the same.
		s2 := loadFixture(t, "shard-site.yaml")
		s2.Seed = 12345
		again, err := Split(s2, n)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Split(%d) not deterministic: %+v then %+v (%v)", n, got, again, err)
		}
		checkPartition(t, s, got)
	}
}

// checkPartition: every MP and group in exactly one shard, groups with their MP.
func checkPartition(t *testing.T, s *scenarios.Scenario, shards []Shard) {
	t.Helper()
	mpShard := map[string]int{}
	clients := 0
	for _, sh := range shards {
		if len(sh.MPs) == 0 {
			t.Errorf("shard %s has no MP", sh)
		}
		for _, m := range sh.MPs {
			if _, dup := mpShard[m]; dup {
				t.Errorf("mp %s in two shards", m)
			}
			mpShard[m] = sh.Index
		}
		clients += sh.Clients
	}
	seen := map[string]bool{}
	for _, sh := range shards {
		for _, g := range sh.Groups {
			seen[g] = true
		}
	}
	total := 0
	for _, g := range s.Clients {
		total += g.Count
		if !seen[g.Group] {
			t.Errorf("group %s in no shard", g.Group)
		}
		if !shards[mpShard[g.MP]].HasGroup(g.Group) {
			t.Errorf("group %s is not in the shard of its MP %s", g.Group, g.MP)
		}
	}
	if len(mpShard) != len(s.ManagementPoints) || clients != total {
		t.Errorf("shards hold %d MPs and %d clients; the scenario %d and %d", len(mpShard), clients, len(s.ManagementPoints), total)
	}
}

// A built-in with every group pinned (notification-cost: five MPs) splits for every N.
func TestSplitBuiltin(t *testing.T) {
	s, err := scenarios.LoadBuiltin("notification-cost")
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= len(s.ManagementPoints); n++ {
		shards, err := Split(s, n)
		if err != nil {
			t.Fatalf("Split(%d): %v", n, err)
		}
		checkPartition(t, s, shards)
	}
}

func TestSplitRefuses(t *testing.T) {
	pinned := loadFixture(t, "shard-site.yaml")
	unpinned, err := scenarios.LoadBuiltin("port-change") // groups pick their MP
	if err != nil {
		t.Fatal(err)
	}
	var free []string
	for _, g := range unpinned.Clients {
		if g.MP == "" {
			free = append(free, g.Group)
		}
	}
	if len(free) == 0 {
		t.Fatal("port-change has no unpinned group any more; pick another fixture")
	}
	cases := []struct {
		name string
		s    *scenarios.Scenario
		n    int
		want []string
	}{
		{"more shards than MPs", pinned, 5, []string{"5 shards", "only 4 management point"}},
		{"zero shards", pinned, 0, []string{"0 shards"}},
		{"unpinned groups", unpinned, 2, append([]string{"no `mp:`", "pin each group"}, free...)},
	}
	for _, c := range cases {
		_, err := Split(c.s, c.n)
		if !errors.Is(err, ErrCannotShard) {
			t.Errorf("%s: err %v, want ErrCannotShard", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
	if _, _, err := LowerShard(pinned, 4, 4, Options{}); !errors.Is(err, ErrCannotShard) {
		t.Errorf("LowerShard(4 of 4): %v", err)
	}
}

func TestParseShard(t *testing.T) {
	good := map[string][2]int{"0/1": {0, 1}, "2/3": {2, 3}, " 1 / 2 ": {1, 2}, "999/1000": {999, 1000}}
	for in, want := range good {
		i, n, err := ParseShard(in)
		if err != nil || i != want[0] || n != want[1] {
			t.Errorf("ParseShard(%q) = %d, %d, %v; want %v", in, i, n, err, want)
		}
	}
	bad := map[string]string{
		"": "no slash", "3": "no slash", "3/3": "I must lie in 0..2", "-1/3": "I must lie", "1/0": "at least 1",
		"0/1001": "at most 1000", "a/b": "whole numbers", "1/3/4": "whole numbers", "0x1/2": "whole numbers",
		strings.Repeat("1", 40) + "/2": "too long",
	}
	for in, want := range bad {
		_, _, err := ParseShard(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--shard") {
			t.Errorf("ParseShard(%q): %v, want an error saying %q", in, err, want)
		}
	}
}

func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/3", "2/3", "3/3", "-1/2", "1/0", " 4 / 9 ", "1/2/3", "", "/", "99999999999999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, n, err := ParseShard(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes for %d bytes of input", len(err.Error()), len(s))
			}
			return
		}
		if i < 0 || i >= n || n > MaxShards {
			t.Fatalf("ParseShard(%q) = %d/%d", s, i, n)
		}
		if i2, n2, err := ParseShard(fmt.Sprintf("%d/%d", i, n)); err != nil || i2 != i || n2 != n {
			t.Fatalf("round trip of %d/%d: %d/%d, %v", i, n, i2, n2, err)
		}
	})
}

// A shard's plan is the whole plan with the other shards left out, and every client
// keeps the schedule, identity and MP it has in the whole: same planned cycle times
// (global index, ramp over the whole scenario), same GUID and MAC; every MP its seed.
// Site-wide events are in every shard, the others in their group's or MP's shard only.
func TestLowerShardKeepsSchedules(t *testing.T) {
	s := loadFixture(t, "shard-site.yaml")
	whole, err := Lower(s)
	if err != nil {
		t.Fatal(err)
	}
	const cycles = 6
	type client struct {
		sched []time.Duration
		guid  string
		mp    string
	}
	clientsOf := func(p *Plan) map[int]client {
		out := map[int]client{}
		for _, f := range p.Fleets {
			cfg := f.Config
			if err := cfg.Normalize(); err != nil {
				t.Fatal(err)
			}
			rows := fleet.PlanPolicy(cfg, cycles)
			r := 0
			for _, g := range cfg.Groups {
				for j := range g.Count {
					idx := g.First + j
					if _, dup := out[idx]; dup {
						t.Fatalf("client %d in two fleets", idx)
					}
					out[idx] = client{rows[r], fleet.GUIDFor(cfg.Seed, idx), g.MP}
					r++
				}
			}
		}
		return out
	}
	all := clientsOf(whole)
	seedOf := map[string]int64{}
	for _, m := range whole.MPs {
		seedOf[m.Name] = m.Config.Seed
	}
	wakeMACs := func(p *Plan) []string {
		var macs []string
		for _, st := range p.Steps {
			if w, ok := st.Action.(*Wake); ok {
				for _, tg := range w.Send.Targets {
					macs = append(macs, tg.MAC)
				}
			}
		}
		return macs
	}
	stepsSeen := map[string]int{}
	for n := 1; n <= 4; n++ {
		got := map[int]client{}
		var macs []string
		for i := range n {
			p, sh, err := LowerShard(s, i, n, Options{})
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
			}
			var names []string
			for _, m := range p.MPs {
				names = append(names, m.Name)
				if m.Config.Seed != seedOf[m.Name] {
					t.Errorf("shard %s: mp %s seed %d, whole %d", sh, m.Name, m.Config.Seed, seedOf[m.Name])
				}
				for _, peer := range m.Config.Peers {
					if !sh.HasMP(peer.Name) {
						t.Errorf("shard %s: mp %s lists peer %s of another shard", sh, m.Name, peer.Name)
					}
				}
			}
			var netMPs []string
			for _, h := range p.Net.MPs {
				netMPs = append(netMPs, h.Name)
			}
			if !slices.Equal(names, sh.MPs) || !slices.Equal(netMPs, sh.MPs) {
				t.Errorf("shard %s: plan MPs %v, network MPs %v, shard %v", sh, names, netMPs, sh.MPs)
			}
			var groups []string
			for _, g := range p.Groups {
				groups = append(groups, g.Name)
			}
			if !slices.Equal(groups, sh.Groups) || p.Clients() != sh.Clients {
				t.Errorf("shard %s: groups %v (%d clients), want %v (%d)", sh, groups, p.Clients(), sh.Groups, sh.Clients)
			}
			for idx, c := range clientsOf(p) {
				got[idx] = c
			}
			macs = append(macs, wakeMACs(p)...)
			for _, st := range p.Steps {
				stepsSeen[fmt.Sprintf("%d/%s/%s", n, st.At, st.Kind+" "+st.Detail)]++
				if a, ok := st.Action.(*SitePorts); ok && len(a.Listen) != len(sh.MPs) {
					t.Errorf("shard %s: site ports step moves %d MPs, the shard has %d", sh, len(a.Listen), len(sh.MPs))
				}
			}
		}
		if len(got) != len(all) {
			t.Fatalf("%d shards hold %d clients, the whole %d", n, len(got), len(all))
		}
		for idx, c := range all {
			if g := got[idx]; !reflect.DeepEqual(g, c) {
				t.Fatalf("%d shards: client %d planned %v (%s, %s), whole %v (%s, %s)", n, idx, g.sched, g.guid, g.mp, c.sched, c.guid, c.mp)
			}
		}
		if w := wakeMACs(whole); !slices.Equal(macs, w) {
			t.Errorf("%d shards wake %d MACs, the whole %d (or others)", n, len(macs), len(w))
		}
	}
	// Each event of the whole: site-wide ones in every shard, the others in one.
	for _, st := range whole.Steps {
		siteWide := false
		switch a := st.Action.(type) {
		case *SitePorts, *Firewall, *Publish, *DNSRecord: // every shard has its own site server
			siteWide = true
		case *Notify:
			siteWide = a.Args.Group == ""
		}
		for n := 1; n <= 4; n++ {
			want := 1
			if siteWide {
				want = n
			}
			if got := stepsSeen[fmt.Sprintf("%d/%s/%s", n, st.At, st.Kind+" "+st.Detail)]; got != want {
				t.Errorf("%d shards: step %s at %s in %d shards, want %d", n, st.Kind, st.At, got, want)
			}
		}
	}
}

// The README's site-wide rehearsal: five shards of exactly one MP and 25,000 clients;
// and one client more per MP would not fit the address budget of one scenario (every
// client has its own address in 198.18.0.0/15), which README says.
func TestSiteWideFixture(t *testing.T) {
	s := loadFixture(t, "site-wide.yaml")
	shards, err := Split(s, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, sh := range shards {
		if sh.Clients != 25000 || len(sh.MPs) != 1 || sh.MPs[0] != fmt.Sprintf("mp%d", i+1) {
			t.Errorf("shard %d: %+v", i, sh)
		}
	}
	s.Clients[0].Count += 25000 // 150,000 in all
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "holds 65534 addresses") {
		t.Errorf("150,000 clients validated (%v): README's Beyond one machine says they do not fit; update it", err)
	}
}
