package metrics

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// Histograms recorded by several workers and merged equal one histogram of all values,
// also after the snapshot's V2 compressed base64 round trip.
func TestMergeAcrossWorkersEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := Key{Op: OpPolicy, Transport: "http", Port: 80, Outcome: OK, Group: "g", MP: "mp1"}
	single := NewRecorder()
	workers := []*Recorder{NewRecorder(), NewRecorder(), NewRecorder(), NewRecorder()}
	for i := range 20000 {
		lat := time.Duration(rng.ExpFloat64()*float64(20*time.Millisecond)) + 100*time.Microsecond
		svc := lat / 3
		single.RecordRequest(k, lat, svc)
		workers[i%len(workers)].RecordRequest(k, lat, svc)
		if i%7 == 0 {
			single.Add(CLateStarts, "g", 1)
			workers[i%len(workers)].Add(CLateStarts, "g", 1)
		}
	}
	merged := NewRecorder()
	var snaps []Snapshot
	for _, w := range workers {
		merged.Merge(w)
		s, err := w.Snapshot(time.Unix(0, 0), time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		// Through JSON, as the agent protocol carries it.
		b, _ := json.Marshal(s)
		var back Snapshot
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, back)
	}
	decoded, err := Decode(snaps...)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*Recorder{merged, decoded} {
		for _, m := range []string{Latency, Service} {
			k.Metric = m
			want, have := single.Histogram(k), got.Histogram(k)
			if have == nil || !want.Equals(have) {
				t.Fatalf("%s: merged histogram differs from the single one", m)
			}
			for _, q := range []float64{50, 90, 99, 99.9, 100} {
				if want.ValueAtQuantile(q) != have.ValueAtQuantile(q) {
					t.Fatalf("%s p%v: %d != %d", m, q, have.ValueAtQuantile(q), want.ValueAtQuantile(q))
				}
			}
		}
		if got.Counter(CLateStarts, "g") != single.Counter(CLateStarts, "g") {
			t.Fatalf("counter %d != %d", got.Counter(CLateStarts, "g"), single.Counter(CLateStarts, "g"))
		}
		if got.Dropped() != 0 {
			t.Fatalf("dropped %d", got.Dropped())
		}
	}
}

func TestSeriesAndQuery(t *testing.T) {
	r := NewRecorder()
	base := Key{Op: OpPolicy, Transport: "http", Port: 80, Group: "a", MP: "mp1"}
	ok, refused, h503 := base, base, base
	ok.Outcome, refused.Outcome, h503.Outcome = OK, Refused, HTTPOutcome(503)
	for range 3 {
		r.RecordRequest(ok, time.Millisecond, time.Millisecond)
	}
	r.RecordRequest(refused, time.Millisecond, time.Millisecond)
	r.RecordRequest(h503, time.Millisecond, time.Millisecond)
	s := r.Series()
	if s.Attempts != 5 || s.Successes != 3 || s.Failures[Refused] != 1 || s.Failures["http_503"] != 1 {
		t.Fatalf("series %+v", s)
	}
	if n := r.Query(Key{Metric: Latency, Outcome: "http_*"}).TotalCount(); n != 1 {
		t.Fatalf("http_* query: %d", n)
	}
	if n := r.Query(Key{Metric: Service, Group: "a"}).TotalCount(); n != 5 {
		t.Fatalf("group query: %d", n)
	}
	r.Reset()
	if s := r.Series(); s.Attempts != 0 || len(r.Keys()) != 0 {
		t.Fatalf("after reset: %+v", s)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	if _, err := Decode(Snapshot{Histograms: []EncodedHistogram{{Key: Key{Metric: Latency}, Hist: "bm90IGEgaGlzdG9ncmFt"}}}); err == nil {
		t.Fatal("garbage histogram decoded")
	}
}
