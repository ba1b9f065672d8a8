package plan

import (
	"math"
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
	// At the bound the arithmetic is exact; validation decides (port-change's ranges are
	// smaller than the whole benchmark range).
	s, _ := scenarios.LoadBuiltin("port-change")
	if err := Rescale(s, MaxClients); err == nil || !strings.Contains(err.Error(), "addresses") {
		t.Errorf("--clients %d on port-change: %v, want the range-size error", MaxClients, err)
	}
	total := 0
	for _, g := range s.Clients {
		total += g.Count
	}
	if total != MaxClients {
		t.Errorf("--clients %d spread %d clients", MaxClients, total)
	}
}
