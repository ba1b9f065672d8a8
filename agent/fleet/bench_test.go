package fleet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/metrics"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

// The scale benchmark runs the MP in a child process (this test binary re-executed), so
// the fleet's RSS and CPU are the fleet's alone.
//
//	go test -run '^$' -bench FleetScale -benchtime 1x ./agent/fleet
//	PORTLAB_BENCH_CLIENTS=10000,15000 go test -run '^$' -bench FleetScale -benchtime 1x ./agent/fleet
const benchMPEnv = "PORTLAB_BENCH_MP"

func TestMain(m *testing.M) {
	if os.Getenv(benchMPEnv) == "1" {
		benchMPChild()
		return
	}
	os.Exit(m.Run())
}

// benchMPChild serves until stdin closes.
func benchMPChild() {
	raiseNoFile()
	mp := makeFakeMP(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(1) }, "mp1")
	hp := mp.open(0)
	np := mp.openNotify()
	fmt.Printf("READY %d %d\n", hp, np)
	io.Copy(io.Discard, os.Stdin)
}

// raiseNoFile lifts the soft open-files limit to the hard one.
func raiseNoFile() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkFleetScale(b *testing.B) {
	counts := []int{10000}
	if s := os.Getenv("PORTLAB_BENCH_CLIENTS"); s != "" {
		counts = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			counts = append(counts, n)
		}
	}
	nofile := raiseNoFile()
	for _, n := range counts {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				benchScale(b, n, nofile)
			}
		})
	}
}

func benchScale(b *testing.B, n int, nofile uint64) {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), benchMPEnv+"=1")
	stdin, _ := child.StdinPipe()
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); child.Wait() }()
	var hp, np int
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, err2 := fmt.Sscanf(line, "READY %d %d", &hp, &np); err != nil || err2 != nil {
		b.Fatalf("MP child: %q %v %v", line, err, err2)
	}

	ramp, settle, window := 10*time.Second, 5*time.Second, 15*time.Second
	cfg := filled(Config{Segment: "bench", Identities: mustPrefix("127.2.0.0/16"), Seed: 1,
		MPs:       []MP{{Name: "mp1", Addr: mustAddr("127.0.0.1")}},
		SitePorts: SitePorts{HTTP: RequestPort{Default: hp}, Notification: np},
		Duration:  Duration(ramp + settle + window + time.Second), Ramp: Duration(ramp),
		Groups: []Group{{Name: "g", Count: n, Notification: "tcp", PolicyInterval: Duration(10 * time.Second),
			KeepAlive: Duration(15 * time.Second), KeepIdle: Duration(2 * time.Second),
			ConnectTimeout: Duration(5 * time.Second)}}})
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssBytes(os.Getpid())
	f, err := NewFleet(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := f.Start(context.Background(), time.Time{}); err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	time.Sleep(ramp + settle)
	r, _ := f.Collect()
	up := r.Groups["g"].Notification["tcp"]
	runtime.GC()
	rssIdle := rssBytes(os.Getpid())
	mpRSS := rssBytes(child.Process.Pid)
	cpu0 := cpuSelf()
	time.Sleep(window)
	r, _ = f.Collect()
	cpu := cpuSelf() - cpu0
	reqs := r.Series.Attempts
	rep, err := f.Final()
	if err != nil {
		b.Fatal(err)
	}
	tot := f.Total()
	cycles := tot.CounterTotal(metrics.CCycles)
	late := tot.CounterTotal(metrics.CLateStarts)
	lat := tot.Query(metrics.Key{Metric: metrics.Latency, Op: metrics.OpPolicy, Outcome: metrics.OK})
	perClient := float64(rssIdle-rss0) / float64(n)
	b.ReportMetric(perClient/1024, "KiB-RSS/client")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(reqs, 1)), "CPU-µs/request")
	b.ReportMetric(100*float64(late)/float64(max(cycles, 1)), "%late")
	b.Logf("clients %d (nofile %d): sessions up %d; fleet RSS %d MiB -> %d MiB = %.1f KiB/client; MP child RSS %d MiB; "+
		"%d requests in %v, CPU %v = %.0f µs/request; cycles %d, late %d (%.2f%%), skipped %d; policy latency p50 %dµs p99 %dµs; managed %d, failures %v",
		n, nofile, up, rss0>>20, rssIdle>>20, perClient/1024, mpRSS>>20, reqs, window, cpu,
		float64(cpu.Microseconds())/float64(max(reqs, 1)), cycles, late, 100*float64(late)/float64(max(cycles, 1)),
		tot.CounterTotal(metrics.CSkippedBusy), lat.ValueAtQuantile(50), lat.ValueAtQuantile(99),
		rep.Groups["g"].Managed, r.Series.Failures)
}
