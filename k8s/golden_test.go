package k8s

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/")

// The full manifests for the built-in notification-cost as three shards, one per
// results mode. A change to any of them shows up in review as a diff of these files;
// rewrite them with: go test ./k8s -run Golden -update
func TestGolden(t *testing.T) {
	for _, mode := range []string{"pvc", "upload-download"} {
		t.Run(mode, func(t *testing.T) {
			o := baseOptions(t)
			for _, m := range modes {
				if m.name == mode {
					m.set(&o)
				}
			}
			m, err := Generate(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "notification-cost-"+mode+".yaml")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("manifest differs from %s; if the change is intended, run go test ./k8s -run Golden -update and review the diff\n%s", path, firstDiff(want, got))
			}
			// The golden file itself is valid: it decodes strictly into the API types.
			decode(t, want)
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return ""
}
