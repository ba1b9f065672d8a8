package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// shardScenario is a scenario_as_run for the synthetic shards: three MPs, one group each.
const shardScenario = `{"version":1,"name":"three","clients":[{"group":"g0","mp":"mp0"},{"group":"g1","mp":"mp1"},{"group":"g2","mp":"mp2"}],` +
	`"management_points":[{"name":"mp0"},{"name":"mp1"},{"name":"mp2"}]}`

// synthShard is shard i of n as a shard run writes it, with seeded latencies: one
// request row per shard (group gi at mpi), plus a latency histogram with the same tags
// in every shard (no group), so the merge has histograms to merge both ways.
func synthShard(t testing.TB, i, n int, scenario string, start time.Time, all *hdrhistogram.Histogram) *Result {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	own, shared, svc := newHist(), newHist(), newHist()
	for k := range 200 + 100*i {
		v := int64(500 + rng.IntN(20000*(i+1))) // shards differ: their p99s do too
		own.RecordValue(v)
		svc.RecordValue(v / 2)
		if k%2 == 0 {
			shared.RecordValue(v)
			all.RecordValue(v)
		}
	}
	g, m := fmt.Sprintf("g%d", i), fmt.Sprintf("mp%d", i)
	tags := HistTags{Operation: "policy", Transport: "http", Port: 80, Outcome: "ok", Group: g, MP: m}
	sharedTags := HistTags{Operation: "location", Transport: "http", Port: 80, Outcome: "ok"}
	d, err := ScenarioDigest(json.RawMessage(scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := start.Add(time.Duration(i) * 40 * time.Second)
	return &Result{
		SchemaVersion: SchemaVersion, Tool: "portlab test", RunID: fmt.Sprintf("run%d", i), ScenarioName: "three",
		Status: StatusPassed, Scenario: json.RawMessage(scenario), Started: s.Add(-3 * time.Second), Ended: s.Add(11 * time.Second), Elapsed: 10,
		Environment: Environment{Hostname: fmt.Sprintf("node%d", i), Kernel: "6.1", GoVersion: "go1.26", CPUs: 2, MemBytes: 1 << 30, Clients: 10 + i},
		Groups:      []GroupOutcome{{Group: g, Count: 10 + i, Managed: 10 + i - 1, Unmanaged: 1}},
		Requests: []RequestStats{{Operation: "policy", Transport: "http", Port: 80, Outcome: "ok", Group: g, MP: m,
			Count: uint64(own.TotalCount()), Latency: Summarize(own), ServiceTime: Summarize(svc)}},
		Push:     []PushStats{{Group: g, Transport: "tcp", Targeted: 10 + i, Delivered: 10 + i}},
		Series:   []SecondPoint{{T: 0, Attempts: 5, OK: 5, Managed: map[string]int{g: 3}}, {T: 1, Attempts: 7, OK: 6, Failures: map[string]int{"refused": 1}}},
		Firewall: []RuleCounter{{Router: "core", Rule: "default", Action: "accept", Packets: 100, Bytes: 6000}},
		Cost: []ProcessCost{{Role: "mp", Name: m, CPUUser: 1, Requests: 100},
			{Role: "fleet", Name: "lan", CPUUser: 2, Clients: 10 + i}},
		Load: LoadStats{Planned: 100, Late: uint64(i)},
		Events: []EventRecord{{At: 4.5, Applied: 4.5 + float64(i)/100, Kind: "site_ports", Detail: "http 80 -> 8080"},
			{At: 4.5, Applied: 4.5, Kind: "reconfigure", Detail: g + " by push"}},
		Timeline: []TimelineMark{{T: 4.5, Label: "site_ports http 80 -> 8080"}},
		Gates:    []GateVerdict{{Name: "managed_fraction", Metric: "managed_fraction", Pending: true}},
		Notes:    []string{"a note"},
		Hists: []EncodedHist{mustEncode(t, KindLatency, tags, own), mustEncode(t, KindServiceTime, tags, svc),
			mustEncode(t, KindLatency, sharedTags, shared)},
		Shard: &Shard{Index: i, Count: n, ScenarioDigest: d, Start: s, MPs: []string{m}, Groups: []string{g},
			Counters: []ShardCounter{{Name: "planned", Group: g, Value: 100}, {Name: "late_starts", Group: g, Value: int64(i)}}},
	}
}

func synthShards(t testing.TB, n int) ([]MergeInput, *hdrhistogram.Histogram) {
	all := newHist()
	start := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	var in []MergeInput
	for i := range n {
		in = append(in, MergeInput{Name: fmt.Sprintf("shard-%d/result.json", i), Result: synthShard(t, i, n, shardScenario, start, all)})
	}
	return in, all
}

func TestMergeLossless(t *testing.T) {
	in, all := synthShards(t, 3)
	// Given in any order: shards are placed by index.
	in[0], in[2] = in[2], in[0]
	m, err := Merge(in)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsMerged() || m.Shard.Count != 3 || len(m.Shard.Merged) != 3 || m.Shard.Merged[0].RunID != "run0" {
		t.Fatalf("shard block %+v", m.Shard)
	}
	if m.Status != "" || len(m.Gates) != 0 {
		t.Errorf("status %q, %d gates: the merge leaves both to JudgeMerged", m.Status, len(m.Gates))
	}
	if got := []string{m.Groups[0].Group, m.Groups[1].Group, m.Groups[2].Group}; strings.Join(got, ",") != "g0,g1,g2" {
		t.Errorf("groups %v, want the scenario's order", got)
	}
	if m.Environment.Clients != 33 || m.Environment.CPUs != 6 || m.Environment.Hostname != "node0, node1, node2" {
		t.Errorf("environment %+v", m.Environment)
	}
	// Rows: one per shard's key, each exactly its shard's histogram.
	var rows uint64
	for _, q := range m.Requests {
		rows += q.Count
	}
	var want uint64
	for _, x := range in {
		for _, q := range x.Result.Requests {
			want += q.Count
		}
	}
	sharedCount := all.TotalCount()
	if rows != want+uint64(sharedCount) {
		t.Errorf("merged rows count %d requests, the shards %d + %d shared", rows, want, sharedCount)
	}
	for _, x := range in {
		q := x.Result.Requests[0]
		for _, mq := range m.Requests {
			if mq.Group == q.Group && (mq.Latency != q.Latency || mq.ServiceTime != q.ServiceTime) {
				t.Errorf("row of %s changed in the merge: %+v / %+v, was %+v / %+v", q.Group, mq.Latency, mq.ServiceTime, q.Latency, q.ServiceTime)
			}
		}
	}
	// The histogram every shard has: merged from the data, equal to one histogram of
	// every value; its p99 is not the mean of the shards' p99s.
	var loc *RequestStats
	for i := range m.Requests {
		if m.Requests[i].Operation == "location" {
			loc = &m.Requests[i]
		}
	}
	if loc == nil {
		t.Fatal("no merged location row")
	}
	if exp := Summarize(all); loc.Latency != exp {
		t.Errorf("merged latency %+v, want the histogram of all values %+v", loc.Latency, exp)
	}
	var meanP99 float64
	for _, x := range in {
		h, _ := x.Result.Hists[2].Histogram()
		meanP99 += Summarize(h).P99 / 3
	}
	if meanP99 == loc.Latency.P99 {
		t.Errorf("merged p99 %v equals the mean of the shards' p99s: the fixture does not tell them apart", meanP99)
	}
	var hists int
	for _, e := range m.Hists {
		if e.Kind == KindLatency && e.Tags.Operation == "location" {
			hists++
			h, _ := e.Histogram()
			if h.TotalCount() != sharedCount {
				t.Errorf("merged histogram count %d, want %d", h.TotalCount(), sharedCount)
			}
		}
	}
	if hists != 1 {
		t.Errorf("%d location histograms after the merge, want 1", hists)
	}
	// Sums and alignment.
	if len(m.Series) != 2 || m.Series[0].Attempts != 15 || m.Series[1].OK != 18 || m.Series[1].Failures["refused"] != 3 || m.Series[0].Managed["g2"] != 3 {
		t.Errorf("series %+v", m.Series)
	}
	if len(m.Firewall) != 1 || m.Firewall[0].Packets != 300 || m.Firewall[0].Bytes != 18000 {
		t.Errorf("firewall %+v", m.Firewall)
	}
	if m.Load.Planned != 300 || m.Load.Late != 3 || m.Load.LateFraction != 0.01 {
		t.Errorf("load %+v", m.Load)
	}
	var planned, late int64
	for _, c := range m.Shard.Counters {
		switch c.Name {
		case "planned":
			planned += c.Value
		case "late_starts":
			late += c.Value
		}
	}
	if planned != 300 || late != 3 || len(m.Shard.Counters) != 6 {
		t.Errorf("counters %+v", m.Shard.Counters)
	}
	// Per MP cost kept; fleets named by shard.
	var names []string
	for _, c := range m.Cost {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "mp0,mp1,mp2,shard-0/lan,shard-1/lan,shard-2/lan" {
		t.Errorf("cost rows %v", names)
	}
	// Site-wide events once, with the latest application; group events each.
	if len(m.Events) != 4 || m.Events[0].Kind != "site_ports" || m.Events[0].Applied != 4.52 || len(m.Timeline) != 1 {
		t.Errorf("events %+v, marks %+v", m.Events, m.Timeline)
	}
	if m.Shard.StartGiven {
		t.Error("start_given: the shards started 40 s apart")
	}
	found := false
	for _, n := range m.Notes {
		found = found || strings.Contains(n, "did not start together")
	}
	if !found {
		t.Errorf("no note about the shards' different starts: %q", m.Notes)
	}
	// It writes and reads back like any result, and renders.
	m.Status, m.Tool, m.RunID = StatusPassed, "portlab test", "m1"
	dir := t.TempDir()
	if _, err := Write(dir, m, ExtraFiles(m)); err != nil {
		t.Fatal(err)
	}
	back, err := Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !back.IsMerged() || back.Shard.ScenarioDigest != m.Shard.ScenarioDigest || len(back.Hists) != len(m.Hists) {
		t.Errorf("read back: %+v", back.Shard)
	}
	md, _ := Markdown(back)
	if !strings.Contains(string(md), "Merged from 3 shards") {
		t.Errorf("summary.md does not say it is a merge:\n%s", md)
	}
}

// A shard's result read back from its file merges: the digest survives the indented
// JSON of result.json.
func TestMergeAfterWrite(t *testing.T) {
	in, _ := synthShards(t, 2)
	for i := range in {
		dir := t.TempDir()
		if _, err := Write(dir, in[i].Result, nil); err != nil {
			t.Fatal(err)
		}
		r, err := Read(filepath.Join(dir, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		in[i].Result = r
	}
	if _, err := Merge(in); err != nil {
		t.Fatal(err)
	}
}

func TestMergeRefuses(t *testing.T) {
	other := `{"version":1,"name":"three","seed":2,"clients":[{"group":"g0","mp":"mp0"},{"group":"g1","mp":"mp1"},{"group":"g2","mp":"mp2"}]}`
	cases := []struct {
		name  string
		edit  func(in []MergeInput) []MergeInput
		is    error
		wants []string
	}{
		{"no input", func([]MergeInput) []MergeInput { return nil }, ErrMerge, []string{"no shard results"}},
		{"a shard missing", func(in []MergeInput) []MergeInput { return in[:2] }, ErrMerge, []string{"shard 2/3 missing", "2 of 3 given"}},
		{"a shard twice", func(in []MergeInput) []MergeInput {
			return append(in, MergeInput{Name: "copy/result.json", Result: in[1].Result})
		}, ErrMerge, []string{"shard 1/3 given 2 times", "shard-1/result.json", "copy/result.json"}},
		{"mixed scenarios", func(in []MergeInput) []MergeInput {
			r := *in[1].Result
			r.Scenario = json.RawMessage(other)
			sh := *r.Shard
			sh.ScenarioDigest, _ = ScenarioDigest(r.Scenario)
			r.Shard = &sh
			in[1].Result = &r
			return in
		}, ErrMerge, []string{"shard-0/result.json is scenario three", "shard-1/result.json is scenario three", "different scenarios"}},
		{"different names", func(in []MergeInput) []MergeInput {
			r := *in[2].Result
			r.ScenarioName = "four"
			in[2].Result = &r
			return in
		}, ErrMerge, []string{"shard-2/result.json is scenario four"}},
		{"edited scenario", func(in []MergeInput) []MergeInput {
			r := *in[0].Result
			r.Scenario = json.RawMessage(strings.Replace(shardScenario, `"three"`, `"three","seed":9`, 1))
			in[0].Result = &r
			return in
		}, ErrMerge, []string{"shard-0/result.json", "the file was changed"}},
		{"different splits", func(in []MergeInput) []MergeInput {
			r := *in[2].Result
			sh := *r.Shard
			sh.Count = 4
			r.Shard = &sh
			in[2].Result = &r
			return in
		}, ErrMerge, []string{"shard 2 of 4", "different splits"}},
		{"not a shard", func(in []MergeInput) []MergeInput {
			r := *in[1].Result
			r.Shard = nil
			in[1].Result = &r
			return in
		}, ErrMerge, []string{"shard-1/result.json: not a shard's result"}},
		{"a merged result", func(in []MergeInput) []MergeInput {
			r := *in[1].Result
			sh := *r.Shard
			sh.Index = -1
			r.Shard = &sh
			in[1].Result = &r
			return in
		}, ErrMerge, []string{"shard-1/result.json: already a merged result"}},
		{"group in two shards", func(in []MergeInput) []MergeInput {
			r := *in[1].Result
			sh := *r.Shard
			sh.Groups = []string{"g0", "g1"}
			r.Shard = &sh
			in[1].Result = &r
			return in
		}, ErrMerge, []string{"group g0 is in shard-0/result.json and in shard-1/result.json"}},
		{"corrupt histogram", func(in []MergeInput) []MergeInput {
			r := *in[2].Result
			r.Hists = append([]EncodedHist(nil), r.Hists...)
			r.Hists[0].Data = "HISTFAAAAB" + strings.Repeat("x", 20)
			in[2].Result = &r
			return in
		}, ErrCorrupt, []string{"shard-2/result.json"}},
	}
	for _, c := range cases {
		in, _ := synthShards(t, 3)
		_, err := Merge(c.edit(in))
		if !errors.Is(err, c.is) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.is)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
}

// Hostile shard results (any JSON a result.json could hold) never panic the merge.
func FuzzMerge(f *testing.F) {
	in, _ := synthShards(f, 2)
	for _, x := range in {
		b, err := JSON(x.Result)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema_version":2,"shard":{"index":1,"count":2}}`))
	f.Add([]byte(`{"schema_version":2,"shard":{"index":0,"count":1000000000},"scenario_as_run":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse("fuzz.json", b)
		if err != nil {
			return
		}
		in, _ := synthShards(t, 2)
		in[1] = MergeInput{Name: "fuzz.json", Result: r}
		if m, err := Merge(in); err == nil {
			if _, err := JSON(m); err != nil {
				t.Fatalf("merged result does not render: %v", err)
			}
		}
	})
}

// Each shard has its own site server: what they served adds up; the publication is the
// site's, the same in every shard.
func TestMergeLocation(t *testing.T) {
	shard := func(conns, queries uint64) MergeInput {
		return MergeInput{Result: &Result{Location: &SiteLocation{Domain: "corp.example", PublishAD: true, HTTP: 8080,
			LDAP: []LDAPListener{{Addr: "198.19.1.3:389", Kind: "ldap", Conns: 1}, {Addr: "198.19.1.3:3268", Kind: "gc", Conns: conns, Searches: conns}},
			DNS:  DNSCounters{Queries: queries, SRV: queries}}}}
	}
	out := &Result{}
	first := shard(10, 5)
	mergeLocation(out, []MergeInput{first, {Result: &Result{}}, shard(32, 7)})
	l := out.Location
	if l == nil || l.Domain != "corp.example" || l.HTTP != 8080 || !l.PublishAD {
		t.Fatalf("merged publication %+v", l)
	}
	if len(l.LDAP) != 2 || l.LDAP[1].Conns != 42 || l.LDAP[1].Searches != 42 || l.LDAP[0].Conns != 2 || l.DNS.Queries != 12 || l.DNS.SRV != 12 {
		t.Errorf("merged counters %+v %+v", l.LDAP, l.DNS)
	}
	if first.Result.Location.LDAP[1].Conns != 10 || first.Result.Location.DNS.Queries != 5 {
		t.Error("merging changed the first shard's own result")
	}
}
