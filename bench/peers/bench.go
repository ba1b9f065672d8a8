package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
)

// pause between runs: the MP's connections from the last run close, its garbage is
// collected, and the next generator starts on a quiet MP.
const pause = 2 * time.Second

// bench runs the whole comparison and prints it to stdout (progress to stderr).
func bench(ctx context.Context, o options, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "peers: "+format+"\n", a...) }
	portlab, err := filepath.Abs(o.Portlab)
	if err == nil {
		_, err = os.Stat(portlab)
	}
	if err != nil {
		logf("portlab binary: %v (make build makes bin/portlab)", err)
		return exitFailed
	}
	dir, err := os.MkdirTemp("", "portlab-peers-")
	if err != nil {
		logf("temporary directory: %v", err)
		return exitFailed
	}
	defer os.RemoveAll(dir)

	gens, failed := setup(ctx, o, portlab, dir, logf)
	if len(gens) == 0 || ctx.Err() != nil {
		return exitFailed
	}
	mp, err := startMP(ctx, portlab, mpLimit(o))
	if err != nil {
		logf("%v", err)
		return exitFailed
	}
	s := &session{o: o, mp: mp, stdout: stdout, logf: logf}
	code := s.run(ctx, gens, failed, portlab)
	sum, err := mp.Stop()
	if err != nil {
		logf("%v", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "\nmp serve %s\nthe MP answered %d requests in all; the generators counted %d and peers' probe 1 (the rest: requests in flight when a generator stopped)\n",
		sum.Line, sum.Requests, s.counted)
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadAvg())
	if len(failed) > 0 {
		return exitFailed
	}
	return code
}

// session is one benchmark against one MP.
type session struct {
	o       options
	mp      *mpServer
	stdout  io.Writer
	logf    func(string, ...any)
	counted int64 // requests the generators counted, the uncounted runs' included
}

// measure runs one load and counts its requests towards the MP's total.
func (s *session) measure(ctx context.Context, g generator, l load, run int) sample {
	x := measure(ctx, g, l, s.mp, run)
	s.counted += x.Requests
	return x
}

// run warms the MP up, runs the rounds, prints the tables and, if asked, makes the
// profiled fleet run. It returns exitFailed if a generator never ran.
func (s *session) run(ctx context.Context, gens []generator, failed map[string]error, portlab string) int {
	o, mp, stdout := s.o, s.mp, s.stdout
	if err := probe(ctx, mp.URL); err != nil {
		s.logf("%v", err)
		return exitFailed
	}
	s.logf("MP %s (pid %d); %d run(s) of %s, K in %v, %d req/s", mp.URL, mp.PID(), o.Runs, o.Duration, o.Patterns, o.Rate)
	fmt.Fprintf(stdout, "load average at the start: %s (%d CPUs; others' work on the machine shares them)\n", loadAvg(), runtime.NumCPU())
	if o.Warmup > 0 {
		l := o.load(mp, o.Patterns[0])
		l.Duration = o.Warmup
		fmt.Fprintln(stdout, "warm-up, not counted: "+runLine(s.measure(ctx, gens[0], l, 0)))
		sleep(ctx, pause)
	}

	code := exitOK
	var samples []sample
rounds:
	for run := 1; run <= o.Runs; run++ {
		for _, k := range o.Patterns {
			for _, g := range gens {
				if g.Unsupported(k) != "" {
					continue
				}
				if ctx.Err() != nil {
					break rounds
				}
				if err := mp.Alive(); err != nil {
					s.logf("%v", err)
					code = exitFailed
					break rounds
				}
				x := s.measure(ctx, g, o.load(mp, k), run)
				samples = append(samples, x)
				fmt.Fprintln(stdout, runLine(x))
				sleep(ctx, pause)
			}
		}
	}

	for _, k := range o.Patterns {
		var sums []summary
		for _, g := range gens {
			sums = append(sums, summarize(g.Name(), g.Unsupported(k), k, samples))
		}
		for _, name := range o.Generators {
			if err, ok := failed[name]; ok {
				sums = append(sums, summary{Gen: name, Failures: []string{err.Error()}})
			}
		}
		renderTable(stdout, k, o, sums)
	}
	// A generator none of whose runs worked could not run at all.
	for _, g := range gens {
		if !slices.ContainsFunc(samples, func(x sample) bool { return x.Gen == g.Name() && x.Err == nil }) && ctx.Err() == nil {
			s.logf("%s: no run succeeded", g.Name())
			code = exitFailed
		}
	}

	if o.FleetProfile != "" && ctx.Err() == nil && slices.Contains(o.Generators, "fleet") {
		k := slices.Max(o.Patterns)
		prof, err := filepath.Abs(o.FleetProfile)
		if err != nil {
			s.logf("fleet profile: %v", err)
			return exitFailed
		}
		sleep(ctx, pause)
		x := s.measure(ctx, &fleetGen{bin: portlab, profile: prof}, o.load(mp, k), 0)
		fmt.Fprintln(stdout, "\nprofiled, not counted: "+runLine(x))
		if x.Err == nil {
			fmt.Fprintf(stdout, "fleet CPU profile (K=%d): go tool pprof -top -cum -nodecount=40 %s %s\n", k, o.Portlab, o.FleetProfile)
		}
	}
	return code
}

// load is what every generator is asked for with k requests per connection.
func (o options) load(mp *mpServer, k int) load {
	return load{URL: mp.URL, Addr: mp.Addr, Path: mp.Path, Rate: o.Rate, Duration: o.Duration,
		K: k, Conns: o.Conns, Clients: o.Clients}
}

// mpLimit bounds the MP's life: 15 minutes, or longer when the runs asked need it (each
// run takes its duration plus start-up and the pause).
func mpLimit(o options) time.Duration {
	perRound := time.Duration(len(o.Generators)*len(o.Patterns)) * (o.Duration + 15*time.Second)
	return max(15*time.Minute, time.Duration(o.Runs+1)*perRound+5*time.Minute)
}

// probe makes one request as the generators will, so that a broken MP shows before any
// load.
func probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", wire.UserAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s", url, resp.Status)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadAvg is the machine's 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
