package plan

import (
	"testing"

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
	if err := Rescale(s, 400); err != nil || s.Clients[0].Count != 300 || s.Clients[1].Count != 100 {
		t.Errorf("proportions not kept: %+v %v", s.Clients, err)
	}
}
