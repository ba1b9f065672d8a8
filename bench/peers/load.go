package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// load is what every generator is asked for: the same request at the same rate with
// the same connection pattern for the same time.
type load struct {
	URL      string         // http://127.0.0.1:PORT/SMS_MP/.sms_aut?MPLIST
	Addr     netip.AddrPort // the MP's HTTP port
	Path     string         // /SMS_MP/.sms_aut?MPLIST
	Rate     int            // requests per second
	Duration time.Duration
	K        int // requests on each new connection
	Conns    int // wrk connections, hey workers
	Clients  int // fleet clients
}

// outcome is what a generator reports about its own run.
type outcome struct {
	// Requests it made, answered or failed, by its own count.
	Requests int64
	// Errors among them: transport errors and statuses >= 400.
	Errors int64
	// EndErrors are the Errors counted in the run's last second, when the generator
	// tells when they happened (the fleet): requests cut short by the end of the run.
	EndErrors int64
	// Rate it achieved, requests per second, as it measures it (the fleet: after its ramp).
	Rate float64
	// CPU is the generator process's own over its whole run.
	CPU cpuTimes
	// SteadyCPU is its CPU per request after its warm-up, when it can be told apart
	// (the fleet: after its ramp, from /proc as its snapshots arrive); 0: not measured.
	SteadyCPU time.Duration
	// Notes: anything peculiar to this generator worth a line under the table.
	Notes []string
}

// generator is one load generator peers compares.
type generator interface {
	Name() string
	// Unsupported says why the generator cannot make exactly k requests per connection,
	// or "" when it can.
	Unsupported(k int) string
	// Run drives l to its end (bounded by l.Duration plus a minute) and reports what the
	// generator counted itself.
	Run(ctx context.Context, l load) (outcome, error)
}

// sample is one measured run of one generator.
type sample struct {
	Gen  string
	K    int
	Run  int
	want int // the rate asked
	outcome
	MPCPU cpuTimes // the MP's over the generator's run
	Opens int64    // TCP connections accepted in the host namespace over the run
	Err   error
}

// GenPerReq is the generator's CPU per request.
func (s sample) GenPerReq() time.Duration { return perRequest(s.CPU.Total(), s.Requests) }

// MPPerReq is the MP's CPU per request the generator made.
func (s sample) MPPerReq() time.Duration { return perRequest(s.MPCPU.Total(), s.Requests) }

// ConnsPerReq is the connections the MP accepted per request (approximate: the
// namespace's counter).
func (s sample) ConnsPerReq() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Opens) / float64(s.Requests)
}

func perRequest(d time.Duration, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

// measure runs g once on l and adds the MP's side: its CPU and the connections it
// accepted, from just before the generator starts to just after it exits.
func measure(ctx context.Context, g generator, l load, mp *mpServer, run int) sample {
	s := sample{Gen: g.Name(), K: l.K, Run: run, want: l.Rate}
	cpu0, err := procCPU(mp.PID())
	if err != nil {
		s.Err = err
		return s
	}
	opens0, openErr := tcpPassiveOpens()
	s.outcome, s.Err = g.Run(ctx, l)
	cpu1, err := procCPU(mp.PID())
	if err != nil && s.Err == nil {
		s.Err = fmt.Errorf("mp: %w", err)
	}
	s.MPCPU = cpu1.sub(cpu0)
	if opens1, err := tcpPassiveOpens(); err == nil && openErr == nil {
		s.Opens = opens1 - opens0
	}
	return s
}
