package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// goal is one of the targets: the fleet's CPU per request at most Max times the
// reference's.
type goal struct {
	Ref string
	Max float64
}

// goals are the issue's: within 1.5× of wrk (C, the hardest reference), at most half of
// hey's and 0.3 of vegeta's.
func goals() []goal { return []goal{{"wrk", 1.5}, {"hey", 0.5}, {"vegeta", 0.3}} }

// rateTolerance is how far from the asked rate a generator may end and still count as
// having held it.
const rateTolerance = 0.10

// summary is one generator's medians for one pattern.
type summary struct {
	Gen         string
	Unsupported string // why it cannot run this pattern; the rest is empty then
	Runs, OK    int
	Rate        float64
	GenPerReq   time.Duration
	GenMin      time.Duration
	GenMax      time.Duration
	MPPerReq    time.Duration
	ConnsPerReq float64
	Errors      int64 // over every run
	EndErrors   int64 // of which in a run's last second
	SteadyCPU   time.Duration
	Failures    []string
	// Runs that did not hold the rate, which the median can hide.
	RateMisses []string
}

// summarize takes the medians of gen's successful runs with k requests per connection.
func summarize(gen, unsupported string, k int, samples []sample) summary {
	s := summary{Gen: gen, Unsupported: unsupported}
	var rates []float64
	var cpu, mp, steady []time.Duration
	var conns []float64
	for _, x := range samples {
		if x.Gen != gen || x.K != k {
			continue
		}
		s.Runs++
		if x.Err != nil {
			s.Failures = append(s.Failures, fmt.Sprintf("run %d: %v", x.Run, x.Err))
			continue
		}
		s.OK++
		if d := x.Rate/float64(x.want) - 1; x.want > 0 && math.Abs(d) > rateTolerance {
			s.RateMisses = append(s.RateMisses, fmt.Sprintf("run %d: %.0f req/s (%+.0f%%)", x.Run, x.Rate, 100*d))
		}
		s.Errors += x.Errors
		s.EndErrors += x.EndErrors
		rates = append(rates, x.Rate)
		cpu = append(cpu, x.GenPerReq())
		mp = append(mp, x.MPPerReq())
		conns = append(conns, x.ConnsPerReq())
		if x.SteadyCPU > 0 {
			steady = append(steady, x.SteadyCPU)
		}
	}
	if s.OK == 0 {
		return s
	}
	s.Rate, s.GenPerReq, s.MPPerReq, s.ConnsPerReq = median(rates), median(cpu), median(mp), median(conns)
	s.GenMin, s.GenMax = slices.Min(cpu), slices.Max(cpu)
	if len(steady) > 0 {
		s.SteadyCPU = median(steady)
	}
	return s
}

func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// patternName says what k requests per connection means.
func patternName(k int) string {
	switch k {
	case 1:
		return "one request per connection"
	case 2:
		return "two requests per connection"
	}
	return fmt.Sprintf("%d requests per connection", k)
}

// renderTable writes the table of one pattern: a row per generator, then the fleet's
// ratios to each reference beside the goal, then what looks odd.
func renderTable(w io.Writer, k int, o options, sums []summary) {
	fmt.Fprintf(w, "\nK=%d, %s: %d req/s asked, %s per run, medians of %d runs\n", k, patternName(k), o.Rate, o.Duration, o.Runs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "generator\treq/s\trate\tCPU µs/req\t(min-max)\tMP CPU µs/req\tconns/req\terrors\truns")
	byGen := map[string]summary{}
	var others []string // rows without figures go below, not to break the columns
	for _, s := range sums {
		byGen[s.Gen] = s
		switch {
		case s.Unsupported != "":
			others = append(others, fmt.Sprintf("%s\tn/a: %s", s.Gen, s.Unsupported))
		case s.OK == 0:
			others = append(others, fmt.Sprintf("%s\tdid not run (%d of %d runs failed)", s.Gen, s.Runs-s.OK, s.Runs))
		default:
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t(%s-%s)\t%s\t%.2f\t%d\t%d/%d\n", s.Gen, s.Rate, rateCheck(s.Rate, o.Rate),
				micros(s.GenPerReq), micros(s.GenMin), micros(s.GenMax), micros(s.MPPerReq), s.ConnsPerReq, s.Errors, s.OK, s.Runs)
		}
	}
	for _, line := range others {
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fl, haveFleet := byGen["fleet"]
	refs := slices.ContainsFunc(goals(), func(g goal) bool { _, ok := byGen[g.Ref]; return ok })
	if haveFleet && fl.OK > 0 && refs {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ratio\tCPU per request\tgoal\t")
		for _, g := range goals() {
			ref, ok := byGen[g.Ref]
			switch {
			case !ok:
				continue
			case ref.Unsupported != "":
				fmt.Fprintf(tw, "fleet/%s\tn/a\t<= %.1f\t(%s cannot make %d requests per connection)\n", g.Ref, g.Max, g.Ref, k)
			case ref.OK == 0 || ref.GenPerReq == 0:
				fmt.Fprintf(tw, "fleet/%s\tn/a\t<= %.1f\t(%s did not run)\n", g.Ref, g.Max, g.Ref)
			default:
				r := float64(fl.GenPerReq) / float64(ref.GenPerReq)
				verdict := "PASS"
				if r > g.Max {
					verdict = "MISS"
				}
				fmt.Fprintf(tw, "fleet/%s\t%.2f\t<= %.1f\t%s\n", g.Ref, r, g.Max, verdict)
			}
		}
		tw.Flush()
	}
	if haveFleet && fl.OK > 0 && fl.SteadyCPU > 0 {
		fmt.Fprintf(w, "fleet after its %s ramp: %s µs CPU per request (median; the table counts its whole run, as for the others)\n",
			min(fleetRamp, o.Duration/2), micros(fl.SteadyCPU))
	}
	for _, line := range oddities(k, o, sums) {
		fmt.Fprintln(w, "note:", line)
	}
}

// oddities are what would make a comparison unfair: a generator that did not hold the
// rate or had errors, an MP that worked much harder or less hard per request under one
// generator than under the others (the work differed), or a connection pattern that
// the namespace's counters do not confirm.
func oddities(k int, o options, sums []summary) []string {
	var out []string
	var mps []time.Duration
	for _, s := range sums {
		if s.Unsupported == "" && s.OK > 0 {
			mps = append(mps, s.MPPerReq)
		}
	}
	mid := median(mps)
	for _, s := range sums {
		for _, f := range s.Failures {
			out = append(out, fmt.Sprintf("%s %s", s.Gen, f))
		}
		if s.Unsupported != "" || s.OK == 0 {
			continue
		}
		if d := s.Rate/float64(o.Rate) - 1; math.Abs(d) > rateTolerance {
			out = append(out, fmt.Sprintf("%s did not hold the rate: %.0f req/s (%+.0f%%)", s.Gen, s.Rate, 100*d))
		} else if len(s.RateMisses) > 0 {
			out = append(out, fmt.Sprintf("%s did not hold the rate in %s; its CPU per request then is not comparable", s.Gen, strings.Join(s.RateMisses, ", ")))
		}
		switch {
		case s.Errors > 0 && s.EndErrors == s.Errors:
			out = append(out, fmt.Sprintf("%s had %d errors, all in a run's last second (requests in flight as it ended)", s.Gen, s.Errors))
		case s.Errors > 0:
			out = append(out, fmt.Sprintf("%s had %d errors (%d in a run's last second)", s.Gen, s.Errors, s.EndErrors))
		}
		if mid > 0 {
			if d := float64(s.MPPerReq)/float64(mid) - 1; math.Abs(d) > 0.25 {
				out = append(out, fmt.Sprintf("the MP spent %s µs per request under %s, %+.0f%% from the median of all generators: the work differed",
					micros(s.MPPerReq), s.Gen, 100*d))
			}
		}
		if want := 1 / float64(k); math.Abs(s.ConnsPerReq/want-1) > 0.2 {
			out = append(out, fmt.Sprintf("%s: %.2f connections per request accepted on this host, want %.2f (other processes' connections count too)",
				s.Gen, s.ConnsPerReq, want))
		}
	}
	return out
}

func rateCheck(got float64, want int) string {
	d := got/float64(want) - 1
	switch {
	case d < -rateTolerance:
		return fmt.Sprintf("LOW %+.0f%%", 100*d)
	case d > rateTolerance:
		return fmt.Sprintf("HIGH %+.0f%%", 100*d)
	}
	return "ok"
}

// micros formats a duration as microseconds with one decimal.
func micros(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

// runLine is one measured run, printed as it ends.
func runLine(s sample) string {
	if s.Err != nil {
		return fmt.Sprintf("run %d  K=%d  %-6s  failed: %v", s.Run, s.K, s.Gen, s.Err)
	}
	line := fmt.Sprintf("run %d  K=%d  %-6s  %6.0f req/s  %7d requests  %5d errors  CPU %6s µs/req (%2.0f%% system)  MP %6s µs/req (%2.0f%% system)  %.2f conns/req",
		s.Run, s.K, s.Gen, s.Rate, s.Requests, s.Errors, micros(s.GenPerReq()), percent(s.CPU.Sys, s.CPU.Total()),
		micros(s.MPPerReq()), percent(s.MPCPU.Sys, s.MPCPU.Total()), s.ConnsPerReq())
	if s.SteadyCPU > 0 {
		line += fmt.Sprintf("  (after the ramp %s µs/req)", micros(s.SteadyCPU))
	}
	if len(s.Notes) > 0 {
		line += "  " + strings.Join(s.Notes, "; ")
	}
	return line
}

func percent(part, whole time.Duration) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
