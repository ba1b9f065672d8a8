package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portlab/portlab/fwimport"
	"github.com/portlab/portlab/scenarios"
)

// fwTestdata is fwimport's test data, found before any test changes directory.
var fwTestdata, _ = filepath.Abs("../fwimport/testdata")

// runImportIn runs one command line through Run, as main does, in dir.
func runImportIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, streams{strings.NewReader(stdin), &out, &errb})
	return result{code, out.String(), errb.String()}
}

// importFixtures copies the fwimport test data a user would have into a fresh
// directory: edge.json (nft -j list ruleset), edge.rules (iptables-save), edge.map,
// and my-change.yaml, a scenario with a router edge.
func importFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for dst, src := range map[string]string{
		"edge.json":      fwTestdata + "/edge.json",
		"edge.rules":     fwTestdata + "/diff/default-drop.rules",
		"edge.map":       fwTestdata + "/diff/lab.map",
		"my-change.yaml": fwTestdata + "/diff/lab.yaml",
		"sink.json":      fwTestdata + "/kitchen-sink.json",
		"sink.rules":     fwTestdata + "/kitchen-sink.rules",
		"log.rules":      fwTestdata + "/edge.rules",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportStdoutAndOutputFile(t *testing.T) {
	dir := importFixtures(t)
	r := runImportIn(t, dir, "", "import", "nft", "edge.json", "--map-file", "edge.map")
	if r.code != 0 || r.err != "" {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{
		"# Imported by `portlab import nft` from edge.json: chain inet filter forward, for router edge.\n",
		"firewall:\n  default: drop  # chain policy drop\n  rules:\n",
		"    # rule 3 (handle 5): ip saddr 198.18.32.0/20 tcp dport { 80, 443 } accept comment \"internet-web\"\n",
		"    - {name: internet-web-1, proto: tcp, port: 80, from: internet, action: accept}\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	o := runImportIn(t, "", "", "import", "nft", "edge.json", "--map-file", "edge.map", "-o", "fw.yaml")
	if o.code != 0 || o.stdout != "" || !strings.Contains(o.err, "wrote fw.yaml") {
		t.Fatalf("%+v", o)
	}
	if b, _ := os.ReadFile("fw.yaml"); string(b) != r.stdout {
		t.Errorf("-o wrote something else than stdout")
	}
	// --map and --map-file add up; standard input works with "-".
	data, _ := os.ReadFile("edge.rules")
	s := runImportIn(t, "", string(data), "import", "iptables", "-", "--map", "198.18.16.0/20=lan", "--map", "198.18.32.0/20=internet", "--map", "198.19.1.0/24=dc", "--router", "edge")
	if s.code != 0 || !strings.Contains(s.stdout, "from standard input") || !strings.Contains(s.stdout, "- {name: r4, proto: tcp, port: 8443, from: lan, to: dc, action: accept}") {
		t.Fatalf("%+v", s)
	}
}

func TestImportIntoKeepsComments(t *testing.T) {
	dir := importFixtures(t)
	src, _ := os.ReadFile(filepath.Join(dir, "my-change.yaml"))
	r := runImportIn(t, dir, "", "import", "iptables", "edge.rules", "--map-file", "edge.map", "--into", "my-change.yaml", "-o", "merged.yaml")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	out, err := os.ReadFile("merged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(src), "\n") {
		if !strings.Contains(string(out), l) {
			t.Errorf("line of the scenario lost: %q", l)
		}
	}
	s, err := scenarios.Load("merged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if fw := s.Network.Routers[0].Firewall; fw == nil || fw.Default != scenarios.Drop || len(fw.Rules) != 4 {
		t.Errorf("merged firewall %+v", fw)
	}
	if !strings.Contains(string(out), "          # rule 2, line 6: -A FORWARD -p tcp -m multiport --dports 80,443 -j ACCEPT\n") {
		t.Errorf("per-rule comments missing:\n%s", out)
	}
	// In place: -o the scenario itself.
	if r := runImportIn(t, "", "", "import", "iptables", "edge.rules", "--map-file", "edge.map", "--into", "my-change.yaml", "-o", "my-change.yaml"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if again, _ := os.ReadFile("my-change.yaml"); !bytes.Equal(again, out) {
		t.Errorf("in-place merge differs from -o merged.yaml")
	}
	// Merging again replaces the block rather than adding a second one.
	if r := runImportIn(t, "", "", "import", "iptables", "edge.rules", "--map-file", "edge.map", "--into", "my-change.yaml"); r.code != 0 || r.stdout != string(out) {
		t.Errorf("second merge is not idempotent: %+v", r)
	}
}

func TestImportRefusedExits2ListingEveryRule(t *testing.T) {
	dir := importFixtures(t)
	for _, c := range []struct{ format, file string }{{"nft", "sink.json"}, {"iptables", "sink.rules"}} {
		t.Run(c.format, func(t *testing.T) {
			r := runImportIn(t, dir, "", "import", c.format, c.file, "--map-file", "edge.map")
			if r.code != 2 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
			}
			data, _ := os.ReadFile(c.file)
			maps, _ := fwimport.ParseMapFile("edge.map", mustRead(t, "edge.map"))
			opt := fwimport.Options{File: c.file, Map: maps}
			var im *fwimport.Import
			var err error
			if c.format == "nft" {
				im, err = fwimport.ImportNFT(data, opt)
			} else {
				im, err = fwimport.ImportIPTables(data, opt)
			}
			if err != nil {
				t.Fatal(err)
			}
			refused := im.Refused()
			if len(refused) < 25 {
				t.Fatalf("only %d refused", len(refused))
			}
			for _, e := range refused {
				if want := e.Where() + ": " + e.Text + "\n      " + e.Reason + "\n"; !strings.Contains(r.err, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			if !strings.Contains(r.err, "nothing written; --partial writes what translates") {
				t.Errorf("stderr: %s", r.err)
			}
			// --partial writes the rest with the refusals as comments, and exits 1.
			p := runImportIn(t, "", "", "import", c.format, c.file, "--map-file", "edge.map", "--partial", "-o", "partial.yaml")
			if p.code != 1 || !strings.Contains(p.err, "--partial: written without the") {
				t.Fatalf("%+v", p)
			}
			b, _ := os.ReadFile("partial.yaml")
			if got := strings.Count(string(b), "# REFUSED "); got != len(refused) {
				t.Errorf("%d REFUSED comments, want %d", got, len(refused))
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportInvalidInputExits2(t *testing.T) {
	dir := importFixtures(t)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"import", "nft", "nope.json"}, "open nope.json: no such file or directory"},
		{"directory", []string{"import", "iptables", "adir"}, "adir: not a regular file (a directory)"},
		{"not a listing", []string{"import", "nft", "edge.rules"}, "edge.rules: not an nft JSON listing"},
		{"not iptables-save", []string{"import", "iptables", "edge.json"}, "edge.json:1: rule outside a table"},
		{"bad map", []string{"import", "nft", "edge.json", "--map", "198.18.16.0/20"}, "want CIDR=SEGMENT"},
		{"bad map file", []string{"import", "nft", "edge.json", "--map-file", "edge.json"}, "edge.json:1: want `CIDR SEGMENT`"},
		{"missing map file", []string{"import", "nft", "edge.json", "--map-file", "nope.map"}, "--map-file: invalid input: open nope.map"},
		{"unknown chain", []string{"import", "nft", "edge.json", "--chain", "inet filter nope"}, `no chain "inet filter nope"`},
		{"no router", []string{"import", "nft", "edge.json", "--map-file", "edge.map", "--into", "my-change.yaml", "--router", "core"}, `my-change.yaml has no router "core" (routers: edge)`},
		{"gates name old rules", []string{"import", "nft", "edge.json", "--map-file", "edge.map", "--into", filepath.Join(fwTestdata, "../../scenarios/builtin/blocked-443.yaml")}, `: gates[2].rule: no rule named "internet-rest"`},
		{"unknown flag", []string{"import", "nft", "edge.json", "--frob"}, "unknown flag: --frob"},
		{"no format", []string{"import"}, "name a format: portlab import nft FILE"},
		{"no file", []string{"import", "nft"}, "accepts 1 arg(s), received 0"},
		{"ipv4-only is nft only", []string{"import", "iptables", "edge.rules", "--ipv4-only"}, "unknown flag: --ipv4-only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runImportIn(t, dir, "", c.args...)
			if r.code != 2 || !strings.Contains(r.err, c.want) {
				t.Errorf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", r.code, c.want, r.stdout, r.err)
			}
		})
	}
}

// Every `portlab import` line of the --help examples runs as written, on the files it
// names (the lines that call nft or iptables-save themselves are the user's, not run).
func TestImportHelpExamplesWork(t *testing.T) {
	for _, format := range []string{"nft", "iptables"} {
		c := newImportFormatCmd(streams{}, format)
		n := 0
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			stdin := ""
			if cmd, rest, ok := strings.Cut(line, "| portlab "); ok {
				if !strings.HasPrefix(cmd, "nft -j list ruleset") {
					t.Fatalf("unexpected pipe in %q", line)
				}
				stdin, line = string(mustRead(t, fwTestdata+"/edge.json")), "portlab "+rest
			}
			if !strings.HasPrefix(line, "portlab ") {
				continue
			}
			n++
			args := shellWords(t, strings.TrimPrefix(line, "portlab "))
			r := runImportIn(t, importFixtures(t), stdin, args...)
			if r.code != 0 {
				t.Errorf("%s: exit %d\nstderr: %s", line, r.code, r.err)
			}
		}
		if n < 3 {
			t.Errorf("%s: only %d examples", format, n)
		}
	}
}

// shellWords splits an example line on blanks, honouring single quotes.
func shellWords(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	in, has := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, has = !in, true
		case r == ' ' && !in:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if in {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

func TestImportHelp(t *testing.T) {
	r := runImportIn(t, "", "", "import", "nft", "--help")
	for _, want := range []string{"--map stringArray", "--into string", "--partial", "--skip-log", "--ipv4-only", "Exit codes: 0 written", "nft -j list ruleset > edge.json"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q (exit %d):\n%s", want, r.code, r.stdout)
		}
	}
}
