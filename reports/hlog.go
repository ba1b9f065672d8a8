package reports

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram kinds (EncodedHist.Kind). They match harness/metrics' metric names.
const (
	KindLatency       = "latency"
	KindServiceTime   = "service_time"
	KindFallbackDelay = "fallback_delay"
	KindPushLatency   = "push_latency"
	KindTimeToManaged = "time_to_managed"
)

// Histogram returns the decoded histogram (values in microseconds).
func (e EncodedHist) Histogram() (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(e.Data))
	if err != nil {
		return nil, fmt.Errorf("decode %s histogram %s: %w", e.Kind, e.Tags, err)
	}
	return h, nil
}

// EncodeHist encodes h (values in microseconds) for Result.Hists.
func EncodeHist(kind string, tags HistTags, h *hdrhistogram.Histogram) (EncodedHist, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return EncodedHist{}, fmt.Errorf("encode %s histogram %s: %w", kind, tags, err)
	}
	return EncodedHist{Kind: kind, Tags: tags, Data: string(b)}, nil
}

// seriesTags are the tags of the series e belongs to (see HlogTag): request histograms
// of every group and MP merge into one series per operation, transport, port and
// outcome; the per-group kinds keep their group.
func seriesTags(e EncodedHist) HistTags {
	t := HistTags{Operation: e.Tags.Operation, Transport: e.Tags.Transport, Port: e.Tags.Port, Outcome: e.Tags.Outcome}
	if t.Outcome == "ok" {
		t.Outcome = ""
	}
	switch e.Kind {
	case KindLatency, KindServiceTime:
	default:
		t.Group = e.Tags.Group
	}
	return t
}

// HlogTag names the series a histogram belongs to in latency.hlog and the .hgrm files:
// kind.operation.transport.port, then the outcome when it is not "ok", then the client
// group for the kinds that are per group (fallback delay, push latency, time to
// managed). Request histograms of every group and MP merge into one series, so a tag
// is one operation on one port over one transport. Characters a log tag cannot hold
// (comma, space, line breaks, and anything unusual in a file name) become '_'.
//
//	latency.policy.http.8080          latency.policy.http.80.timeout
//	push_latency.tcp.pushed           fallback_delay.stale
func HlogTag(e EncodedHist) string { return hlogTag(e.Kind, seriesTags(e)) }

func hlogTag(kind string, t HistTags) string {
	parts := []string{kind}
	for _, v := range []string{t.Operation, t.Transport} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	if t.Port != 0 {
		parts = append(parts, strconv.Itoa(t.Port))
	}
	for _, v := range []string{t.Outcome, t.Group} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return sanitizeTag(strings.Join(parts, "."))
}

func sanitizeTag(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == ':':
			return r
		}
		return '_'
	}, s)
}

// TaggedHist is the merge of every histogram of a result that shares one HlogTag.
type TaggedHist struct {
	Tag  string
	Kind string
	Tags HistTags // the series' tags (seriesTags)
	Hist *hdrhistogram.Histogram
}

// MergedHists decodes r.Hists and merges them by HlogTag, sorted by tag. Merging is
// lossless: every histogram of a run has the same geometry.
func MergedHists(r *Result) ([]TaggedHist, error) {
	by := map[string]*TaggedHist{}
	for _, e := range r.Hists {
		h, err := e.Histogram()
		if err != nil {
			return nil, err
		}
		t := HlogTag(e)
		if m, ok := by[t]; ok {
			if dropped := m.Hist.Merge(h); dropped > 0 {
				return nil, fmt.Errorf("merge histogram %s: %d values out of range", t, dropped)
			}
			continue
		}
		by[t] = &TaggedHist{Tag: t, Kind: e.Kind, Tags: seriesTags(e), Hist: h}
	}
	out := make([]TaggedHist, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// Hlog renders latency.hlog: an HdrHistogram interval log (format 1.3, the one Java's
// HistogramLogProcessor and hdrhistogram-go's HistogramLogReader read) with one interval,
// the whole run, per tag (HlogTag). Values are microseconds; Interval_Max is in
// milliseconds; timestamps are seconds from BaseTime, the run's start.
func Hlog(r *Result) ([]byte, error) {
	hs, err := MergedHists(r)
	if err != nil {
		return nil, err
	}
	start := r.Started
	length := r.Ended.Sub(r.Started).Seconds()
	if length <= 0 {
		length = r.Elapsed
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#[portlab %s: run %s, scenario %s; values in microseconds, Interval_Max in milliseconds]\n", r.Tool, r.RunID, r.ScenarioName)
	fmt.Fprintf(&b, "#[Histogram log format version %s]\n", hdrhistogram.HISTOGRAM_LOG_FORMAT_VERSION)
	secs := float64(start.UnixMilli()) / 1000
	fmt.Fprintf(&b, "#[StartTime: %.3f (seconds since epoch), %s]\n", secs, start.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "#[BaseTime: %.3f (seconds since epoch)]\n", secs)
	b.WriteString("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")
	for _, t := range hs {
		payload, err := t.Hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode histogram %s: %w", t.Tag, err)
		}
		fmt.Fprintf(&b, "Tag=%s,%.3f,%.3f,%.3f,%s\n", t.Tag, 0.0, length, float64(t.Hist.Max())/1000, payload)
	}
	return b.Bytes(), nil
}

// Hgrm renders the classic percentile distribution of one histogram (the
// "Value Percentile TotalCount 1/(1-Percentile)" table HdrHistogram's plotter reads),
// values in milliseconds, 5 ticks per half distance.
func Hgrm(h *hdrhistogram.Histogram) ([]byte, error) {
	var b bytes.Buffer
	if _, err := h.PercentilesPrint(&b, 5, 1000); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// hgrmRenderer renders the .hgrm of one tag of a result.
func hgrmRenderer(tag string) Renderer {
	return func(r *Result) ([]byte, error) {
		hs, err := MergedHists(r)
		if err != nil {
			return nil, err
		}
		for _, t := range hs {
			if t.Tag == tag {
				return Hgrm(t.Hist)
			}
		}
		return nil, fmt.Errorf("no histogram tagged %s", tag)
	}
}

// ExtraFiles are the renderings a run writes besides Files(): report.html, and when the
// result holds histograms, latency.hlog and one TAG.hgrm per tag. Pass it to Write:
//
//	reports.Write(dir, r, reports.ExtraFiles(r))
func ExtraFiles(r *Result) map[string]Renderer {
	m := map[string]Renderer{"report.html": HTML}
	if len(r.Hists) == 0 {
		return m
	}
	m["latency.hlog"] = Hlog
	seen := map[string]bool{}
	for _, e := range r.Hists {
		t := HlogTag(e)
		if !seen[t] {
			seen[t] = true
			m[t+".hgrm"] = hgrmRenderer(t)
		}
	}
	return m
}
