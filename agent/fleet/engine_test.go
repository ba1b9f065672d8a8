package fleet

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/metrics"
)

func planConfig(seed int64) Config {
	cfg := filled(Config{Identities: loopIDs, MPs: []MP{{Name: "mp1", Addr: loopIDs.Addr()}}, Seed: seed,
		Duration: Duration(time.Minute), Ramp: Duration(5 * time.Second),
		Groups: []Group{{Name: "a", Count: 50, PolicyInterval: Duration(10 * time.Second)},
			{Name: "b", First: 50, Count: 50, PolicyInterval: Duration(3 * time.Second), Jitter: 0.3}}})
	if err := cfg.Normalize(); err != nil {
		panic(err)
	}
	return cfg
}

// Same seed, same schedule; another seed, another schedule. No sleeping: the plan is a
// pure function.
func TestDeterministicSchedule(t *testing.T) {
	a, b, c := PlanPolicy(planConfig(1), 20), PlanPolicy(planConfig(1), 20), PlanPolicy(planConfig(2), 20)
	if len(a) != 100 {
		t.Fatalf("%d clients planned", len(a))
	}
	same, differ := true, false
	for i := range a {
		same = same && slices.Equal(a[i], b[i])
		differ = differ || !slices.Equal(a[i], c[i])
		for k := 1; k < len(a[i]); k++ {
			if a[i][k] <= a[i][k-1] {
				t.Fatalf("client %d: cycle %d at %v not after %v", i, k, a[i][k], a[i][k-1])
			}
		}
	}
	if !same || !differ {
		t.Fatalf("same seed equal: %v; other seed differs: %v", same, differ)
	}
	// The ramp spreads first cycles over 5s; the rate stays the interval's.
	if a[0][0] > 10*time.Second/10 || a[99][0] < 4*time.Second {
		t.Fatalf("first cycles %v .. %v", a[0][0], a[99][0])
	}
	if span := a[0][19] - a[0][0]; span < 189*time.Second || span > 191*time.Second {
		t.Fatalf("19 intervals of 10s span %v", span)
	}
	p := Pacer{Base: time.Second, Interval: time.Second, Jitter: 0.4, Seed: 7, Client: 3, Stream: streamPolicy}
	for _, at := range []time.Duration{0, 1500 * time.Millisecond, 7 * time.Second, 7*time.Second + 1} {
		k := p.Next(at)
		if p.Due(k) < at || (k > 0 && p.Due(k-1) >= at) {
			t.Fatalf("Next(%v) = %d: due %v, previous %v", at, k, p.Due(k), p.Due(k-1))
		}
	}
	first, again := GUIDFor(1, 5), GUIDFor(1, 5) // deterministic, and distinct per client
	if MACFor(258).String() != "02:50:00:00:01:02" || first != again || first == GUIDFor(1, 6) {
		t.Fatal("identity derivation")
	}
}

// Coordinated omission: one client planned at 100 requests/s for 10 s; the MP stalls
// for 1 s in the middle. The ~100 requests planned during the stall start late, when
// the MP answers again. Measured from their intended start their latencies spread
// evenly over 0..1 s, so 10% of the run's requests lie in 0..1s and the analytic p99 is
// ≈ 900 ms; measured from the actual start (what a closed-loop tool reports) only the
// one request caught in the stall is slow, and the p99 stays at a few ms.
func TestCoordinatedOmission(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s run")
	}
	mp := newFakeMP(t, "mp1")
	hp := mp.open(0)
	g := Group{Name: "co", Count: 1, PolicyInterval: Duration(10 * time.Millisecond), Backlog: 1000, Jitter: 0.01}
	cfg := testConfig(mp, SitePorts{HTTP: RequestPort{Default: hp}}, 10*time.Second, g)
	f, err := NewFleet(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	mp.stallFrom.Store(t0.Add(5 * time.Second).UnixNano())
	mp.stallTo.Store(t0.Add(6 * time.Second).UnixNano())
	if err := f.Start(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	<-f.Done()
	if _, err := f.Final(); err != nil {
		t.Fatal(err)
	}
	tot := f.Total()
	k := metrics.Key{Op: metrics.OpPolicy, Outcome: metrics.OK, Group: "co"}
	k.Metric = metrics.Latency
	lat := tot.Query(k)
	k.Metric = metrics.Service
	svc := tot.Query(k)
	ms := func(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
	t.Logf("requests %d; latency from intended start p50 %v p99 %v max %v; service time p50 %v p99 %v max %v; late %d skipped %d",
		lat.TotalCount(), ms(lat.ValueAtQuantile(50)), ms(lat.ValueAtQuantile(99)), ms(lat.Max()),
		ms(svc.ValueAtQuantile(50)), ms(svc.ValueAtQuantile(99)), ms(svc.Max()),
		tot.CounterTotal(metrics.CLateStarts), tot.CounterTotal(metrics.CSkippedBusy))
	if n := lat.TotalCount(); n < 900 {
		t.Fatalf("only %d policy requests in 10 s at 100/s", n)
	}
	if p99 := ms(lat.ValueAtQuantile(99)); p99 < 600*time.Millisecond || p99 > 1100*time.Millisecond {
		t.Fatalf("latency p99 %v, want near the analytic 900ms", p99)
	}
	if p99 := ms(svc.ValueAtQuantile(99)); p99 > 100*time.Millisecond {
		t.Fatalf("service time p99 %v, want low (only one request met the stall)", p99)
	}
	if svc.Max() < 800_000 {
		t.Fatalf("service max %v: the stalled request should show it", ms(svc.Max()))
	}
}

// The agent: config -> ready, start, snapshots each second, a command, and closing stdin
// ends everything within a second with a final report.
func TestAgentProtocol(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	hp := mp.open(0)
	cfg := testConfig(mp, SitePorts{HTTP: RequestPort{Default: hp}}, 30*time.Second,
		Group{Name: "g", Count: 20, PolicyInterval: Duration(300 * time.Millisecond)},
		Group{Name: "z", Count: 3, Asleep: true, PolicyInterval: Duration(300 * time.Millisecond)})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- agent.Serve(context.Background(), inR, outW, slog.New(slog.DiscardHandler), &Agent{})
		outW.Close()
	}()
	w, r := agent.NewWriter(inW), agent.NewReader(outR)
	send := func(cmd string, id uint64, args any) {
		b, _ := json.Marshal(args)
		if err := w.Write(agent.Command{Cmd: cmd, ID: id, Args: b}); err != nil {
			t.Fatal(err)
		}
	}
	next := func(typ string) agent.Message {
		t.Helper()
		for {
			var m agent.Message
			if err := r.Next(&m); err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			if m.Type == agent.TypeError {
				t.Fatalf("agent error: %s", m.Error)
			}
			if m.Type == typ {
				return m
			}
		}
	}
	send(CmdConfig, 1, cfg)
	var ready ReadyData
	json.Unmarshal(next(agent.TypeReady).Data, &ready)
	if ready.Clients != 23 {
		t.Fatalf("ready %+v", ready)
	}
	send(CmdStart, 2, nil)
	next(agent.TypeAck)
	var rep Report
	json.Unmarshal(next(agent.TypeSnapshot).Data, &rep)
	if rep.Groups["z"].Asleep != 3 || rep.Groups["g"].Clients != 20 {
		t.Fatalf("snapshot groups %+v", rep.Groups)
	}
	send(CmdWake, 3, WakeArgs{Selector: Selector{Group: "z"}, SentNS: time.Now().UnixNano()})
	var cnt agent.Count
	json.Unmarshal(next(agent.TypeAck).Data, &cnt)
	if cnt.Clients != 3 {
		t.Fatalf("woke %d", cnt.Clients)
	}
	snaps, _ := metrics.Decode(rep.Snapshot)
	for range 2 {
		var s Report
		json.Unmarshal(next(agent.TypeSnapshot).Data, &s)
		if err := snaps.AddSnapshot(s.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	closed := time.Now()
	inW.Close()
	var final Report
	json.Unmarshal(next(agent.TypeFinal).Data, &final)
	if err := <-errc; err != nil {
		t.Fatalf("agent: %v", err)
	}
	if el := time.Since(closed); el > time.Second {
		t.Fatalf("agent took %v to stop after stdin closed", el)
	}
	if len(final.Clients) != 23 || final.Groups["g"].Managed != 20 || final.Groups["z"].Managed != 3 {
		t.Fatalf("final: %d clients, groups %+v", len(final.Clients), final.Groups)
	}
	// The final histograms hold at least what the streamed intervals did.
	fin, err := metrics.Decode(final.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	q := metrics.Key{Metric: metrics.Latency}
	if fin.Query(q).TotalCount() < snaps.Query(q).TotalCount() || snaps.Query(q).TotalCount() == 0 {
		t.Fatalf("final %d requests, streamed %d", fin.Query(q).TotalCount(), snaps.Query(q).TotalCount())
	}
}

// Every group is spread over the whole ramp, interleaved with the others: the second
// group of the file does not wait for the first to have started (the comparison of two
// side-by-side groups would otherwise favour the one that came online later).
func TestRampInterleavesGroups(t *testing.T) {
	for _, rampOf := range []int{0, 100} {
		cfg := planConfig(1)
		cfg.RampOf = rampOf
		starts := map[string][]time.Duration{}
		ord := 0
		for gi := range cfg.Groups {
			g := &cfg.Groups[gi]
			for j := range g.Count {
				p := policyPacer(cfg, g, g.First+j, ord, 100, 0, 0)
				starts[g.Name] = append(starts[g.Name], p.Base)
				ord++
			}
		}
		ramp := cfg.Ramp.D()
		for name, s := range starts {
			if !slices.IsSorted(s) || s[0] >= ramp/10 || s[len(s)-1] < ramp*9/10 || s[len(s)-1] >= ramp {
				t.Fatalf("ramp_of %d: group %s starts %v .. %v, want spread over [0, %v)", rampOf, name, s[0], s[len(s)-1], ramp)
			}
		}
		// Interleaved, not coincident: b's k-th start falls after a's k-th and before a's (k+1)-th.
		a, b := starts["a"], starts["b"]
		for k := range len(a) - 1 {
			if !(a[k] < b[k] && b[k] < a[k+1]) {
				t.Fatalf("ramp_of %d: start %d: a %v, b %v, a next %v", rampOf, k, a[k], b[k], a[k+1])
			}
		}
	}
}
