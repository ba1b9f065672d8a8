package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// TestHlogRoundTrip: latency.hlog read back with hdrhistogram-go's log reader holds
// the recorded histograms: one interval per tag, the merge of that tag's histograms.
func TestHlogRoundTrip(t *testing.T) {
	a := newHist() // policy http:8080, group pushed
	b := newHist() // policy http:8080, group other: merges with a under one tag
	c := newHist() // policy http:80 timeout: its own tag
	for v := int64(1); v <= 1000; v++ {
		a.RecordValue(v * 10) // 10 µs .. 10 ms
	}
	b.RecordValues(50_000, 10) // 10 × 50 ms
	c.RecordValues(5_000_000, 7)
	r := sample()
	r.Hists = []EncodedHist{
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed"}, a),
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "other"}, b),
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 80, Outcome: "timeout", Group: "stale"}, c),
	}
	want := map[string]*hdrhistogram.Histogram{"latency.policy.http.8080": a.Clone(), "latency.policy.http.80.timeout": c}
	want["latency.policy.http.8080"].Merge(b)

	log, err := Hlog(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"#[Histogram log format version 1.3]", "#[StartTime: 1795521600.000 (seconds since epoch), 2026-11-24T12:00:00Z]",
		"#[BaseTime: 1795521600.000 (seconds since epoch)]", `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`,
		"Tag=latency.policy.http.8080,0.000,31.000,50.175,"} {
		if !bytes.Contains(log, []byte(line)) {
			t.Errorf("latency.hlog lacks %q:\n%s", line, log)
		}
	}
	rd := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	got := map[string]*hdrhistogram.Histogram{}
	for {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		got[h.Tag()] = h
		if h.StartTimeMs() != r.Started.UnixMilli() || h.EndTimeMs() != r.Ended.UnixMilli() {
			t.Errorf("%s: interval %d..%d, want %d..%d", h.Tag(), h.StartTimeMs(), h.EndTimeMs(), r.Started.UnixMilli(), r.Ended.UnixMilli())
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d tags, want %d: %v", len(got), len(want), keys(got))
	}
	for tag, w := range want {
		g := got[tag]
		if g == nil {
			t.Fatalf("tag %s missing; read %v", tag, keys(got))
		}
		if g.TotalCount() != w.TotalCount() || g.Max() != w.Max() || g.Min() != w.Min() {
			t.Errorf("%s: count/min/max %d/%d/%d, want %d/%d/%d", tag, g.TotalCount(), g.Min(), g.Max(), w.TotalCount(), w.Min(), w.Max())
		}
		for _, q := range []float64{50, 90, 99, 99.9, 100} {
			if g.ValueAtQuantile(q) != w.ValueAtQuantile(q) {
				t.Errorf("%s p%g: %d, want %d", tag, q, g.ValueAtQuantile(q), w.ValueAtQuantile(q))
			}
		}
		if !g.Equals(w) {
			t.Errorf("%s: histogram read back differs from the one recorded", tag)
		}
	}
	if got["latency.policy.http.8080"].TotalCount() != 1010 {
		t.Errorf("merged count %d, want 1010", got["latency.policy.http.8080"].TotalCount())
	}
}

func keys(m map[string]*hdrhistogram.Histogram) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestHgrmAndExtraFiles(t *testing.T) {
	r := richSample(t)
	extra := ExtraFiles(r)
	for _, name := range []string{"report.html", "latency.hlog", "latency.policy.http.8080.hgrm", "latency.policy.http.80.timeout.hgrm",
		"fallback_delay.fallback.hgrm", "push_latency.tcp.tcp.hgrm", "service_time.policy.http.8080.hgrm"} {
		if extra[name] == nil {
			t.Errorf("ExtraFiles lacks %s; has %v", name, extra)
		}
	}
	dir := t.TempDir()
	files, err := Write(dir, r, extra)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(files[len(files)-1]) != "result.json" || len(files) != 3+len(extra) {
		t.Fatalf("written %v", files)
	}
	hgrm, err := os.ReadFile(filepath.Join(dir, "latency.policy.http.80.timeout.hgrm"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(hgrm)
	if !strings.HasPrefix(s, " Value\tPercentile\tTotalCount\t1/(1-Percentile)\n") || !strings.Contains(s, "Total count    =          600]") {
		t.Errorf("hgrm:\n%s", s)
	}
	// values in milliseconds: the 5 s timeouts print as ~5000.
	var mean float64
	if i := strings.Index(s, "#[Mean"); i < 0 {
		t.Errorf("hgrm has no footer:\n%s", s)
	} else if _, err := fmt.Sscanf(s[i:], "#[Mean = %f", &mean); err != nil || mean < 4000 || mean > 6000 {
		t.Errorf("hgrm mean %v (%v), want ~5000 ms:\n%s", mean, err, s[i:])
	}
	// A result without histograms writes only the HTML.
	if ex := ExtraFiles(sample()); len(ex) != 1 || ex["report.html"] == nil {
		t.Errorf("ExtraFiles(no histograms) = %v", ex)
	}
}

// TestHlogIntervals: with per-second intervals, latency.hlog holds one interval per
// second per tag in time order, offset by the load's start, and the log reader gives
// back each second's histogram; the HTML report draws latency over time from them.
func TestHlogIntervals(t *testing.T) {
	r := sample()
	r.LoadStart = 2.5
	var want []int64
	for sec := range 3 {
		h := newHist()
		h.RecordValues(int64(1000*(sec+1)), int64(10*(sec+1))) // 1 ms ×10, 2 ms ×20, 3 ms ×30
		e := mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 80}, h)
		// Out of order in the result: the log sorts by time.
		r.Intervals = append([]HistInterval{{T: float64(sec), Length: 1, Max: float64(h.Max()), EncodedHist: e}}, r.Intervals...)
		want = append(want, h.TotalCount())
	}
	log, err := Hlog(r)
	if err != nil {
		t.Fatal(err)
	}
	rd := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	var got []int64
	for i := 0; ; i++ {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		if h.Tag() != "latency.policy.http.80" {
			t.Errorf("interval %d tagged %q", i, h.Tag())
		}
		if start := r.Started.UnixMilli() + int64(2500+1000*i); h.StartTimeMs() != start || h.EndTimeMs() != start+1000 {
			t.Errorf("interval %d: %d..%d, want %d..%d", i, h.StartTimeMs(), h.EndTimeMs(), start, start+1000)
		}
		if h.ValueAtQuantile(50) < int64(1000*(i+1))-10 || h.ValueAtQuantile(50) > int64(1000*(i+1))+10 {
			t.Errorf("interval %d: p50 %d µs, want about %d", i, h.ValueAtQuantile(50), 1000*(i+1))
		}
		got = append(got, h.TotalCount())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("interval counts %v, want %v", got, want)
	}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(TitleLatencyTime)) {
		t.Error("report.html has no latency-over-time chart")
	}
	// A corrupt interval is refused, never written into the log.
	r.Intervals[0].Data = "AAAA"
	if _, err := Hlog(r); err == nil {
		t.Error("Hlog accepted a corrupt interval")
	}
}
