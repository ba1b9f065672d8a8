package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --shard and --start-at are checked before anything is built: exit 2, saying why.
func TestRunShardRefusals(t *testing.T) {
	fixture := "../harness/testdata/e2e-shard.yaml"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"index past the end", []string{fixture, "--shard", "3/3"}, "I must lie in 0..2"},
		{"not I/N", []string{fixture, "--shard", "two"}, "want I/N"},
		{"more shards than MPs", []string{fixture, "--shard", "0/4"}, "4 shards but only 3 management point"},
		{"unpinned groups", []string{"port-change", "--shard", "0/2"}, "has no `mp:`"},
		{"start in the past", []string{fixture, "--shard", "0/3", "--start-at", "2001-01-01T00:00:00Z"}, "in the past"},
		{"start not RFC 3339", []string{fixture, "--shard", "0/3", "--start-at", "tomorrow"}, "RFC 3339"},
		{"start too far ahead", []string{fixture, "--start-at", "2999-01-01T00:00:00Z"}, "ahead"},
	}
	for _, c := range cases {
		r := run(t, "", append([]string{"run"}, c.args...)...)
		if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", c.name, r.code, r.err, c.want)
		}
	}
}

func TestMergeUsage(t *testing.T) {
	tmp := t.TempDir()
	notResult := filepath.Join(tmp, "notes.json")
	if err := os.WriteFile(notResult, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	out := filepath.Join(tmp, "out")
	for _, d := range []string{empty, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no --out", []string{notResult}, "--out DIR"},
		{"no argument", []string{"--out", out}, "requires at least 1 arg"},
		{"missing file", []string{filepath.Join(tmp, "nope.json"), "--out", out}, "nope.json: no such file"},
		{"not a result", []string{notResult, "--out", out}, "notes.json"},
		{"nothing in a directory", []string{empty, "--out", out}, "no result.json in it"},
		{"input is --out", []string{out, "--out", out}, "is the --out directory"},
	}
	for _, c := range cases {
		r := run(t, "", append([]string{"merge"}, c.args...)...)
		if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", c.name, r.code, r.err, c.want)
		}
	}
	if r := run(t, "", "merge", "--help"); r.code != 0 || !strings.Contains(r.stdout, "portlab merge results --out results/merged") {
		t.Errorf("merge --help: exit %d\n%s", r.code, r.stdout)
	}
}
