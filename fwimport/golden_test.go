package fwimport

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

var (
	update   = flag.Bool("update", false, "rewrite testdata/*.yaml.golden from the current output")
	listings = flag.Bool("listings", false, "regenerate testdata/*.json and *.rules from the *.nft and *.iptables sources with the real nft and iptables-restore/iptables-save, in a throwaway network namespace (root)")
)

// goldenCases are the translations kept as golden files: input listing, options,
// golden name. Listings are real tool output (see -listings).
var goldenCases = []struct {
	input, golden string
	opt           Options
}{
	{"edge.json", "edge-nft", Options{}},
	{"blocked-443.json", "blocked-443-nft", Options{}},
	{"kitchen-sink.json", "kitchen-sink-nft", Options{}},
	{"kitchen-sink.json", "kitchen-sink-nft-skip", Options{SkipLog: true, IPv4Only: true}},
	{"stateless.json", "stateless-nft", Options{}},
	{"stateless.json", "stateless-nft-assume", Options{AssumeStateful: true}},
	{"two-forward.json", "two-forward-nft", Options{Chain: "inet filter forward", Router: "core"}},
	{"edge.rules", "edge-iptables", Options{}},
	{"edge.rules", "edge-iptables-skip", Options{SkipLog: true}},
	{"kitchen-sink.rules", "kitchen-sink-iptables", Options{}},
}

// golden renders what `portlab import --partial` writes, followed by the error a run
// without --partial reports, as comments.
func golden(im *Import) []byte {
	var b bytes.Buffer
	b.Write(im.YAML())
	if err := im.Err(); err != nil {
		b.WriteString("# Without --partial, exit 2 with:\n")
		for _, l := range strings.Split(err.Error(), "\n") {
			b.WriteString("#   " + l + "\n")
		}
	}
	return b.Bytes()
}

func TestGoldens(t *testing.T) {
	if *listings {
		regenerateListings(t)
	}
	maps := labMap(t)
	for _, c := range goldenCases {
		t.Run(c.golden, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", c.input))
			if err != nil {
				t.Fatal(err)
			}
			opt := c.opt
			opt.File, opt.Map = c.input, maps
			var im *Import
			if strings.HasSuffix(c.input, ".json") {
				im, err = ImportNFT(data, opt)
			} else {
				im, err = ImportIPTables(data, opt)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := golden(im)
			path := filepath.Join("testdata", c.golden+".yaml.golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// regenerateListings applies each source with the real tool in a fresh throwaway
// namespace and stores the tool's own listing of it.
func regenerateListings(t *testing.T) {
	requireRoot(t)
	requireTools(t, "nft", "iptables-restore", "iptables-save", "nsenter")
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	hostIno, err := nsInode(host)
	host.Close()
	if err != nil {
		t.Fatal(err)
	}
	srcs, _ := filepath.Glob("testdata/*.nft")
	more, _ := filepath.Glob("testdata/*.iptables")
	for _, src := range append(srcs, more...) {
		h, err := newNS()
		if err != nil {
			t.Fatal(err)
		}
		n := &realNet{ns: map[string]netns.NsHandle{"x": h}, host: hostIno}
		abs, _ := filepath.Abs(src)
		var out []byte
		dst := strings.TrimSuffix(src, filepath.Ext(src))
		if strings.HasSuffix(src, ".nft") {
			_, err = n.run("x", "nft", "-f", abs)
			if err == nil {
				out, err = n.run("x", "nft", "-j", "list", "ruleset")
			}
			dst += ".json"
		} else {
			_, err = n.run("x", "iptables-restore", abs)
			if err == nil {
				out, err = n.run("x", "iptables-save")
			}
			dst += ".rules"
		}
		n.close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
