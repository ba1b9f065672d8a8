package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the benchmark's flags.
type options struct {
	// Requests per second every generator is asked for.
	Rate int
	// How long each generator loads the MP, per run (whole seconds: wrk takes no less).
	Duration time.Duration
	// Runs of each (generator, pattern); the table shows medians.
	Runs int
	// A first load, not counted, so that the first measured run (wrk's) does not meet a
	// cold MP (heap and goroutine stacks still growing); 0: none.
	Warmup time.Duration
	// The fleet's simulated clients (each binds its own 127.3.0.0/16 address).
	Clients int
	// wrk's connections and hey's workers: enough to hold the rate, few enough that the
	// tools' own bookkeeping stays small (wrk scans its timers linearly).
	Conns int
	// Requests per connection to compare (1 and 2 by default).
	Patterns []int
	// Generators to run, in this order within each round.
	Generators []string
	// The portlab binary (make bench-peers builds it first).
	Portlab string
	// After the measured runs, one more fleet run with two requests per connection whose
	// CPU profile goes here (empty: none). Not counted: profiling costs CPU.
	FleetProfile string
}

// allGenerators are the generators peers knows, in their default order.
func allGenerators() []string { return []string{"wrk", "hey", "vegeta", "fleet"} }

// Bounds that keep every load finite and the fleet's identities in their /16.
const (
	maxDuration = 10 * time.Minute
	maxClients  = 1<<16 - 2
	fleetRamp   = 2 * time.Second
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench/peers [flags]   (or: make bench-peers PEERS_FLAGS='...')\n\n"+
			"Drives one portlab mp serve on loopback with wrk, hey, vegeta and portlab's fleet at the\n"+
			"same rate and connection pattern; prints each generator's CPU per request.\n\n")
		fs.PrintDefaults()
	}
	patterns, gens := "1,2", strings.Join(allGenerators(), ",")
	fs.IntVar(&o.Rate, "rate", 3000, "requests per second asked of every generator")
	fs.DurationVar(&o.Duration, "duration", 15*time.Second, "load duration of each run (whole seconds)")
	fs.IntVar(&o.Runs, "runs", 3, "runs of each (generator, pattern), interleaved; medians are shown")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "an uncounted first load of the first generator (whole seconds; 0: none)")
	fs.IntVar(&o.Clients, "clients", 3000, "fleet clients (each polls every clients*K/rate seconds)")
	fs.IntVar(&o.Conns, "conns", 50, "wrk connections and hey workers")
	fs.StringVar(&patterns, "k", patterns, "requests per connection to compare, comma-separated (1..100)")
	fs.StringVar(&gens, "generators", gens, "generators to run, comma-separated: wrk, hey, vegeta, fleet")
	fs.StringVar(&o.Portlab, "portlab", "bin/portlab", "the portlab binary")
	fs.StringVar(&o.FleetProfile, "fleet-profile", "", "write a CPU profile of one extra fleet run (largest K) here")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, "peers:", err)
		return o, err
	}
	var err error
	if o.Patterns, err = parseInts(patterns); err == nil {
		o.Generators, err = parseGenerators(gens)
	}
	if err == nil {
		err = o.validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "peers:", err)
		return o, err
	}
	return o, nil
}

func (o options) validate() error {
	switch {
	case o.Rate <= 0 || o.Rate > 100000:
		return fmt.Errorf("-rate %d: want 1..100000 requests per second", o.Rate)
	case o.Duration < 2*fleetRamp || o.Duration > maxDuration || o.Duration%time.Second != 0:
		return fmt.Errorf("-duration %s: want whole seconds from %s to %s", o.Duration, 2*fleetRamp, maxDuration)
	case o.Warmup < 0 || o.Warmup > time.Minute || o.Warmup%time.Second != 0:
		return fmt.Errorf("-warmup %s: want whole seconds up to 1m", o.Warmup)
	case o.Runs < 1 || o.Runs > 20:
		return fmt.Errorf("-runs %d: want 1..20", o.Runs)
	case o.Clients < 1 || o.Clients > maxClients:
		return fmt.Errorf("-clients %d: want 1..%d (one 127.3.0.0/16 address each)", o.Clients, maxClients)
	case o.Conns < 2 || o.Conns > 10000:
		return fmt.Errorf("-conns %d: want 2..10000", o.Conns)
	}
	for _, k := range o.Patterns {
		if k < 1 || k > 100 {
			return fmt.Errorf("-k %d: want 1..100 requests per connection", k)
		}
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-k %q: %w", s, err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func parseGenerators(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allGenerators(), f) {
			return nil, fmt.Errorf("-generators: unknown generator %q (know %s)", f, strings.Join(allGenerators(), ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-generators: none given")
	}
	return out, nil
}
