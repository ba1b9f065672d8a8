package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is built once for the tests that run portlab as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portlab-cli-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "portlab")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/portlab").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code        int
	stdout, err string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
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

func TestExitCodes(t *testing.T) {
	tmp := t.TempDir()
	valid := filepath.Join(tmp, "valid.yaml")
	if r := run(t, "", "init", "valid", "-o", valid); r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"valid file", []string{"validate", valid}, 0, "ok"},
		{"invalid file", []string{"validate", "../scenarios/testdata/invalid/many-errors.yaml"}, 2, "many-errors.yaml:7:25: site.ports.http.alternat: unknown field `alternat`"},
		{"invalid among valid", []string{"validate", valid, "../scenarios/testdata/invalid/http-equals-https.yaml"}, 2, "1 of 2 file(s) invalid"},
		{"missing file", []string{"validate", filepath.Join(tmp, "nope.yaml")}, 2, "no such file"},
		{"no args", []string{"validate"}, 2, "requires at least 1 arg"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"list", "--frob"}, 2, "unknown flag"},
		{"show builtin", []string{"show", "port-change"}, 0, "unmanaged_after: 3"},
		{"show unknown", []string{"show", "port-chnage"}, 2, `did you mean "port-change"`},
		{"list", []string{"list"}, 0, "notification-cost"},
		{"version", []string{"version"}, 0, "scenario format v1"},
		{"init exists", []string{"init", "x", "-o", valid}, 2, "exists"},
		{"init bad name", []string{"init", "Bad Name"}, 2, "invalid scenario name"},
		{"completion", []string{"completion", "bash"}, 0, "bash completion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.err)
			}
			if !strings.Contains(r.stdout+r.err, c.want) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", c.want, r.stdout, r.err)
			}
		})
	}
}

func TestInitOutputValidates(t *testing.T) {
	r := run(t, "", "init", "starter")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if v := run(t, r.stdout, "validate", "/dev/stdin"); v.code != 0 {
		t.Fatalf("init output does not validate: %+v", v)
	}
}

func TestShowRoundTrips(t *testing.T) {
	for _, name := range []string{"port-change", "blocked-443", "fallback-alternate", "wake-up", "notification-cost"} {
		r := run(t, "", "show", name)
		if r.code != 0 {
			t.Fatalf("show %s: %+v", name, r)
		}
		if v := run(t, r.stdout, "validate", "/dev/stdin"); v.code != 0 {
			t.Errorf("show %s output does not validate: %s", name, v.err)
		}
		again := run(t, r.stdout, "show", "/dev/stdin")
		// Defaults are idempotent: showing the shown scenario changes nothing but the title line.
		if strip(again.stdout) != strip(r.stdout) {
			t.Errorf("show is not idempotent for %s", name)
		}
	}
}

func strip(s string) string {
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}

func TestSchemaCommandMatchesCommittedFile(t *testing.T) {
	r := run(t, "", "schema")
	want, err := os.ReadFile("../scenarios/scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || r.stdout != string(want) {
		t.Fatalf("portlab schema differs from scenarios/scenario.schema.json (exit %d)", r.code)
	}
}
