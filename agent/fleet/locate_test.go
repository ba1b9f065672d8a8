package fleet

import (
	"testing"
	"time"

	"github.com/portlab/portlab/agent/site/directory"
)

// The location state machine on a fake clock: offsets from the run's start, no sleeping.

func rulesFor(m string) locRules {
	g := Group{Membership: m}
	if err := g.normalizeLocation(); err != nil {
		panic(err)
	}
	return g.rules()
}

func TestLocationRefresh(t *testing.T) {
	r := rulesFor("domain")
	var s locState
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	if got := r.next(&s, false, 0); got != locStart {
		t.Fatalf("a new client: %v, want start", got)
	}
	r.located(&s, sec(1.5))
	for _, at := range []float64{1.5, 10, 31.4} {
		if got := r.next(&s, true, sec(at)); got != locNone {
			t.Errorf("located at 1.5s, at %gs: %v, want none before the 30s refresh", at, got)
		}
	}
	if got := r.next(&s, true, sec(31.5)); got != locRefresh {
		t.Errorf("at 31.5s: %v, want refresh (30s after 1.5s)", got)
	}
	r.located(&s, sec(32))
	if got := r.next(&s, true, sec(61)); got != locNone {
		t.Errorf("refreshed at 32s, at 61s: %v, want none", got)
	}
	if got := r.next(&s, true, sec(62)); got != locRefresh {
		t.Errorf("at 62s: %v, want the second refresh", got)
	}
	// A client that lost its MP (became unmanaged) locates again at once.
	if got := r.next(&s, false, sec(40)); got != locLost {
		t.Errorf("not located after a first location: %v, want lost", got)
	}
	// Without a membership: the MP list once, never a refresh.
	n := rulesFor("")
	var ns locState
	n.located(&ns, 0)
	if got := n.next(&ns, true, time.Hour); got != locNone {
		t.Errorf("no membership, an hour later: %v, want none", got)
	}
	if ad, dns := n.sources(locStart); ad || dns {
		t.Errorf("no membership: sources ad=%v dns=%v, want the MP list only", ad, dns)
	}
}

func TestLocationFailover(t *testing.T) {
	r := rulesFor("workgroup") // 5 failures within 20s
	var s locState
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// Four failed attempts, then a success: the count starts again.
	for i := range 4 {
		if r.cycleEnded(&s, ms(1000*i), 1, false) {
			t.Fatalf("failover after %d failures", i+1)
		}
	}
	r.cycleEnded(&s, ms(4500), 0, true)
	for i := range 4 {
		if r.cycleEnded(&s, ms(5000+1000*i), 1, false) {
			t.Fatalf("after a success: failover at failure %d", i+1)
		}
	}
	if !r.cycleEnded(&s, ms(9000), 1, false) {
		t.Fatal("five failed attempts in 4s: no failover")
	}
	if got := r.next(&s, true, ms(9100)); got != locFailover {
		t.Fatalf("after failover: %v, want failover", got)
	}
	r.located(&s, ms(9200))
	if got := r.next(&s, true, ms(9300)); got != locNone {
		t.Fatalf("after the failover's location: %v, want none", got)
	}
	// Failures further apart than the window never add up to a failover.
	var slow locState
	for i := range 20 {
		if r.cycleEnded(&slow, time.Duration(i)*6*time.Second, 1, false) {
			t.Fatalf("one failure every 6s: failover at %d (window 20s, 5 failures)", i)
		}
	}
	// One cycle with several failed attempts (retries, the alternate) counts each.
	var burst locState
	if r.cycleEnded(&burst, 0, 4, false) || !r.cycleEnded(&burst, time.Second, 1, false) {
		t.Fatal("4 then 1 failed attempts within a second: want failover at the fifth")
	}
	// A workgroup client never re-reads AD DS; a domain client does after a failed cycle.
	if s.reread {
		t.Error("workgroup client marked to re-read AD DS")
	}
	d := rulesFor("domain")
	var ds locState
	d.located(&ds, 0)
	d.cycleEnded(&ds, time.Second, 1, false)
	if got := d.next(&ds, true, 2*time.Second); got != locReread {
		t.Errorf("domain client after its port failed: %v, want reread", got)
	}
	if ad, _ := d.sources(locReread); !ad {
		t.Error("reread without AD DS")
	}
}

func TestLocationSourcesByMembership(t *testing.T) {
	for _, tc := range []struct {
		m       string
		ad, dns bool
	}{
		{"domain", true, true},
		{"other-forest", false, true},
		{"workgroup", false, true},
		{"internet", false, false},
		{"", false, false},
	} {
		r := rulesFor(tc.m)
		for _, reason := range []locReason{locStart, locRefresh, locFailover, locLost} {
			if ad, dns := r.sources(reason); ad != tc.ad || dns != tc.dns {
				t.Errorf("%q %v: ad=%v dns=%v, want %v %v", tc.m, reason, ad, dns, tc.ad, tc.dns)
			}
		}
		if ad, dns := r.sources(locNone); ad || dns {
			t.Errorf("%q: sources without a location", tc.m)
		}
	}
	if err := (&Group{Membership: "domian"}).normalizeLocation(); err == nil {
		t.Error("unknown membership accepted")
	}
}

func TestAdoptPorts(t *testing.T) {
	// AD DS publishes 8080/443: an HTTP client installed with 80 takes 8080, learned from AD.
	got, src := adopt([2]int{80, 443}, srcInstall, [2]int{8080, 443}, srcAD, false)
	if got != [2]int{8080, 443} || src != srcAD {
		t.Errorf("adopt: %v %v", got, src)
	}
	// The same ports again: nothing learned, the source stays.
	got, src = adopt([2]int{8080, 443}, srcPush, [2]int{8080, 443}, srcAD, false)
	if got != [2]int{8080, 443} || src != srcPush {
		t.Errorf("unchanged ports: %v %v, want the push source kept", got, src)
	}
	// An HTTPS client learns from the HTTPS port only; a zero port changes nothing.
	got, src = adopt([2]int{80, 443}, srcInstall, [2]int{8080, 0}, srcDNS, true)
	if got != [2]int{8080, 443} || src != srcInstall {
		t.Errorf("https client: %v %v", got, src)
	}
	if p, a := publishedFor(directoryPorts(8080, 8081, 443, 0), false, true); p != 8080 || a != 8081 {
		t.Errorf("published http: %d/%d", p, a)
	}
	if p, a := publishedFor(directoryPorts(8080, 8081, 443, 0), false, false); p != 8080 || a != 0 {
		t.Errorf("published http, no alternate known: %d/%d", p, a)
	}
}

func TestFollowMark(t *testing.T) {
	f := &Fleet{}
	now := time.Unix(100, 0)
	base := SitePorts{HTTP: RequestPort{Default: 80}, HTTPS: RequestPort{Default: 443}, Notification: 10123}
	m := f.siteChanged(base, base, now, followMark{})
	if m.gen != 0 {
		t.Fatalf("no change: mark %+v", m)
	}
	moved := base
	moved.HTTP.Default = 8080
	m = f.siteChanged(base, moved, now, m)
	if m.gen != 1 || m.http != 8080 || m.https != 0 || !m.at.Equal(now) {
		t.Fatalf("http moved: mark %+v", m)
	}
	alt := moved
	alt.HTTP.Alternate = 8081
	if m2 := f.siteChanged(moved, alt, now.Add(time.Second), m); m2 != m {
		t.Fatalf("an alternate change is no change to follow: %+v", m2)
	}
}

func directoryPorts(h, ha, s, sa uint16) directory.Ports {
	return directory.Ports{HTTP: h, HTTPAlternate: ha, HTTPS: s, HTTPSAlternate: sa}
}
