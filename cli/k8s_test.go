package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs one command line in this process, as Main does.
func runIn(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, streams{strings.NewReader(""), &out, &errb})
	return result{code, out.String(), errb.String()}
}

const k8sImage = "registry.example.com/portlab:1.0"

func TestK8sJob(t *testing.T) {
	r := runIn(t, "k8s", "job", "notification-cost", "--shards", "3", "--image", k8sImage, "--results-pvc", "portlab-results")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{
		"# 1. the shards",
		"kubectl apply -f job.yaml -l portlab.io/step=shards",
		"completionMode: Indexed",
		"- $(JOB_COMPLETION_INDEX)/3",
		"backoffLimit: 0",
		"- NET_ADMIN",
		"claimName: portlab-results",
		"name: notification-cost-merge",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	if r.err != "" {
		t.Errorf("stderr %q", r.err)
	}

	out := filepath.Join(t.TempDir(), "site.yaml")
	r = runIn(t, "k8s", "job", "notification-cost", "--shards", "2", "--image", k8sImage, "--results-pvc", "r", "--privileged", "-o", out, "-n", "rehearsals")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.err, "wrote "+out) {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"privileged: true", "namespace: rehearsals", "kubectl apply -f " + out + " -l portlab.io/step=shards", "kubectl wait -n rehearsals"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", out, want)
		}
	}
}

func TestK8sJobRefusals(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nname: bad\nduration: 30s\nsite: {code: PS1, portz: {}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"k8s", "job", "notification-cost", "--image", k8sImage, "--results-pvc", "r"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no scenario", []string{"k8s", "job", "--shards", "1", "--image", k8sImage}, "accepts 1 arg"},
		{"no shards flag", base, `required flag(s) "shards" not set`},
		{"no image", []string{"k8s", "job", "port-change", "--shards", "1", "--results-pvc", "r"}, `required flag(s) "image" not set`},
		{"zero shards", append(base, "--shards", "0"), "--shards 0: give 1 to 1000"},
		{"too many shards", append(base, "--shards", "1001"), "give 1 to 1000"},
		{"more shards than MPs", append(base, "--shards", "6"), "has 5 management point(s)"},
		{"groups not pinned", []string{"k8s", "job", "port-change", "--shards", "2", "--image", k8sImage, "--results-pvc", "r"}, "--shards 2: cannot be cut into shards: group"},
		{"shards not a number", append(base, "--shards", "three"), "invalid argument"},
		{"bad image", []string{"k8s", "job", "port-change", "--shards", "1", "--image", "Registry/PortLab", "--results-pvc", "r"}, "not an image reference"},
		{"no results", []string{"k8s", "job", "port-change", "--shards", "1", "--image", k8sImage}, "say where results go"},
		{"bad name", append(base, "--shards", "1", "--name", "Site Wide"), "not a DNS-1123 label"},
		{"bad start", append(base, "--shards", "1", "--start-at", "tomorrow"), "want RFC 3339"},
		{"past start", append(base, "--shards", "1", "--start-at", "2020-01-01T00:00:00Z"), "is not in the future"},
		{"start twice", append(base, "--shards", "1", "--start-at", "2099-01-01T00:00:00Z", "--start-delay", "5m"), "--start-at and --start-delay: give one"},
		{"zero delay", append(base, "--shards", "1", "--start-delay", "0s"), "give a positive delay"},
		{"bad selector", append(base, "--shards", "1", "--node-selector", "pool"), "want KEY=VALUE"},
		{"bad memory", append(base, "--shards", "1", "--memory", "8GB"), "not a quantity"},
		{"unknown built-in", []string{"k8s", "job", "port-chnage", "--shards", "1", "--image", k8sImage, "--results-pvc", "r"}, `did you mean "port-change"`},
		{"missing file", []string{"k8s", "job", "./nope.yaml", "--shards", "1", "--image", k8sImage, "--results-pvc", "r"}, "no such file"},
		{"invalid scenario", []string{"k8s", "job", bad, "--shards", "1", "--image", k8sImage, "--results-pvc", "r"}, "bad.yaml:4:"},
		{"unknown flag", append(base, "--shards", "1", "--replicas", "2"), "unknown flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runIn(t, c.args...)
			if r.code != ExitInvalid {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, ExitInvalid, r.err)
			}
			if !strings.Contains(r.err, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, r.err)
			}
			if r.stdout != "" {
				t.Errorf("a refused manifest was written: %q", r.stdout)
			}
		})
	}
}

// Every example in `portlab k8s job --help` runs as written, in a shell, with the
// portlab this test package built.
func TestK8sJobExamplesWork(t *testing.T) {
	c := newK8sJobCmd(streams{})
	ex := strings.ReplaceAll(c.Example, "\\\n", " ")
	dir := t.TempDir()
	n := 0
	for _, line := range strings.Split(ex, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n++
		cmd := exec.Command("/bin/sh", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("example %q: %v\n%s", line, err, stderr.String())
			continue
		}
		if !strings.Contains(stdout.String()+readIfExists(filepath.Join(dir, "job.yaml")), "completionMode: Indexed") {
			t.Errorf("example %q wrote no Indexed Job", line)
		}
	}
	if n < 3 {
		t.Fatalf("%d examples", n)
	}
}

func readIfExists(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
