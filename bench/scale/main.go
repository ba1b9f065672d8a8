// Command scale is `make bench-scale`: the one-MP scenario (built-in mp-capacity: TCP
// notification sessions, 10 s policy polling, a push) run through `portlab run` at
// several client counts, one after the other, and a Markdown table of what each cost:
// late and deferred cycles, policy latency, the MP's CPU per request, per client-minute
// and RSS per session, the fleet's CPU per request and RSS per client, and how busy the
// whole machine was. Each run's results stay in -out for a closer look.
//
//	go run ./bench/scale -clients 5000,10000,15000,20000,25000
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portlab/portlab/reports"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

type row struct {
	clients                 int
	status                  string
	late, deferred          float64
	policyP99               float64 // seconds
	mpUSReq, mpUSClientMin  float64
	mpRSSSession            float64
	mpWorkers, fleetProcs   int
	fleetUSReq, fleetRSSCli float64
	busy                    float64 // fraction of all CPUs busy during the run
}

func run() error {
	bin := flag.String("portlab", "bin/portlab", "the portlab binary (make build)")
	scenario := flag.String("scenario", "mp-capacity", "scenario to scale (a built-in or a file)")
	list := flag.String("clients", "5000,10000,15000,20000,25000", "client counts, comma-separated")
	out := flag.String("out", "portlab-results/bench-scale", "results directory; one subdirectory per count")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-clients: %q is not a client count", f)
		}
		counts = append(counts, n)
	}
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("%w (make build makes bin/portlab)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rows []row
	for _, n := range counts {
		dir := filepath.Join(*out, strconv.Itoa(n))
		fmt.Fprintf(os.Stderr, "bench-scale: %s --clients %d -> %s\n", *scenario, n, dir)
		s0, err := readStat()
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, *bin, "run", *scenario, "--clients", strconv.Itoa(n), "--out", dir, "--quiet")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // portlab cleans up on SIGINT
		cmd.WaitDelay = 30 * time.Second
		err = cmd.Run()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: a gate failed, still a figure
			return fmt.Errorf("--clients %d: %w", n, err)
		}
		s1, _ := readStat()
		res, err := reports.Read(filepath.Join(dir, "result.json"))
		if err != nil {
			return err
		}
		r, err := summarise(n, res)
		if err != nil {
			return err
		}
		r.busy = s1.busyFraction(s0)
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	printTable(os.Stdout, *scenario, rows)
	return nil
}

func summarise(n int, res *reports.Result) (row, error) {
	r := row{clients: n, status: res.Status, late: res.Load.LateFraction, deferred: res.Load.DeferredFraction}
	hs, err := reports.MergedHists(res)
	if err != nil {
		return r, err
	}
	for _, h := range hs {
		if h.Kind == reports.KindLatency && h.Tags.Operation == "policy" && h.Tags.Outcome == "" {
			r.policyP99 = max(r.policyP99, float64(h.Hist.ValueAtQuantile(99))/1e6)
		}
	}
	var fleetCPU float64
	var mpReqs uint64 // HTTP requests, as the MP counts them (IIS: a 401 and its retry are two)
	var fleetRSS uint64
	for _, c := range res.Cost {
		switch c.Role {
		case "mp":
			r.mpUSReq, r.mpUSClientMin, r.mpRSSSession = c.CPUPerRequestUS, c.CPUPerClientMinuteUS, c.RSSPerSession
			mpReqs += c.Requests
		case "mp-worker":
			r.mpWorkers++
		case "fleet":
			r.fleetProcs++
			fleetCPU += c.CPUUser + c.CPUSystem
			fleetRSS += c.RSSPeak
		}
	}
	r.mpWorkers = max(1, r.mpWorkers)
	// Per HTTP request, the MP's count: the fleet's own count is of operations, and one
	// operation can be two requests (windowsauth's 401, then the anonymous retry).
	if mpReqs > 0 {
		r.fleetUSReq = fleetCPU * 1e6 / float64(mpReqs)
	}
	r.fleetRSSCli = float64(fleetRSS) / float64(n)
	return r, nil
}

func printTable(w *os.File, scenario string, rows []row) {
	fmt.Fprintf(w, "\n%s, one MP, measured by `make bench-scale` on %s\n\n", scenario, host())
	fmt.Fprintln(w, "| clients | status | late | deferred | policy p99 | MP µs/request | MP µs/client-min | MP RSS/session | MP workers | fleet procs | fleet µs/request | fleet RSS/client | machine busy |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %s | %.2f%% | %.2f%% | %s | %.0f | %.0f | %.1f KiB | %d | %d | %.0f | %.1f KiB | %.0f%% |\n",
			r.clients, r.status, 100*r.late, 100*r.deferred, reports.FormatValue(r.policyP99, "seconds"), r.mpUSReq, r.mpUSClientMin,
			r.mpRSSSession/1024, r.mpWorkers, r.fleetProcs, r.fleetUSReq, r.fleetRSSCli/1024, 100*r.busy)
	}
}

func host() string {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "\nprocessor") + 1
	}
	return fmt.Sprintf("%d CPUs", n)
}

// cpuStat is /proc/stat's first line: jiffies by state, all CPUs together.
type cpuStat []uint64

func readStat() (cpuStat, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	fields := strings.Fields(sc.Text())
	var s cpuStat
	for _, x := range fields[1:] {
		v, _ := strconv.ParseUint(x, 10, 64)
		s = append(s, v)
	}
	return s, nil
}

// busyFraction is the share of CPU time not idle or waiting on I/O between s0 and s.
func (s cpuStat) busyFraction(s0 cpuStat) float64 {
	if len(s) < 5 || len(s0) < 5 {
		return 0
	}
	var total, idle uint64
	for i := range s {
		total += s[i] - s0[i]
	}
	idle = (s[3] - s0[3]) + (s[4] - s0[4])
	if total == 0 {
		return 0
	}
	return float64(total-idle) / float64(total)
}
