package harness

import (
	"sort"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
)

// intervals folds the fleets' one-second snapshots into per-interval histograms, one
// per series (reports.HlogTag), for latency.hlog and the latency-over-time chart. An
// interval is sealed (encoded, its histograms dropped) once every fleet has had time to
// report it, so memory stays a few intervals' worth whatever the run's length.
type intervals struct {
	length int                            // seconds per interval
	open   map[int]map[string]*openSeries // interval index -> tag -> histogram
	sealed []reports.HistInterval         // in sealing order
	kinds  map[string]bool                // histogram kinds kept
}

type openSeries struct {
	kind string
	tags reports.HistTags // as encodeHist gives them; HlogTag reduces them to the series'
	h    *hdrhistogram.Histogram
}

func newIntervals(length int) *intervals {
	return &intervals{length: max(1, length), open: map[int]map[string]*openSeries{},
		kinds: map[string]bool{metrics.Latency: true, metrics.FallbackDelay: true, metrics.PushLatency: true, metrics.TimeToManaged: true, metrics.FollowTime: true}}
}

// add merges one snapshot that ended sec seconds after the load started.
func (iv *intervals) add(sec int, rec *metrics.Recorder) {
	idx := max(0, sec-1) / iv.length // the snapshot covers (sec-1, sec]
	for _, k := range rec.Keys() {
		if !iv.kinds[k.Metric] {
			continue
		}
		e := reports.EncodedHist{Kind: k.Metric, Tags: reports.HistTags{Operation: k.Op, Transport: k.Transport, Port: k.Port, Outcome: k.Outcome, Group: k.Group, MP: k.MP}}
		tag := reports.HlogTag(e)
		m := iv.open[idx]
		if m == nil {
			m = map[string]*openSeries{}
			iv.open[idx] = m
		}
		s := m[tag]
		if s == nil {
			s = &openSeries{kind: k.Metric, tags: e.Tags, h: metrics.NewHistogram()}
			m[tag] = s
		}
		s.h.Merge(rec.Histogram(k))
	}
}

// seal encodes every interval that ended at least grace seconds before now (seconds
// since the load started); a negative now seals all.
func (iv *intervals) seal(now, grace int) {
	var idxs []int
	for idx := range iv.open {
		if now < 0 || (idx+1)*iv.length+grace <= now {
			idxs = append(idxs, idx)
		}
	}
	sort.Ints(idxs)
	for _, idx := range idxs {
		tags := make([]string, 0, len(iv.open[idx]))
		for t := range iv.open[idx] {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		for _, t := range tags {
			s := iv.open[idx][t]
			e, err := reports.EncodeHist(s.kind, s.tags, s.h)
			if err != nil {
				continue // cannot happen for portlab's own histograms; the whole-run ones still hold it
			}
			iv.sealed = append(iv.sealed, reports.HistInterval{T: float64(idx * iv.length), Length: float64(iv.length),
				Max: float64(s.h.Max()), EncodedHist: e})
		}
		delete(iv.open, idx)
	}
}
