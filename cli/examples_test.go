package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runInDir runs the binary in dir.
func runInDir(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// The --help examples of predict, sweep, show and validate work as written, from the
// checkout's root (a sweep with --dry-run: every candidate checked and predicted, none
// run). Examples naming a file of the user's own (my-change.yaml) are skipped.
func TestOverrideHelpExamplesWork(t *testing.T) {
	for _, c := range []*cobra.Command{newPredictCmd(streams{}), newSweepCmd(streams{}), newShowCmd(streams{}), newValidateCmd(streams{}), newRunCmd(streams{})} {
		n := 0
		text := strings.ReplaceAll(c.Example, "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			line, _, _ = strings.Cut(strings.TrimSpace(line), "#")
			if !strings.HasPrefix(line, "portlab ") || !strings.Contains(line, "--set") && !strings.Contains(line, "--vary") && c.Name() != "predict" {
				continue
			}
			args := shellWords(t, strings.TrimPrefix(line, "portlab "))
			if strings.HasPrefix(args[1], "my-") || strings.HasSuffix(args[1], ">") {
				continue
			}
			switch args[0] {
			case "sweep":
				args = append(args, "--dry-run")
			case "run":
				args[0] = "predict" // the same scenario and flags, no privileges needed
			}
			n++
			if r := runInDir(t, "..", args...); r.code != 0 {
				t.Errorf("portlab %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no example with --set or --vary tried", c.Name())
		}
	}
}

// The README's worked example, up to the runs: import the edge rules into the scenario,
// predict the move to 8443 and to 10443, and check the sweep's candidates.
func TestWorkedExample(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := runInDir(t, dir, "import", "iptables", filepath.Join(root, "examples/https-move/edge.rules"), "--map", "10.20.1.0/24=dc",
		"--router", "edge", "--into", filepath.Join(root, "examples/https-move/my-change.yaml"), "-o", "my-change.yaml")
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "my-change.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default: drop", "{name: internet-https-1, proto: tcp, port: 443, to: dc, action: accept}", "{name: internet-https-2, proto: tcp, port: 10443, to: dc, action: accept}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("merged scenario lacks %q", want)
		}
	}
	for _, c := range []struct {
		sets []string
		want string
	}{
		{nil, "internet  50       unmanaged  firewall-path  installed https 8443 (by push at 6s): edge drops tcp/8443 from internet (the firewall's default)"},
		{[]string{"--set", "timeline[0].site_ports.https.default=10443"}, "internet  50       managed    installed-port  installed https 10443 (by push at 6s) reaches mp1 through the firewall of edge"},
		{[]string{"--set", "network.routers[edge].firewall.rules[internet-https-2].port=8443"}, "internet  50       managed    installed-port"},
	} {
		r := runInDir(t, dir, append([]string{"predict", "my-change.yaml"}, c.sets...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) || !strings.Contains(r.stdout, "intranet  100      managed") {
			t.Errorf("predict %v: exit %d, want %q\n%s%s", c.sets, r.code, c.want, r.stdout, r.err)
		}
	}
	r = runInDir(t, dir, "sweep", "my-change.yaml", "--vary", "timeline[0].site_ports.https.default=443,8443,10443", "--dry-run")
	if r.code != 0 || strings.Count(r.stdout, "every group predicted managed") != 2 || !strings.Contains(r.stdout, "candidate 2: 8443 -> 2-8443\n  intranet") {
		t.Errorf("sweep --dry-run: exit %d\n%s%s", r.code, r.stdout, r.err)
	}
}
