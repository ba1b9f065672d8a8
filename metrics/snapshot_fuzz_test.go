package metrics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// FuzzSnapshot decodes arbitrary JSON as a Snapshot, the way the orchestrator reads
// each fleet agent's "snapshot" and "final" lines, and merges it (Decode, AddSnapshot):
// it must never panic, and whatever decodes must merge into a Recorder whose series
// and snapshot can be built again. Inputs are capped at 256 KiB.
func FuzzSnapshot(f *testing.F) {
	r := NewRecorder()
	k := Key{Op: OpPolicy, Transport: "http", Port: 80, Outcome: OK, Group: "g", MP: "mp1"}
	for i := range 100 {
		r.RecordRequest(k, time.Duration(i+1)*time.Millisecond, time.Millisecond)
	}
	r.Add(CLateStarts, "g", 3)
	s, err := r.Snapshot(time.Unix(0, 0), time.Unix(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(s)
	f.Add(b)
	f.Add([]byte(`{"histograms":[{"key":{},"count":1,"hist":"HISTFAAAAB54nJNpmSzMwMDAz8AFRCAAAAsQAUk="}]}`))
	f.Add([]byte(`{"histograms":[{"hist":"!!!"}],"counters":[{"name":"x","value":-9223372036854775808}]}`))
	f.Add([]byte(`{"counters":[{"name":"late_starts","group":"g","value":9223372036854775807},{"name":"late_starts","group":"g","value":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		var s Snapshot
		if json.Unmarshal(data, &s) != nil {
			return
		}
		rec, err := Decode(s, s)
		if err != nil {
			return
		}
		rec.Series()
		if _, err := rec.Snapshot(s.Start, s.End); err != nil {
			t.Fatalf("a decoded snapshot does not encode again: %v", err)
		}
		m := NewRecorder()
		m.Merge(rec)
		_ = m.Keys()
	})
}

// A histogram whose header asks for a huge geometry is refused before it is allocated,
// and one of another geometry because it would not merge losslessly.
func TestSnapshotGeometry(t *testing.T) {
	for _, c := range []struct {
		lo, hi int64
		sig    int
	}{{1, 1 << 62, 5}, {1, 1000, 2}, {LowestMicros, HighestMicros, 3}} {
		h := hdrhistogram.New(c.lo, c.hi, c.sig)
		h.RecordValue(5)
		b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			t.Fatal(err)
		}
		s := Snapshot{Histograms: []EncodedHistogram{{Key: Key{Op: OpPolicy}, Count: 1, Hist: string(b)}}}
		if _, err := Decode(s); err == nil || !strings.Contains(err.Error(), "geometry") {
			t.Errorf("%d..%d at %d digits: %v, want a geometry refusal", c.lo, c.hi, c.sig, err)
		}
	}
	ok := NewHistogram()
	ok.RecordValue(5)
	b, _ := ok.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if _, err := Decode(Snapshot{Histograms: []EncodedHistogram{{Key: Key{Op: OpPolicy}, Count: 1, Hist: string(b)}}}); err != nil {
		t.Errorf("portlab's own geometry refused: %v", err)
	}
}
