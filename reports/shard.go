package reports

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Shard says that a result is one shard of a rehearsal cut over several machines
// (`portlab run --shard I/N`), or the merge of all of them (`portlab merge`; then Index
// is -1 and Merged lists the shards).
//
// A shard does not judge the scenario's gates: it holds only part of the site, so its
// verdicts are recorded as pending and its run exits 0 when it ran to the end. The
// merge judges them on the whole. A shard result carries what the merge needs for that
// beyond what any result holds: the service-time histograms (Hists, kind service_time)
// and the load engine's counters per group (Counters).
type Shard struct {
	// Index counts from 0 (as JOB_COMPLETION_INDEX does); -1 in a merged result.
	Index int `json:"index"`
	// Count is N, the number of shards.
	Count int `json:"count"`
	// ScenarioDigest identifies the scenario as run: "sha256:" and the hex SHA-256 of
	// scenario_as_run in compact JSON (json.Compact), that is, the scenario with every
	// default filled and --clients applied. Two files that differ only in comments,
	// layout or spelled-out defaults are the same scenario; any change to what runs is
	// another. The merge recomputes it from scenario_as_run, so an edited file is found.
	ScenarioDigest string `json:"scenario_digest"`
	// Start is when the load started (its second 0): the common start given with
	// --start-at, or this shard's own start. In a merge, the earliest shard's.
	Start time.Time `json:"start"`
	// StartGiven is true when Start came from --start-at (in a merge: every shard had the
	// same one), so the shards' timelines ran at the same moments.
	StartGiven bool `json:"start_given"`
	// MPs and Groups are the shard's, in the scenario's order (in a merge: all of them).
	MPs    []string `json:"mps"`
	Groups []string `json:"groups"`
	// Counters are the load engine's counters per group (planned, late_starts, ...), for
	// the gates the merge judges (late_fraction, skipped_count).
	Counters []ShardCounter `json:"counters,omitempty"`
	// Merged lists the shards a merged result was made of, by index.
	Merged []MergedShard `json:"merged,omitempty"`
}

// ShardCounter is one counter of the load engine.
type ShardCounter struct {
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
	Value int64  `json:"value"`
}

// MergedShard is one shard in a merged result.
type MergedShard struct {
	Index    int       `json:"index"`
	File     string    `json:"file"`
	RunID    string    `json:"run_id"`
	Status   string    `json:"status"`
	Hostname string    `json:"hostname"`
	Start    time.Time `json:"start"`
	Clients  int       `json:"clients"`
}

// IsMerged reports whether r is a merge of shards.
func (r *Result) IsMerged() bool { return r.Shard != nil && r.Shard.Index < 0 }

// ScenarioDigest is the digest of a result's scenario_as_run (see Shard.ScenarioDigest).
func ScenarioDigest(asRun json.RawMessage) (string, error) {
	if len(asRun) == 0 {
		return "", fmt.Errorf("%w: no scenario_as_run", ErrCorrupt)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, asRun); err != nil {
		return "", fmt.Errorf("%w: scenario_as_run: %w", ErrCorrupt, err)
	}
	sum := sha256.Sum256(b.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Summarize is a distribution's percentiles in seconds, from a histogram of
// microseconds (what every Percentiles of a result holds).
func Summarize(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	s := func(us int64) float64 { return float64(us) / 1e6 }
	return Percentiles{
		Count: uint64(h.TotalCount()), Mean: h.Mean() / 1e6,
		P50: s(h.ValueAtQuantile(50)), P90: s(h.ValueAtQuantile(90)), P95: s(h.ValueAtQuantile(95)),
		P99: s(h.ValueAtQuantile(99)), P999: s(h.ValueAtQuantile(99.9)), Max: s(h.Max()),
	}
}

// Describe is one line saying what shard a result is, or what a merge was made of.
func (sh *Shard) Describe() string {
	if sh == nil {
		return ""
	}
	start := "its own start"
	if sh.StartGiven {
		start = "common start"
	}
	if sh.Index < 0 {
		return fmt.Sprintf("Merged from %d shards (%d management points, %d groups); %s %s; gates judged on the merged result.",
			sh.Count, len(sh.MPs), len(sh.Groups), start, sh.Start.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("Shard %d/%d: management points %s; groups %s; %s %s; gates pending: portlab merge judges them on the merged result.",
		sh.Index, sh.Count, strings.Join(sh.MPs, ", "), strings.Join(sh.Groups, ", "), start, sh.Start.UTC().Format(time.RFC3339))
}

// pendingGates counts the gates left to be judged elsewhere.
func (r *Result) pendingGates() int {
	n := 0
	for _, g := range r.Gates {
		if g.Pending {
			n++
		}
	}
	return n
}
