package reports

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
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
	KindFollowTime    = "follow_time"
)

// ErrCorrupt is matched (errors.Is) when a result's data cannot be what a run wrote: a
// histogram that does not decode, or one that does not merge with its series. For a
// command that reads a result.json, it is bad input.
var ErrCorrupt = errors.New("corrupt result data")

// Histogram returns the decoded histogram (values in microseconds). Its geometry is
// read first: a histogram whose counts would take more than maxHistBytes is refused
// before it is allocated (hdrhistogram.Decode allocates what the header asks for, and
// 1..MaxInt64 at 5 digits is 49 MB from a hundred bytes of base64).
func (e EncodedHist) Histogram() (*hdrhistogram.Histogram, error) {
	if _, err := e.countsBytes(); err != nil {
		return nil, err
	}
	h, err := hdrhistogram.Decode([]byte(e.Data))
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s histogram %s: %w", ErrCorrupt, e.Kind, e.Tags, err)
	}
	return h, nil
}

// Bounds on what a result's histograms may cost decoded. portlab's own (1 µs to 1 h at 2
// digits) take 26 KiB each.
const (
	maxHistBytes   = 16 << 20  // one histogram
	maxMergedBytes = 256 << 20 // every series of a result, merged (MergedHists)
)

// countsBytes reads the geometry in e's header (base64, then the first 40 bytes of the
// zlib stream) and returns the bytes its counts take decoded.
func (e EncodedHist) countsBytes() (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w: %s histogram %s: %s", ErrCorrupt, e.Kind, e.Tags, why)
	}
	raw, err := base64.StdEncoding.DecodeString(e.Data)
	if err != nil || len(raw) < 8 {
		return bad("not base64 of an HdrHistogram")
	}
	n := int64(binary.BigEndian.Uint32(raw[4:8]))
	if n > int64(len(raw)-8) {
		return bad("truncated")
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8 : 8+n]))
	if err != nil {
		return bad("not zlib: " + err.Error())
	}
	defer z.Close()
	var hdr [40]byte
	if _, err := io.ReadFull(z, hdr[:]); err != nil {
		return bad("header truncated")
	}
	sig := int32(binary.BigEndian.Uint32(hdr[12:16]))
	lowest := int64(binary.BigEndian.Uint64(hdr[16:24]))
	highest := int64(binary.BigEndian.Uint64(hdr[24:32]))
	if sig < 1 || sig > 5 || lowest < 1 || highest < 2*lowest {
		return bad(fmt.Sprintf("geometry %d..%d at %d digits", lowest, highest, sig))
	}
	b := countsLen(lowest, highest, sig) * 8
	if b > maxHistBytes {
		return bad(fmt.Sprintf("geometry %d..%d at %d digits takes %d MiB decoded; at most %d", lowest, highest, sig, b>>20, maxHistBytes>>20))
	}
	return b, nil
}

// countsLen is the number of counts of an HdrHistogram of this geometry, computed as
// hdrhistogram.New does, without allocating them.
func countsLen(lowest, highest int64, sig int32) int64 {
	largest := 2 * int64(math.Pow10(int(sig)))
	subBucketCount := int64(1) << int64(math.Ceil(math.Log2(float64(largest))))
	unitMagnitude := int64(math.Floor(math.Log2(float64(lowest))))
	smallestUntrackable := subBucketCount << unitMagnitude
	buckets := int64(1)
	for smallestUntrackable <= highest {
		if smallestUntrackable > math.MaxInt64/2 {
			buckets++
			break
		}
		smallestUntrackable <<= 1
		buckets++
	}
	return (buckets + 1) * (subBucketCount / 2)
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
	var kept int64 // bytes of the merged histograms held
	for _, e := range r.Hists {
		t := HlogTag(e)
		if _, ok := by[t]; !ok {
			b, err := e.countsBytes()
			if err != nil {
				return nil, err
			}
			if kept += b; kept > maxMergedBytes {
				return nil, fmt.Errorf("%w: the histograms take more than %d MiB decoded", ErrCorrupt, maxMergedBytes>>20)
			}
		}
		h, err := e.Histogram()
		if err != nil {
			return nil, err
		}
		if m, ok := by[t]; ok {
			if dropped := m.Hist.Merge(h); dropped > 0 {
				return nil, fmt.Errorf("%w: merge histogram %s: %d values out of range", ErrCorrupt, t, dropped)
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
// HistogramLogProcessor and hdrhistogram-go's HistogramLogReader read) with one interval
// per second per tag (HlogTag; r.Intervals), in time order, or for a result without
// intervals one interval, the whole run, per tag. Values are microseconds; Interval_Max
// is in milliseconds; timestamps are seconds from BaseTime, the run's start (the load
// starts LoadStart seconds later, once the network is built).
func Hlog(r *Result) ([]byte, error) {
	var hs []TaggedHist
	if len(r.Intervals) == 0 {
		var err error
		if hs, err = MergedHists(r); err != nil {
			return nil, err
		}
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
	if len(r.Intervals) > 0 {
		iv := append([]HistInterval(nil), r.Intervals...)
		sort.SliceStable(iv, func(i, j int) bool {
			if iv[i].T != iv[j].T {
				return iv[i].T < iv[j].T
			}
			return HlogTag(iv[i].EncodedHist) < HlogTag(iv[j].EncodedHist)
		})
		for _, x := range iv {
			// Checked, not decoded: the data is already the log's compressed form.
			if _, err := x.countsBytes(); err != nil {
				return nil, err
			}
			if !finiteNonNeg(x.T) || !finiteNonNeg(x.Length) || !finiteNonNeg(x.Max) || strings.ContainsAny(x.Data, ",\r\n") {
				return nil, fmt.Errorf("%w: interval %s at %v", ErrCorrupt, HlogTag(x.EncodedHist), x.T)
			}
			fmt.Fprintf(&b, "Tag=%s,%.3f,%.3f,%.3f,%s\n", HlogTag(x.EncodedHist), r.LoadStart+x.T, x.Length, x.Max/1000, x.Data)
		}
		return b.Bytes(), nil
	}
	for _, t := range hs {
		payload, err := t.Hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode histogram %s: %w", t.Tag, err)
		}
		fmt.Fprintf(&b, "Tag=%s,%.3f,%.3f,%.3f,%s\n", t.Tag, 0.0, length, float64(t.Hist.Max())/1000, payload)
	}
	return b.Bytes(), nil
}

func finiteNonNeg(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// IntervalPoint is one interval of a series, summarised: its count and the values at
// the quantiles asked for (microseconds).
type IntervalPoint struct {
	T, Length float64
	Count     int64
	Values    []float64
}

// IntervalSeries summarises r.Intervals of kind ("" for all) per tag, in time order, at
// quantiles qs (0-100). Each histogram is decoded (with the geometry bound every
// decode has), read and dropped, so a long run costs no more memory than a short one.
func IntervalSeries(r *Result, kind string, qs ...float64) (map[string][]IntervalPoint, map[string]HistTags, error) {
	out := map[string][]IntervalPoint{}
	tags := map[string]HistTags{}
	for _, x := range r.Intervals {
		if kind != "" && x.Kind != kind {
			continue
		}
		h, err := x.Histogram()
		if err != nil {
			return nil, nil, err
		}
		p := IntervalPoint{T: x.T, Length: x.Length, Count: h.TotalCount()}
		for _, q := range qs {
			p.Values = append(p.Values, float64(h.ValueAtQuantile(q)))
		}
		t := HlogTag(x.EncodedHist)
		out[t] = append(out[t], p)
		tags[t] = seriesTags(x.EncodedHist)
	}
	for _, s := range out {
		sort.SliceStable(s, func(i, j int) bool { return s[i].T < s[j].T })
	}
	return out, tags, nil
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
			m[HgrmName(t)] = hgrmRenderer(t)
		}
	}
	return m
}

// maxFileName bounds the .hgrm names, below NAME_MAX (255 bytes) with room to spare
// for the temporary name WriteFileAtomic gives a file before renaming it
// (".NAME.tmp-123456789").
const maxFileName = 200

// HgrmName is the file name of a tag's .hgrm: TAG.hgrm, or, for a tag too long for a
// file name (the group's name is part of the tag), the tag's start, a dash and 16 hex
// digits of the whole tag's SHA-256. Tags are ASCII (HlogTag), so the cut is clean, and
// two long tags differ in the hash.
func HgrmName(tag string) string {
	const ext = ".hgrm"
	if len(tag)+len(ext) <= maxFileName {
		return tag + ext
	}
	sum := sha256.Sum256([]byte(tag))
	return tag[:maxFileName-len(ext)-17] + "-" + hex.EncodeToString(sum[:8]) + ext
}
