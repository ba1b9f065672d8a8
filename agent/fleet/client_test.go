package fleet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/wire"
)

// loopback identities: 127.0.0.0/8 is all local, so clients bind 127.1.x.y without root.
var loopIDs = netip.MustParsePrefix("127.1.0.0/16")

func testConfig(mp *fakeMP, site SitePorts, d time.Duration, groups ...Group) Config {
	first := 0
	for i := range groups {
		groups[i].First = first
		first += groups[i].Count
		if groups[i].Notification == "" {
			groups[i].Notification = "off"
		}
	}
	return filled(Config{Segment: "test", Identities: loopIDs, Groups: groups, MPs: []MP{mp.mp()},
		SitePorts: site, Seed: 1, Duration: Duration(d), Workers: 2})
}

func startFleet(t *testing.T, cfg Config, opt Options) *Fleet {
	t.Helper()
	f, err := NewFleet(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

// groupState collects and returns one group's state now (the collected interval's
// metrics go into the fleet's total).
func groupState(t *testing.T, f *Fleet, g string) GroupState {
	t.Helper()
	r, err := f.Collect()
	if err != nil {
		t.Fatal(err)
	}
	return r.Groups[g]
}

// The messages a client sends read back with the real codec: the windowsauth try then
// the anonymous post, the same bytes, the client's names and SMSID in them.
func TestMessageShape(t *testing.T) {
	m := newMessages("corp.example", "PS1")
	c := &client{index: 7}
	mp := &MP{Name: "mp1"}
	reqs, err := m.policy(c, mp, "GUID:ABC", false)
	if err != nil || len(reqs) != 2 || reqs[0].path != wire.PathRequestWinAuth || !reqs[0].allow401 || reqs[1].path != wire.PathRequest || !bytes.Equal(reqs[0].body, reqs[1].body) {
		t.Fatalf("policy requests %+v %v", reqs, err)
	}
	h, p, err := wire.ReadMessage(reqs[1].ctype, reqs[1].body, wire.Limits{})
	if err != nil || h.TargetEndpoint != wire.EndpointPolicy || h.SourceID != "GUID:ABC" || h.SourceHost != "CLIENT7" || !h.Compressed || h.ClientAuth.AuthSenderMachine != "CLIENT7" {
		t.Fatalf("ReadMessage: %+v %v", h, err)
	}
	if r, err := wire.ParseRequestAssignments(p); err != nil || r.ClientID != "GUID:ABC" || r.FQDN != "client7.corp.example" || r.PolicySource != "SMS:PS1" {
		t.Fatalf("RequestAssignments %+v %v", r, err)
	}
	reqs, _ = m.registration(c, mp, false)
	h, p, err = wire.ReadMessage(reqs[1].ctype, reqs[1].body, wire.Limits{})
	if r, rerr := wire.ParseRegistrationRequest(p); err != nil || rerr != nil || h.SourceID != "" || r.NetBIOSName != "CLIENT7" {
		t.Fatalf("registration %+v %+v %v %v", h, r, err, rerr)
	}
}

// Default port refused: the alternate is reached at once, and every client uses its
// own source address.
func TestFallbackRefusedIsImmediate(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	alt := mp.open(0)
	dead := freePort(t)
	site := SitePorts{HTTP: RequestPort{Default: dead, Alternate: alt}}
	g := Group{Name: "g", Count: 8, KnowsAlternate: true, PolicyInterval: Duration(300 * time.Millisecond),
		ConnectTimeout: Duration(2 * time.Second), Retries: 1}
	f := startFleet(t, testConfig(mp, site, 5*time.Second, g), Options{})
	waitFor(t, 4*time.Second, "all managed", func() bool { return groupState(t, f, "g").Managed == 8 })
	rep, err := f.Final()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Clients {
		if c.LastPort != alt || c.Fallbacks == 0 {
			t.Errorf("client %d: last port %d (want %d), fallbacks %d", c.Index, c.LastPort, alt, c.Fallbacks)
		}
	}
	tot := f.Total()
	fb := tot.Query(metrics.Key{Metric: metrics.FallbackDelay, Group: "g", Port: alt})
	if fb.TotalCount() == 0 || fb.ValueAtQuantile(99) > 200_000 {
		t.Fatalf("fallback delay p99 %d µs over %d fallbacks; want < 200ms", fb.ValueAtQuantile(99), fb.TotalCount())
	}
	if n := tot.Query(metrics.Key{Metric: metrics.Latency, Port: dead, Outcome: metrics.Refused}).TotalCount(); n == 0 {
		t.Fatal("no refused attempts recorded on the default port")
	}
	if srcs := mp.hitsOn(alt); len(srcs) != 8 {
		t.Fatalf("alternate port saw %d source addresses, want 8: %v", len(srcs), srcs)
	}
	for a := range mp.hitsOn(alt) {
		if !loopIDs.Contains(a) {
			t.Fatalf("request from %v, outside the identity range", a)
		}
	}
}

// Default port dropped: the alternate is reached after the connect timeout (per try).
func TestFallbackDroppedCostsConnectTimeout(t *testing.T) {
	for _, retries := range []int{0, 1} {
		mp := newFakeMP(t, "mp1")
		alt := mp.open(0)
		dropped := freePort(t)
		site := SitePorts{HTTP: RequestPort{Default: dropped, Alternate: alt}}
		timeout := 300 * time.Millisecond
		g := Group{Name: "g", Count: 4, KnowsAlternate: true, PolicyInterval: Duration(2 * time.Second),
			ConnectTimeout: Duration(timeout), Retries: retries}
		f := startFleet(t, testConfig(mp, site, 5*time.Second, g), Options{Dial: dropDial(dropped)})
		waitFor(t, 4*time.Second, "all managed", func() bool { return groupState(t, f, "g").Managed == 4 })
		if _, err := f.Final(); err != nil {
			t.Fatal(err)
		}
		fb := f.Total().Query(metrics.Key{Metric: metrics.FallbackDelay, Group: "g"})
		want := time.Duration(retries+1) * timeout
		lo, hi := time.Duration(fb.Min())*time.Microsecond, time.Duration(fb.Max())*time.Microsecond
		t.Logf("retries %d: fallback delay %v..%v over %d fallbacks (want ≈ %v)", retries, lo, hi, fb.TotalCount(), want)
		if fb.TotalCount() < 4 || lo < want-10*time.Millisecond || hi > want+150*time.Millisecond {
			t.Fatalf("retries %d: fallback delay %v..%v, want ≈ %v", retries, lo, hi, want)
		}
		if n := f.Total().Query(metrics.Key{Metric: metrics.Latency, Port: dropped, Outcome: metrics.Timeout}).TotalCount(); n < int64(4*(retries+1)) {
			t.Fatalf("retries %d: %d timeouts recorded on the dropped port", retries, n)
		}
	}
}

// A client that does not know the alternate goes unmanaged after N failed cycles, and
// is managed again once its port returns.
func TestUnmanagedThenRecovers(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	alt := mp.open(0)
	port := freePort(t)
	site := SitePorts{HTTP: RequestPort{Default: port, Alternate: alt}}
	g := Group{Name: "stale", Count: 6, KnowsAlternate: false, PolicyInterval: Duration(150 * time.Millisecond),
		ConnectTimeout: Duration(time.Second), Retries: 1, UnmanagedAfter: 3}
	f := startFleet(t, testConfig(mp, site, 8*time.Second, g), Options{})
	start := time.Now()
	waitFor(t, 3*time.Second, "all unmanaged", func() bool { return groupState(t, f, "stale").Unmanaged == 6 })
	if el := time.Since(start); el < 2*150*time.Millisecond {
		t.Fatalf("unmanaged after %v: sooner than 3 cycles", el)
	}
	if len(mp.hitsOn(alt)) != 0 {
		t.Fatal("a client that does not know the alternate used it")
	}
	mp.open(port)
	waitFor(t, 3*time.Second, "all managed again", func() bool { return groupState(t, f, "stale").Managed == 6 })
	rep, err := f.Final()
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Total().Counter(metrics.CManagedAgain, "stale"); n != 6 {
		t.Fatalf("managed_again %d, want 6", n)
	}
	if n := f.Total().Counter(metrics.CBecameUnmanaged, "stale"); n != 6 {
		t.Fatalf("became_unmanaged %d, want 6", n)
	}
	_ = rep
}

// Transitions are timestamped and in order: pending -> unmanaged -> managed.
func TestTransitionsTimestamped(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	port := freePort(t)
	g := Group{Name: "g", Count: 1, PolicyInterval: Duration(100 * time.Millisecond), UnmanagedAfter: 2}
	f := startFleet(t, testConfig(mp, SitePorts{HTTP: RequestPort{Default: port}}, 5*time.Second, g), Options{})
	var trans []Transition
	waitFor(t, 3*time.Second, "unmanaged", func() bool {
		r, _ := f.Collect()
		trans = append(trans, r.Transitions...)
		return r.Groups["g"].Unmanaged == 1
	})
	mp.open(port)
	waitFor(t, 3*time.Second, "managed", func() bool {
		r, _ := f.Collect()
		trans = append(trans, r.Transitions...)
		return r.Groups["g"].Managed == 1
	})
	if len(trans) != 2 || trans[0].To != "unmanaged" || trans[0].From != "pending" || trans[1].To != "managed" ||
		!trans[1].Time.After(trans[0].Time) {
		t.Fatalf("transitions %+v", trans)
	}
}

// Reconfiguring half a group mid-run: exactly that half follows.
func TestReconfigureHalfGroup(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	oldP, newP := mp.open(0), mp.open(0)
	g := Group{Name: "g", Count: 10, PolicyInterval: Duration(200 * time.Millisecond)}
	f := startFleet(t, testConfig(mp, SitePorts{HTTP: RequestPort{Default: oldP}}, 6*time.Second, g), Options{})
	waitFor(t, 3*time.Second, "all managed", func() bool { return groupState(t, f, "g").Managed == 10 })
	n, err := f.Reconfigure(Reconfigure{Group: "g", HTTPPort: newP, Fraction: 0.5, Over: Duration(300 * time.Millisecond)})
	if err != nil || n != 5 {
		t.Fatalf("reconfigure: %d clients, %v", n, err)
	}
	waitFor(t, 3*time.Second, "5 clients on the new port", func() bool { return len(mp.hitsOn(newP)) == 5 })
	time.Sleep(500 * time.Millisecond) // a few more cycles: nobody else may follow
	rep, err := f.Final()
	if err != nil {
		t.Fatal(err)
	}
	ids := Identities(f.Config())
	for _, c := range rep.Clients {
		want := oldP
		if c.Index < 5 {
			want = newP
		}
		if c.HTTPPort != want || c.LastPort != want || c.State != "managed" {
			t.Errorf("client %d: installed %d, last %d, %s; want port %d managed", c.Index, c.HTTPPort, c.LastPort, c.State, want)
		}
	}
	hits := mp.hitsOn(newP)
	for _, id := range ids {
		if (id.Index < 5) != (hits[id.Addr] > 0) {
			t.Errorf("client %d (%v): %d requests on the new port", id.Index, id.Addr, hits[id.Addr])
		}
	}
	if got := f.Total().Counter(metrics.CReconfigured, "g"); got != 5 {
		t.Fatalf("reconfigured counter %d", got)
	}
}

// Notification: TCP session up -> pushes acknowledged over it; TCP blocked -> long
// polling, pushes still delivered; push latency recorded per transport.
func TestNotification(t *testing.T) {
	for _, blocked := range []bool{false, true} {
		mp := newFakeMP(t, "mp1")
		hp := mp.open(0)
		np := freePort(t)
		if !blocked {
			np = mp.openNotify()
		}
		site := SitePorts{HTTP: RequestPort{Default: hp}, Notification: np}
		g := Group{Name: "g", Count: 5, Notification: "tcp", PolicyInterval: Duration(5 * time.Second),
			ConnectTimeout: Duration(time.Second), TCPRetry: Duration(10 * time.Second), LongPollWait: Duration(2 * time.Second)}
		f := startFleet(t, testConfig(mp, site, 8*time.Second, g), Options{})
		want := "tcp"
		if blocked {
			want = "http"
		}
		waitFor(t, 4*time.Second, "notification channel up: "+want, func() bool {
			return groupState(t, f, "g").Notification[want] == 5
		})
		if !blocked {
			waitFor(t, 2*time.Second, "logins", func() bool { return mp.logins.Load() == 5 })
		}
		time.Sleep(100 * time.Millisecond) // the last long polls reach the MP
		mp.push(1)
		waitFor(t, 3*time.Second, "5 acks", func() bool { return mp.ackCount(1) == 5 })
		if _, err := f.Final(); err != nil {
			t.Fatal(err)
		}
		tot := f.Total()
		pl := tot.Query(metrics.Key{Metric: metrics.PushLatency, Transport: want})
		t.Logf("blocked=%v: push latency p50 %dµs max %dµs over %d", blocked, pl.ValueAtQuantile(50), pl.Max(), pl.TotalCount())
		if pl.TotalCount() != 5 || pl.Max() > 2_000_000 {
			t.Fatalf("blocked=%v: push latency over %s: count %d max %dµs", blocked, want, pl.TotalCount(), pl.Max())
		}
		// Each push runs a policy request: 5 initial cycles + 5 pushed ones at least.
		if n := tot.Query(metrics.Key{Metric: metrics.Latency, Op: metrics.OpPolicy, Outcome: metrics.OK}).TotalCount(); n < 10 {
			t.Fatalf("blocked=%v: %d policy requests, want >= 10", blocked, n)
		}
		if blocked && tot.Query(metrics.Key{Metric: metrics.Latency, Op: metrics.OpLongPoll}).TotalCount() == 0 {
			t.Fatal("no long polls recorded")
		}
	}
}

// Sleeping clients send nothing; woken, they run location and policy and record the
// time to managed from the wake-up's send time.
func TestSleepAndWake(t *testing.T) {
	mp := newFakeMP(t, "mp1")
	hp := mp.open(0)
	g := Group{Name: "sleepy", Count: 4, Asleep: true, PolicyInterval: Duration(200 * time.Millisecond)}
	f := startFleet(t, testConfig(mp, SitePorts{HTTP: RequestPort{Default: hp}}, 5*time.Second, g), Options{})
	time.Sleep(400 * time.Millisecond)
	if len(mp.hitsOn(hp)) != 0 {
		t.Fatal("a sleeping client sent a request")
	}
	sent := time.Now().Add(-50 * time.Millisecond)
	n, err := f.Wake(Selector{MACs: []string{MACFor(1).String(), MACFor(2).String()}}, sent)
	if err != nil || n != 2 {
		t.Fatalf("wake: %d %v", n, err)
	}
	waitFor(t, 3*time.Second, "2 managed", func() bool { return groupState(t, f, "sleepy").Managed == 2 })
	st := groupState(t, f, "sleepy")
	if st.Asleep != 2 {
		t.Fatalf("state %+v", st)
	}
	f.Final()
	ttm := f.Total().Query(metrics.Key{Metric: metrics.TimeToManaged, Group: "sleepy"})
	if ttm.TotalCount() != 2 || ttm.Min() < 50_000 {
		t.Fatalf("time to managed: %d values, min %dµs", ttm.TotalCount(), ttm.Min())
	}
	// Location ran on waking.
	if tot := f.Total().Query(metrics.Key{Metric: metrics.Latency, Op: metrics.OpLocation}).TotalCount(); tot != 2 {
		t.Fatalf("%d location requests, want 2", tot)
	}
}

// A request still waiting for its answer when the run ends is cut short by the run, not
// failed by the port: the connection's deadline is clipped to the run's, so the read
// can time out a moment before the context marks itself done, and that must not count
// as a timeout (bench-peers found every fleet "timeout" in a run's last second).
func TestExchangeRunOverIsNotATimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and never answer
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	mp := MP{Name: "mp1", Addr: ap.Addr()}
	cfg := filled(Config{Segment: "test", Identities: loopIDs, MPs: []MP{mp}, Seed: 1, Duration: Duration(time.Minute), Workers: 1,
		SitePorts: SitePorts{HTTP: RequestPort{Default: int(ap.Port())}},
		Groups:    []Group{{Name: "g", Count: 1, Notification: "off", RequestTimeout: Duration(10 * time.Second), Retries: 2}}})
	f, err := NewFleet(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		res := &cycleResult{}
		_, err := f.exchange(ctx, f.clients[0], res, metrics.OpLocation, mp, int(ap.Port()), 0, []request{mplist}, time.Time{})
		cancel()
		if !errors.Is(err, errRunOver) {
			t.Fatalf("exchange ended with %v, want errRunOver", err)
		}
		for _, a := range res.attempts {
			t.Errorf("attempt recorded as %s on port %d; a run that ends is nobody's failure", a.outcome, a.port)
		}
	}
}
