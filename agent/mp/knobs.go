package mp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// serviceTimer draws service times and injected errors from one seeded source. The
// draws are cheap next to a request, so one locked source is fine here (unlike
// histograms, nothing is accumulated under the lock).
type serviceTimer struct {
	st        ServiceTime
	errorRate float64
	mu        sync.Mutex
	rng       *rand.Rand
}

func newServiceTimer(st ServiceTime, seed int64) (*serviceTimer, error) {
	switch st.Dist {
	case "fixed", "exponential":
		if st.Mean < 0 {
			return nil, fmt.Errorf("service_time: mean %v is negative", st.Mean)
		}
	case "uniform":
		if st.Min < 0 || st.Max < st.Min {
			return nil, fmt.Errorf("service_time: uniform wants 0 <= min <= max (min %v, max %v)", st.Min, st.Max)
		}
	default:
		return nil, fmt.Errorf("service_time: dist %q: want fixed, uniform or exponential", st.Dist)
	}
	return &serviceTimer{st: st, rng: rand.New(rand.NewPCG(uint64(seed), 0x706f72746c6162))}, nil
}

// draw returns the next service time and, with probability errorRate, an injected
// status (500 or 503, half each); 0 otherwise.
func (s *serviceTimer) draw() (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	switch s.st.Dist {
	case "fixed":
		d = s.st.Mean.D()
	case "uniform":
		d = s.st.Min.D()
		if span := s.st.Max.D() - s.st.Min.D(); span > 0 {
			d += time.Duration(s.rng.Int64N(int64(span) + 1))
		}
	case "exponential":
		d = time.Duration(s.rng.ExpFloat64() * float64(s.st.Mean.D()))
	}
	status := 0
	if s.errorRate > 0 && s.rng.Float64() < s.errorRate {
		status = http.StatusInternalServerError
		if s.rng.IntN(2) == 1 {
			status = http.StatusServiceUnavailable
		}
	}
	return d, status
}

// work waits d or until ctx ends (the client went away); false if ctx ended.
func work(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
