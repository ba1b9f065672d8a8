package metrics

import (
	"fmt"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Recorder collects histograms and counters. Not safe for concurrent use: one per worker.
// The zero value is not usable; call NewRecorder.
type Recorder struct {
	hists    map[Key]*hdrhistogram.Histogram
	counters map[CounterKey]int64
	dropped  int64 // values a merge could not hold (never expected: same geometry)
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{hists: map[Key]*hdrhistogram.Histogram{}, counters: map[CounterKey]int64{}}
}

func (r *Recorder) hist(k Key) *hdrhistogram.Histogram {
	h := r.hists[k]
	if h == nil {
		h = NewHistogram()
		r.hists[k] = h
	}
	return h
}

// Record adds one value to the histogram k.
func (r *Recorder) Record(k Key, d time.Duration) {
	_ = r.hist(k).RecordValue(Micros(d)) // Micros clamps into range: cannot fail
}

// RecordRequest records one request attempt: its latency from the intended start and
// its service time from the actual start, under k with Metric set accordingly.
func (r *Recorder) RecordRequest(k Key, latency, service time.Duration) {
	k.Metric = Latency
	r.Record(k, latency)
	k.Metric = Service
	r.Record(k, service)
}

// Add adds n to a counter.
func (r *Recorder) Add(name, group string, n int64) { r.counters[CounterKey{name, group}] += n }

// Counter returns a counter's value.
func (r *Recorder) Counter(name, group string) int64 { return r.counters[CounterKey{name, group}] }

// CounterTotal sums a counter over groups.
func (r *Recorder) CounterTotal(name string) int64 {
	var n int64
	for k, v := range r.counters {
		if k.Name == name {
			n += v
		}
	}
	return n
}

// Histogram returns the histogram for k, or nil.
func (r *Recorder) Histogram(k Key) *hdrhistogram.Histogram { return r.hists[k] }

// Keys returns the keys with at least one value, sorted.
func (r *Recorder) Keys() []Key {
	ks := make([]Key, 0, len(r.hists))
	for k, h := range r.hists {
		if h.TotalCount() > 0 {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].String() < ks[j].String() })
	return ks
}

// Query merges every histogram whose key matches filter (empty filter fields match
// anything; Metric must be given) into a new histogram.
func (r *Recorder) Query(filter Key) *hdrhistogram.Histogram {
	out := NewHistogram()
	for k, h := range r.hists {
		if filter.Matches(k) {
			out.Merge(h)
		}
	}
	return out
}

// Matches reports whether k matches the filter f (empty or zero fields of f are
// wildcards; the Outcome "http_*" matches any HTTP status).
func (f Key) Matches(k Key) bool {
	m := func(a, b string) bool { return a == "" || a == b }
	if f.Outcome == "http_*" {
		if !strings.HasPrefix(k.Outcome, "http_") {
			return false
		}
	} else if !m(f.Outcome, k.Outcome) {
		return false
	}
	return m(f.Metric, k.Metric) && m(f.Op, k.Op) && m(f.Transport, k.Transport) &&
		(f.Port == 0 || f.Port == k.Port) && m(f.Group, k.Group) && m(f.MP, k.MP)
}

// Merge adds everything in o to r (o is unchanged).
func (r *Recorder) Merge(o *Recorder) {
	for k, h := range o.hists {
		if h.TotalCount() == 0 {
			continue
		}
		r.dropped += r.hist(k).Merge(h)
	}
	for k, v := range o.counters {
		r.counters[k] += v
	}
	r.dropped += o.dropped
}

// Reset empties r, keeping its allocations for reuse.
func (r *Recorder) Reset() {
	for _, h := range r.hists {
		h.Reset()
	}
	clear(r.counters)
	r.dropped = 0
}

// Series is one interval's request counts, derived from the latency histograms.
type Series struct {
	Attempts  int64            `json:"attempts"`
	Successes int64            `json:"successes"`
	Failures  map[string]int64 `json:"failures,omitempty"` // by outcome
}

// Series counts request attempts (latency histograms of request operations) by outcome.
func (r *Recorder) Series() Series {
	s := Series{Failures: map[string]int64{}}
	for k, h := range r.hists {
		if k.Metric != Latency {
			continue
		}
		n := h.TotalCount()
		s.Attempts += n
		if k.Outcome == OK {
			s.Successes += n
		} else if n > 0 {
			s.Failures[k.Outcome] += n
		}
	}
	return s
}

// EncodedHistogram is one histogram in a snapshot.
type EncodedHistogram struct {
	Key   Key    `json:"key"`
	Count int64  `json:"count"`
	Hist  string `json:"hist"` // HdrHistogram V2 compressed, base64 (hdrhistogram.Decode reads it)
}

// Snapshot is the exported, JSON-ready form of a Recorder: what a fleet agent streams
// each second (the interval) and at the end (the whole run).
type Snapshot struct {
	Start      time.Time          `json:"start"`
	End        time.Time          `json:"end"`
	Series     Series             `json:"series"`
	Histograms []EncodedHistogram `json:"histograms,omitempty"`
	Counters   []CounterValue     `json:"counters,omitempty"`
}

// CounterValue is one counter in a snapshot.
type CounterValue struct {
	CounterKey
	Value int64 `json:"value"`
}

// Snapshot encodes r for the interval [start, end).
func (r *Recorder) Snapshot(start, end time.Time) (Snapshot, error) {
	s := Snapshot{Start: start, End: end, Series: r.Series()}
	for _, k := range r.Keys() {
		h := r.hists[k]
		h.SetStartTimeMs(start.UnixMilli())
		h.SetEndTimeMs(end.UnixMilli())
		b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return s, fmt.Errorf("metrics: encode histogram %s: %w", k, err)
		}
		s.Histograms = append(s.Histograms, EncodedHistogram{Key: k, Count: h.TotalCount(), Hist: string(b)})
	}
	for k, v := range r.counters {
		if v != 0 {
			s.Counters = append(s.Counters, CounterValue{k, v})
		}
	}
	sort.Slice(s.Counters, func(i, j int) bool {
		a, b := s.Counters[i], s.Counters[j]
		return a.Name < b.Name || a.Name == b.Name && a.Group < b.Group
	})
	return s, nil
}

// AddSnapshot decodes s and merges it into r. This is what the orchestrator calls for
// every snapshot of every agent (or shard): histograms merge losslessly.
func (r *Recorder) AddSnapshot(s Snapshot) error {
	for _, eh := range s.Histograms {
		if err := checkGeometry(eh.Hist); err != nil {
			return fmt.Errorf("metrics: histogram %s: %w", eh.Key, err)
		}
		h, err := hdrhistogram.Decode([]byte(eh.Hist))
		if err != nil {
			return fmt.Errorf("metrics: decode histogram %s: %w", eh.Key, err)
		}
		r.dropped += r.hist(eh.Key).Merge(h)
	}
	for _, c := range s.Counters {
		r.counters[c.CounterKey] += c.Value
	}
	return nil
}

// Decode turns snapshots (from any number of agents, intervals or finals) into one
// merged Recorder.
func Decode(snaps ...Snapshot) (*Recorder, error) {
	r := NewRecorder()
	for i, s := range snaps {
		if err := r.AddSnapshot(s); err != nil {
			return nil, fmt.Errorf("snapshot %d: %w", i, err)
		}
	}
	return r, nil
}

// Dropped is the number of values a merge could not hold (0 unless geometries differ).
func (r *Recorder) Dropped() int64 { return r.dropped }
