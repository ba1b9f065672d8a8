package fwimport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portlab/portlab/scenarios"
)

// maxFuzzInput bounds a fuzz input: past a few tens of kilobytes the parsers only
// repeat themselves, and small inputs keep the execution rate up.
const maxFuzzInput = 64 << 10

// checkImport holds for every import that did not fail: each portlab rule is one the
// scenario format accepts, the entries point at real rules, rendering works, and a
// translation without refusals merges into a scenario that validates.
func checkImport(t *testing.T, im *Import, lab []byte) {
	seen := map[string]bool{}
	for _, r := range im.Firewall.Rules {
		switch {
		case !ruleNameRE.MatchString(r.Name) || r.Name == "default" || seen[r.Name]:
			t.Fatalf("bad or duplicate rule name %q", r.Name)
		case !r.Port.IsZero() && (r.Proto != scenarios.ProtoTCP && r.Proto != scenarios.ProtoUDP):
			t.Fatalf("rule %s: port with proto %s", r.Name, r.Proto)
		case !r.Port.IsZero() && (r.Port.Lo < 1 || r.Port.Hi > 65535 || r.Port.Lo > r.Port.Hi):
			t.Fatalf("rule %s: port range %v", r.Name, r.Port)
		case r.Action != scenarios.Accept && r.Action != scenarios.Drop && r.Action != scenarios.Reject:
			t.Fatalf("rule %s: action %q", r.Name, r.Action)
		}
		seen[r.Name] = true
	}
	for _, e := range im.Entries {
		for _, i := range e.Rules {
			if i < 0 || i >= len(im.Firewall.Rules) {
				t.Fatalf("entry %s points at rule %d of %d", e.Where(), i, len(im.Firewall.Rules))
			}
		}
		if e.Outcome == Refused && e.Reason == "" {
			t.Fatalf("%s refused without a reason", e.Where())
		}
	}
	_ = im.YAML()
	if im.Err() == nil {
		if _, err := Merge("lab.yaml", lab, im); err != nil {
			t.Fatalf("a clean translation does not merge: %v\n%s", err, im.YAML())
		}
	}
}

func fuzzSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	diff, _ := filepath.Glob(filepath.Join("testdata", "diff", pattern))
	for _, p := range append(files, diff...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func fuzzMap(f *testing.F) ([]Mapping, []byte) {
	data, err := os.ReadFile("testdata/diff/lab.map")
	if err != nil {
		f.Fatal(err)
	}
	m, err := ParseMapFile("lab.map", data)
	if err != nil {
		f.Fatal(err)
	}
	lab, err := os.ReadFile("testdata/diff/lab.yaml")
	if err != nil {
		f.Fatal(err)
	}
	return m, lab
}

func FuzzImportNFT(f *testing.F) {
	fuzzSeeds(f, "*.json")
	f.Add(nftListingOf([]string{eq(pl("tcp", "dport"), `{"set":[80,{"range":[8000,8999]}]}`), accept}))
	f.Add([]byte(`{"nftables":[]}`))
	maps, lab := fuzzMap(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		for _, opt := range []Options{{Map: maps}, {Map: maps, SkipLog: true, IPv4Only: true, AssumeStateful: true}} {
			im, err := ImportNFT(data, opt)
			if err != nil {
				continue
			}
			checkImport(t, im, lab)
		}
	})
}

func FuzzImportIPTables(f *testing.F) {
	fuzzSeeds(f, "*.rules")
	f.Add(iptablesOf("-s 198.18.16.0/20 -p tcp -m multiport --dports 80,443 -j ACCEPT"))
	f.Add([]byte("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n"))
	maps, lab := fuzzMap(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		for _, opt := range []Options{{Map: maps}, {Map: maps, SkipLog: true, AssumeStateful: true}} {
			im, err := ImportIPTables(data, opt)
			if err != nil {
				continue
			}
			checkImport(t, im, lab)
		}
	})
}

func FuzzParseMapFile(f *testing.F) {
	f.Add([]byte("198.18.16.0/20 lan\n# c\n198.19.1.0/24 dc # x\n"))
	f.Add([]byte("198.18.16.9 lan\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		ms, err := ParseMapFile("m", data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if !m.Prefix.Addr().Is4() || m.Prefix.Masked() != m.Prefix || !segmentRE.MatchString(m.Segment) {
				t.Fatalf("accepted %v", m)
			}
		}
	})
}
