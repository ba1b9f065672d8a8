package fwimport

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/portlab/portlab/scenarios"
)

// mergeImport is a small translated import for router.
func mergeImport(t *testing.T, router string) *Import {
	t.Helper()
	im, err := ImportNFT(nftListingOf(
		[]string{eq(pl("ip", "saddr"), prefix("198.18.32.0", 20)), eq(pl("tcp", "dport"), "443"), accept},
		[]string{eq(pl("ip", "saddr"), prefix("198.18.32.0", 20)), drop},
	), Options{File: "edge.json", Router: router, Map: testMap(t)})
	if err != nil || im.Err() != nil {
		t.Fatalf("%v %v", err, im.Err())
	}
	return im
}

// lineSet is the file's lines, to check that every line but the replaced block stays.
func lineSet(b []byte) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		m[l] = true
	}
	return m
}

func mergeAndCheck(t *testing.T, src []byte, im *Import) (string, *scenarios.Scenario) {
	t.Helper()
	out, err := Merge("routers.yaml", src, im)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Parse("routers.yaml", out)
	if err != nil {
		t.Fatalf("merged scenario: %v\n%s", err, out)
	}
	for _, r := range s.Network.Routers {
		if r.Name == im.Options.Router && !reflect.DeepEqual(*r.Firewall, im.Firewall) {
			t.Errorf("router %s reads back %+v, want %+v", r.Name, r.Firewall, im.Firewall)
		}
	}
	return string(out), s
}

func TestMergeKeepsTheRestOfTheFile(t *testing.T) {
	src, err := os.ReadFile("testdata/merge/routers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, router := range []string{"core", "edge", "spare"} {
		t.Run(router, func(t *testing.T) {
			out, s := mergeAndCheck(t, src, mergeImport(t, router))
			got := lineSet([]byte(out))
			for _, l := range strings.Split(string(src), "\n") {
				replaced := strings.Contains(l, "{name: core") && router == "core" ||
					router == "spare" && (strings.Contains(l, "old") || strings.Contains(l, "rules:") || strings.Contains(l, "firewall:"))
				if !replaced && !got[l] {
					t.Errorf("line lost: %q", l)
				}
			}
			for _, want := range []string{
				"# Imported by `portlab import nft` from edge.json: chain inet filter forward, for router " + router + ".",
				"# rule 2 (handle 3): ip saddr 198.18.32.0/20 tcp dport 443 accept",
				"- {name: r2, proto: tcp, port: 443, from: internet, action: accept}",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			// The other routers are unchanged.
			for _, r := range s.Network.Routers {
				switch {
				case r.Name == router:
				case r.Name == "spare" && (r.Firewall == nil || r.Firewall.Rules[0].Name != "old" || !r.DirectedBroadcast):
					t.Errorf("spare changed: %+v", r)
				case r.Name != "spare" && r.Firewall != nil:
					t.Errorf("%s got a firewall", r.Name)
				}
			}
			if router == "spare" && (!s.Network.Routers[2].DirectedBroadcast || strings.Contains(out, "old comment")) {
				t.Errorf("spare: the keys after the old block must stay, the old block must go:\n%s", out)
			}
		})
	}
}

func TestMergeFlowRouterBecomesBlock(t *testing.T) {
	src, _ := os.ReadFile("testdata/merge/routers.yaml")
	out, _ := mergeAndCheck(t, src, mergeImport(t, "core"))
	want := "    - name: core  # flow style, one line\n      links: [lan, dc]\n      # Imported by"
	if !strings.Contains(out, want) {
		t.Errorf("core not rewritten in block style:\n%s", out)
	}
}

func TestMergeCRLF(t *testing.T) {
	src, _ := os.ReadFile("testdata/merge/routers.yaml")
	crlf := []byte(strings.ReplaceAll(string(src), "\n", "\r\n"))
	out, err := Merge("routers.yaml", crlf, mergeImport(t, "edge"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") {
		t.Errorf("mixed line endings")
	}
}

func TestMergeErrors(t *testing.T) {
	src, _ := os.ReadFile("testdata/merge/routers.yaml")
	// No such router.
	_, err := Merge("routers.yaml", src, mergeImport(t, "nope"))
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), `routers.yaml has no router "nope" (routers: core, edge, spare); name one with --router`) {
		t.Errorf("missing router: %v", err)
	}
	// Not a valid scenario to begin with.
	_, err = Merge("bad.yaml", []byte("version: 1\nname: x\n"), mergeImport(t, "edge"))
	var me *MergeError
	if !errors.As(err, &me) || !errors.Is(err, ErrInput) || !strings.HasPrefix(err.Error(), "bad.yaml is not a valid scenario: ") {
		t.Errorf("invalid input scenario: %v", err)
	}
	// Valid before, invalid after: a gate names a rule of the old firewall.
	b443, err := os.ReadFile("../scenarios/builtin/blocked-443.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge("blocked-443.yaml", b443, mergeImport(t, "edge"))
	var el scenarios.ErrorList
	if !errors.As(err, &me) || !errors.As(err, &el) || !strings.Contains(err.Error(), "internet-rest") {
		t.Errorf("gate naming an old rule: %v", err)
	}
	// Flow-style router list.
	flow := strings.Replace(string(src), "  routers:\n", "  routers: [{name: x, links: [lan, dc]}]\n  old:\n", 1)
	if _, err := Merge("f.yaml", []byte(flow), mergeImport(t, "x")); err == nil {
		t.Errorf("flow router list merged")
	}
}

// The built-in blocked-443 story, with its edge imported from a ruleset that names its
// rules like the story's gates do: the merged file keeps every comment and validates.
func TestMergeBuiltinKeepsComments(t *testing.T) {
	b443, err := os.ReadFile("../scenarios/builtin/blocked-443.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/blocked-443.json")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMapping("198.18.32.0/22=internet")
	im, err := ImportNFT(data, Options{File: "blocked-443.json", Map: []Mapping{m}})
	if err != nil || im.Err() != nil {
		t.Fatalf("%v %v", err, im.Err())
	}
	out, err := Merge("blocked-443.yaml", b443, im)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b443), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") && !strings.Contains(string(out), l) {
			t.Errorf("comment lost: %q", l)
		}
	}
	s, err := scenarios.Parse("merged", out)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := scenarios.Parse("orig", b443)
	if !reflect.DeepEqual(s.Network.Routers[1].Firewall, orig.Network.Routers[1].Firewall) {
		t.Errorf("the imported edge differs from the story's:\n%+v\n%+v", s.Network.Routers[1].Firewall, orig.Network.Routers[1].Firewall)
	}
}
