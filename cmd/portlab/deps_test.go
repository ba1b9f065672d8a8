package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The one-way dependency rule of DESIGN.md: the format, the network, the results, the
// metrics and the wire format stand on their own, and an agent never links the scenario
// format (nor its YAML and JSON Schema libraries). go list sees the real import graph, so
// a new import that breaks the rule fails here.
func TestDependencyRule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const mod = "github.com/portlab/portlab"
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", mod+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var all []string
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			all = append(all, p.ImportPath)
		}
		return all
	}
	own := func(path, pkg string) bool {
		return path == mod+"/"+pkg || strings.HasPrefix(path, mod+"/"+pkg+"/")
	}
	for _, pkg := range []string{"netsim", "scenarios", "reports", "metrics", "wire"} {
		for _, d := range deps(pkg) {
			if strings.HasPrefix(d, mod+"/") && !own(d, pkg) {
				t.Errorf("%s imports %s: it must import no other portlab package", pkg, strings.TrimPrefix(d, mod+"/"))
			}
		}
	}
	for _, pkg := range []string{"agent", "agent/mp", "agent/fleet", "agent/site"} {
		for _, d := range deps(pkg) {
			switch {
			case d == mod+"/scenarios", d == mod+"/plan", d == mod+"/harness", d == mod+"/cli":
				t.Errorf("%s imports %s: agents never import the scenario format or the orchestrator", pkg, strings.TrimPrefix(d, mod+"/"))
			case strings.HasPrefix(d, "github.com/goccy/go-yaml"), strings.HasPrefix(d, "github.com/invopop/jsonschema"):
				t.Errorf("%s links %s: an agent needs no YAML or JSON Schema", pkg, d)
			}
		}
	}
}
