package netsim

import (
	"context"
	"testing"
)

// benchScenarioYAML is the five-namespace topology of the benchmark: a client segment
// with 65,536 identities (a /16), a router, one MP and the site server on dc, and dc's
// switch.
// BenchmarkBuildTeardown builds and closes the five-namespace topology. Teardown is
// Close: the kernel dismantles released namespaces asynchronously afterwards.
func BenchmarkBuildTeardown(b *testing.B) {
	requireRoot(b)
	s := benchSpec()
	p, err := makePlan(&s)
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
