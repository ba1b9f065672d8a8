package plan

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/scenarios"
)

func TestRescaleExactTotal(t *testing.T) {
	for _, name := range []string{"notification-cost", "port-change", "wake-up", "fallback-alternate"} {
		for _, n := range []int{5, 6, 8, 9, 13, 100, 777, 1000} {
			s, err := scenarios.LoadBuiltin(name)
			if err != nil {
				t.Fatal(err)
			}
			if n < len(s.Clients) {
				continue
			}
			if err := Rescale(s, n); err != nil {
				t.Fatalf("%s --clients %d: %v", name, n, err)
			}
			total := 0
			for _, g := range s.Clients {
				if g.Count < 1 {
					t.Fatalf("%s --clients %d: group %s has %d clients", name, n, g.Group, g.Count)
				}
				total += g.Count
			}
			if total != n {
				t.Errorf("%s --clients %d: %d clients", name, n, total)
			}
		}
	}
	s, _ := scenarios.LoadBuiltin("port-change")
	if err := Rescale(s, 1); err == nil {
		t.Error("fewer clients than groups must be refused")
	}
	s, _ = scenarios.LoadBuiltin("port-change")
	if err := Rescale(s, 1200); err != nil || s.Clients[0].Count != 600 || s.Clients[1].Count != 200 || s.Clients[2].Count != 400 {
		t.Errorf("proportions not kept: %+v %v", s.Clients, err)
	}
}

// --clients 9223372036854775807 spun forever: the float share overflowed and the loop
// that hands out the remainder never reached n. Huge, negative-overflowing and
// boundary counts now end at once, refused or exact.
func TestRescaleBounds(t *testing.T) {
	if got := 1 << (32 - scenarios.BenchmarkRange().Bits()); got != MaxClients || MaxClients > scenarios.MaxTotalClients {
		t.Fatalf("MaxClients %d: 198.18.0.0/15 holds %d, the format allows %d", MaxClients, got, scenarios.MaxTotalClients)
	}
	for _, n := range []int{math.MaxInt64, math.MaxInt64 / 2, math.MaxInt32, MaxClients + 1, scenarios.MaxTotalClients + 1} {
		s, err := scenarios.LoadBuiltin("port-change")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Rescale(s, n) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "at most") {
				t.Errorf("--clients %d: %v, want a refusal naming the bound", n, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("--clients %d: Rescale still running after 2s", n)
		}
	}
	// At the bound the arithmetic is exact and the addresses decide: port-change's clients
	// cannot all get one, and the refusal names the largest count that fits, which does.
	s, _ := scenarios.LoadBuiltin("port-change")
	err := Rescale(s, MaxClients)
	if err == nil || !strings.Contains(err.Error(), "largest count that fits") {
		t.Fatalf("--clients %d on port-change: %v, want the largest that fits", MaxClients, err)
	}
	var largest int
	if _, e := fmt.Sscanf(err.Error()[strings.LastIndex(err.Error(), " ")+1:], "%d", &largest); e != nil {
		t.Fatalf("no count in %q", err)
	}
	for _, c := range []struct {
		n  int
		ok bool
	}{{largest, true}, {largest + 1, false}} {
		s, _ := scenarios.LoadBuiltin("port-change")
		if err := Rescale(s, c.n); (err == nil) != c.ok {
			t.Errorf("--clients %d: %v, want ok=%v (largest that fits %d)", c.n, err, c.ok, largest)
		}
	}
}

// Every built-in takes the scale of one MP's documented capacity and beyond: client
// ranges grow (in place, or moved to free room of 198.18.0.0/15), do not overlap, and
// validate.
func TestRescaleGrowsRanges(t *testing.T) {
	bs, err := scenarios.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		name := b.Name
		for _, n := range []int{20000, 25000, 60000} {
			s, err := scenarios.LoadBuiltin(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := Rescale(s, n); err != nil {
				t.Errorf("%s --clients %d: %v", name, n, err)
				continue
			}
			var ps []netip.Prefix
			for _, seg := range s.Network.Segments {
				for _, p := range []scenarios.Prefix{seg.Subnet, seg.Clients} {
					if !p.IsValid() {
						continue
					}
					if !scenarios.BenchmarkRange().Contains(p.Addr()) {
						t.Errorf("%s --clients %d: %s outside 198.18.0.0/15", name, n, p)
					}
					for _, q := range ps {
						if q.Overlaps(p.Masked()) {
							t.Errorf("%s --clients %d: %s overlaps %s", name, n, p, q)
						}
					}
					ps = append(ps, p.Masked())
				}
			}
		}
	}
	// Ranges that are large enough stay as written.
	s, _ := scenarios.LoadBuiltin("port-change")
	before := s.Network.Segments[0].Clients
	if err := Rescale(s, 100); err != nil || s.Network.Segments[0].Clients != before {
		t.Errorf("--clients 100 moved %s to %s (%v)", before, s.Network.Segments[0].Clients, err)
	}
}
