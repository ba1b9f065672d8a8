package harness_test

// The sharded run, end to end, the way a Kubernetes Indexed Job runs it: the fixture
// (three MPs, four pinned groups) once as one network, then as three `portlab run
// --shard I/3` processes one after the other (this machine has two cores), merged with
// `portlab merge`. The merge must count exactly what the unsharded run counts. The
// fixture is timed so that every count is a function of the seed (see its comments):
// no cycle is due near an event or the end, no heartbeat near a cycle start.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/reports"
)

const shardFixture = "testdata/e2e-shard.yaml"

// portlab runs the E2E binary (not `run`) and returns its exit code and stderr.
func portlab(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(portlabBin, args...)
	var errb bytes.Buffer
	cmd.Stderr, cmd.Stdout = &errb, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

func TestShardsMergeEqualsWhole(t *testing.T) {
	needBinary(t)
	var whole *reports.Result
	t.Run("whole", func(t *testing.T) {
		r := startRun(t, shardFixture)
		if code := r.wait(2 * time.Minute); code != 1 { // one gate fails on purpose
			t.Fatalf("unsharded run exit %d, want 1", code)
		}
		r.noLeftovers()
		whole = r.result()
	})
	if whole == nil {
		t.FailNow()
	}
	root := t.TempDir()
	dirs := make([]string, 3)
	shards := make([]*reports.Result, 3)
	var startAt time.Time
	for i := range 3 {
		t.Run(fmt.Sprintf("shard-%d", i), func(t *testing.T) {
			args := []string{"--shard", fmt.Sprintf("%d/3", i)}
			if i == 1 {
				// As a Job's pods do: a common start given ahead; the shard waits for it.
				startAt = time.Now().Add(6 * time.Second).Truncate(time.Second)
				args = append(args, "--start-at", startAt.UTC().Format(time.RFC3339))
			}
			r := startRun(t, shardFixture, args...)
			if code := r.wait(2 * time.Minute); code != 0 { // gates pending: a shard never fails on one
				t.Fatalf("shard %d exit %d, want 0", i, code)
			}
			r.noLeftovers()
			res := r.result()
			sh := res.Shard
			if sh == nil || sh.Index != i || sh.Count != 3 || res.Status != reports.StatusPassed {
				t.Fatalf("shard %d: status %s, block %+v", i, res.Status, sh)
			}
			for _, g := range res.Gates {
				if !g.Pending {
					t.Errorf("shard %d judged gate %s itself", i, g.Name)
				}
			}
			if i == 1 && (!sh.StartGiven || !sh.Start.Equal(startAt)) {
				t.Errorf("shard 1 started at %s (given %v), want the common start %s", sh.Start, sh.StartGiven, startAt)
			}
			dirs[i] = filepath.Join(root, fmt.Sprintf("shard-%d", i))
			if err := os.Rename(r.out, dirs[i]); err != nil {
				t.Fatal(err)
			}
			shards[i] = res
		})
		if shards[i] == nil {
			t.FailNow()
		}
	}
	if d := shards[0].Shard.ScenarioDigest; d == "" || d != shards[1].Shard.ScenarioDigest || d != shards[2].Shard.ScenarioDigest {
		t.Errorf("digests %s %s %s", d, shards[1].Shard.ScenarioDigest, shards[2].Shard.ScenarioDigest)
	}

	out := filepath.Join(root, "merged")
	code, msg := portlab(t, append(append([]string{"merge"}, dirs...), "--out", out)...)
	if code != 1 {
		t.Fatalf("merge exit %d, want 1 (the gate that fails on purpose):\n%s", code, msg)
	}
	merged, err := reports.Read(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"summary.md", "junit.xml", "report.html", "latency.hlog"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merge wrote no %s: %v", f, err)
		}
	}
	compareCounts(t, whole, merged)
	checkHistSums(t, shards, merged)

	// Renderings and compare take the merged result.
	if code, msg := portlab(t, "report", filepath.Join(out, "result.json"), "--format", "html", "-o", filepath.Join(root, "r.html")); code != 0 {
		t.Errorf("report: exit %d: %s", code, msg)
	}
	if code, msg := portlab(t, "compare", filepath.Join(dirs[0], "..", "merged", "result.json"), filepath.Join(out, "result.json")); code != 0 {
		t.Errorf("compare of the merge with itself: exit %d: %s", code, msg)
	}
	// Against the unsharded run: same scenario, so compared (latencies may differ: 0 or 1).
	wholeFile := filepath.Join(root, "whole.json")
	if b, err := reports.JSON(whole); err != nil || os.WriteFile(wholeFile, b, 0o644) != nil {
		t.Fatal(err)
	}
	if code, msg := portlab(t, "compare", wholeFile, filepath.Join(out, "result.json")); code != 0 && code != 1 {
		t.Errorf("compare unsharded vs merged: exit %d: %s", code, msg)
	}

	mergeRefusals(t, root, dirs, wholeFile)
}

// compareCounts: every count of the merged result equals the unsharded run's.
func compareCounts(t *testing.T, whole, merged *reports.Result) {
	t.Helper()
	if w, m := whole.Environment.Clients, merged.Environment.Clients; w != m || w != 180 {
		t.Errorf("clients: unsharded %d, merged %d, want 180", w, m)
	}
	type group struct {
		Count, Managed, Unmanaged, Asleep, Fallbacks int
		PortsUsed, Installed                         map[int]int
	}
	groups := func(r *reports.Result) map[string]group {
		out := map[string]group{}
		for _, g := range r.Groups {
			out[g.Group] = group{g.Count, g.Managed, g.Unmanaged, g.Asleep, g.Fallbacks, g.PortsUsed, g.Installed}
		}
		return out
	}
	if w, m := groups(whole), groups(merged); !reflect.DeepEqual(w, m) {
		t.Errorf("groups differ:\nunsharded %+v\nmerged    %+v", w, m)
	}
	if g := groups(merged)["stale"]; g.Unmanaged != 30 || groups(merged)["g1"].Managed != 60 {
		t.Errorf("the story did not happen: stale %+v, g1 %+v", g, groups(merged)["g1"])
	}
	requests := func(r *reports.Result) map[string]uint64 {
		out := map[string]uint64{}
		for _, q := range r.Requests {
			out[fmt.Sprintf("%s %s:%d %s group=%s mp=%s", q.Operation, q.Transport, q.Port, q.Outcome, q.Group, q.MP)] += q.Count
		}
		return out
	}
	w, m := requests(whole), requests(merged)
	for k := range w {
		if w[k] != m[k] {
			t.Errorf("requests %s: unsharded %d, merged %d", k, w[k], m[k])
		}
	}
	for k := range m {
		if _, ok := w[k]; !ok {
			t.Errorf("requests %s: merged %d, none unsharded", k, m[k])
		}
	}
	perOp := map[string][2]uint64{}
	for k, v := range w {
		op := strings.Fields(k)[0]
		perOp[op] = [2]uint64{perOp[op][0] + v, perOp[op][1] + m[k]}
	}
	t.Logf("requests per operation (unsharded, merged): %v", perOp)
	push := func(r *reports.Result) map[string][2]int {
		out := map[string][2]int{}
		for _, p := range r.Push {
			out[p.Group+"/"+p.Transport] = [2]int{p.Targeted, p.Delivered}
		}
		return out
	}
	if w, m := push(whole), push(merged); !reflect.DeepEqual(w, m) || len(w) != 2 {
		t.Errorf("pushes: unsharded %v, merged %v", w, m)
	}
	if whole.Load.Planned != merged.Load.Planned {
		t.Errorf("planned cycles: unsharded %d, merged %d", whole.Load.Planned, merged.Load.Planned)
	}
	attempts := func(r *reports.Result) (n uint64) {
		for _, p := range r.Series {
			n += p.Attempts
		}
		return n
	}
	if a, b := attempts(whole), attempts(merged); a != b {
		t.Errorf("attempts in the per-second series: unsharded %d, merged %d", a, b)
	}
	rules := func(r *reports.Result) map[string]uint64 {
		out := map[string]uint64{}
		for _, c := range r.Firewall {
			out[c.Router+"/"+c.Rule] = c.Packets
		}
		return out
	}
	if w, m := rules(whole), rules(merged); !reflect.DeepEqual(w, m) {
		t.Errorf("firewall rule packets: unsharded %v, merged %v", w, m)
	}
	verdicts := func(r *reports.Result) []string {
		var out []string
		for _, g := range r.Gates {
			out = append(out, fmt.Sprintf("%s=%v", g.Name, g.Passed))
		}
		return out
	}
	if w, m := verdicts(whole), verdicts(merged); !reflect.DeepEqual(w, m) || len(w) != 9 {
		t.Errorf("gate verdicts:\nunsharded %v\nmerged    %v", w, m)
	}
	if whole.Status != reports.StatusFailed || merged.Status != reports.StatusFailed {
		t.Errorf("status: unsharded %s, merged %s; want failed (one gate fails on purpose)", whole.Status, merged.Status)
	}
	var cost []string
	for _, c := range merged.Cost {
		if c.Role == "mp" {
			cost = append(cost, c.Name)
		}
	}
	if strings.Join(cost, ",") != "mp1,mp2,mp3" {
		t.Errorf("merged MP cost rows %v", cost)
	}
}

// checkHistSums: every merged histogram holds exactly the values of the shards'
// histograms of its kind and tags; the latency total is the shards' sum.
func checkHistSums(t *testing.T, shards []*reports.Result, merged *reports.Result) {
	t.Helper()
	type key struct {
		kind string
		tags reports.HistTags
	}
	want := map[key]int64{}
	var latency int64
	for _, r := range shards {
		for _, e := range r.Hists {
			h, err := e.Histogram()
			if err != nil {
				t.Fatal(err)
			}
			want[key{e.Kind, e.Tags}] += h.TotalCount()
			if e.Kind == reports.KindLatency {
				latency += h.TotalCount()
			}
		}
	}
	got := map[key]int64{}
	var mergedLatency int64
	for _, e := range merged.Hists {
		h, err := e.Histogram()
		if err != nil {
			t.Fatal(err)
		}
		got[key{e.Kind, e.Tags}] += h.TotalCount()
		if e.Kind == reports.KindLatency {
			mergedLatency += h.TotalCount()
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("merged histograms' counts differ from the shards' sums:\nshards %v\nmerged %v", want, got)
	}
	var rows uint64
	for _, q := range merged.Requests {
		rows += q.Count
	}
	if mergedLatency != latency || rows != uint64(latency) || latency == 0 {
		t.Errorf("latency values: shards %d, merged histograms %d, merged rows %d", latency, mergedLatency, rows)
	}
	// The merged per-second intervals (latency.hlog) add up to the merged whole, tag by
	// tag, as each shard's do (service times, which only a shard's result carries for the
	// merge, have no intervals).
	hs, err := reports.MergedHists(merged)
	if err != nil {
		t.Fatal(err)
	}
	series, _, err := reports.IntervalSeries(merged, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range hs {
		if m.Kind == reports.KindServiceTime {
			continue
		}
		var n int64
		for _, p := range series[m.Tag] {
			n += p.Count
		}
		if n != m.Hist.TotalCount() {
			t.Errorf("merged %s: intervals hold %d values, the whole %d", m.Tag, n, m.Hist.TotalCount())
		}
	}
}

// mergeRefusals: exit 2 and the file named, for what cannot be merged.
func mergeRefusals(t *testing.T, root string, dirs []string, wholeFile string) {
	t.Helper()
	// Another scenario: shard 1's result with a changed scenario and its digest redone.
	other := filepath.Join(root, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := reports.Read(filepath.Join(dirs[1], "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc map[string]any
	if err := json.Unmarshal(r.Scenario, &sc); err != nil {
		t.Fatal(err)
	}
	sc["seed"] = 99.0
	r.Scenario, _ = json.Marshal(sc)
	r.Shard.ScenarioDigest, _ = reports.ScenarioDigest(r.Scenario)
	b, _ := reports.JSON(r)
	otherFile := filepath.Join(other, "result.json")
	if err := os.WriteFile(otherFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A corrupt file: shard 2's result cut in half.
	full, err := os.ReadFile(filepath.Join(dirs[2], "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(root, "corrupt.json")
	if err := os.WriteFile(corrupt, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "refused")
	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"mixed scenarios", []string{dirs[0], other, dirs[2]}, []string{"different scenarios", "other/result.json"}},
		{"a shard twice", []string{dirs[0], dirs[1], dirs[1], dirs[2]}, []string{"shard 1/3 given 2 times"}},
		{"a shard missing", []string{dirs[0], dirs[2]}, []string{"shard 1/3 missing"}},
		{"a corrupt file", []string{dirs[0], dirs[1], corrupt}, []string{"corrupt.json"}},
		{"not a shard", []string{dirs[0], dirs[1], dirs[2], wholeFile}, []string{"whole.json: not a shard's result"}},
	}
	for _, c := range cases {
		code, msg := portlab(t, append(append([]string{"merge"}, c.args...), "--out", out)...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2:\n%s", c.name, code, msg)
		}
		for _, w := range c.wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not say %q", c.name, msg, w)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
			t.Errorf("%s: a refused merge wrote a result", c.name)
		}
	}
}
