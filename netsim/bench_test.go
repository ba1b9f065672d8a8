package netsim

import (
	"context"
	"testing"
)

// benchScenarioYAML is the five-namespace topology of the benchmark: a client segment
// with 65,536 identities (a /16), a router, one MP and the site server on dc, and dc's
// switch.
const benchScenarioYAML = `
version: 1
name: bench
duration: 60s
site: {code: PS1, segment: dc}
network:
  segments:
    - {name: lan, clients: 198.18.0.0/16}
    - {name: dc}
  routers:
    - name: core
      links: [lan, dc]
      firewall:
        rules:
          - {name: no-8443, proto: tcp, port: 8443, action: drop}
management_points:
  - {name: mp1, segment: dc}
clients:
  - {group: all, count: 65534, segment: lan}
`

// BenchmarkBuildTeardown builds and closes the five-namespace topology. Teardown is
// Close: the kernel dismantles released namespaces asynchronously afterwards.
func BenchmarkBuildTeardown(b *testing.B) {
	requireRoot(b)
	s := mustScenario(benchScenarioYAML)
	p, err := makePlan(s)
	if err != nil {
		b.Fatal(err)
	}
	if len(p.nodes) != 5 {
		b.Fatalf("%d namespaces, want 5", len(p.nodes))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		topo, err := Build(ctx, s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := topo.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
