package wol

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestCheckDestination(t *testing.T) {
	tests := []struct {
		to   string
		want error
	}{
		{"127.0.0.1:9", nil},
		{"127.255.255.255:9", nil},
		{"198.18.0.1:9", nil},
		{"198.19.255.255:7", nil},
		{"[::ffff:198.18.16.255]:9", nil},
		{"198.17.255.255:9", ErrUnsafeDestination},
		{"198.20.0.0:9", ErrUnsafeDestination},
		{"192.168.1.255:9", ErrUnsafeDestination},
		{"255.255.255.255:9", ErrUnsafeDestination},
		{"10.0.0.1:9", ErrUnsafeDestination},
		{"[::1]:9", ErrUnsafeDestination},
		{"[ff02::1]:9", ErrUnsafeDestination},
		{"127.0.0.1:0", ErrInvalid},
	}
	for _, tt := range tests {
		err := CheckDestination(netip.MustParseAddrPort(tt.to))
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckDestination(%s) = %v, want %v", tt.to, err, tt.want)
		}
	}
}

// TestDue: the pacer is a pure function of the packet index, tested without sleeping.
func TestDue(t *testing.T) {
	tests := []struct {
		n    int
		rate float64
		want time.Duration
	}{
		{0, 1000, 0},
		{1, 1000, time.Millisecond},
		{1000, 1000, time.Second},
		{3, 2, 1500 * time.Millisecond},
		{5000, 0, 0},
		{7, -1, 0},
	}
	for _, tt := range tests {
		if got := due(tt.n, tt.rate); got != tt.want {
			t.Errorf("due(%d, %v) = %v, want %v", tt.n, tt.rate, got, tt.want)
		}
	}
}

func TestSenderRefusesBeforeSending(t *testing.T) {
	ctx := context.Background()
	good := Target{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, To: netip.MustParseAddrPort("127.0.0.1:9")}
	tests := []struct {
		name    string
		s       Sender
		targets []Target
		want    error
	}{
		{"unsafe second target", Sender{}, []Target{good, {MAC: good.MAC, To: netip.MustParseAddrPort("8.8.8.8:9")}}, ErrUnsafeDestination},
		{"short MAC", Sender{}, []Target{{MAC: net.HardwareAddr{1, 2, 3}, To: good.To}}, ErrInvalid},
		{"bad password", Sender{Password: []byte{1, 2}}, []Target{good}, ErrInvalid},
		{"negative retries", Sender{Retries: -1}, []Target{good}, ErrInvalid},
		{"negative rate", Sender{Rate: -5}, []Target{good}, ErrInvalid},
	}
	for _, tt := range tests {
		sent, err := tt.s.Send(ctx, tt.targets)
		if !errors.Is(err, tt.want) || len(sent) != 0 {
			t.Errorf("%s: Send = %d sent, %v; want none and %v", tt.name, len(sent), err, tt.want)
		}
	}
}

// TestSenderToUDPListener: every target gets 1+Retries copies, in rounds, and the
// listener decodes each with its MAC, source and destination.
func TestSenderToUDPListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := ListenUDP(ctx, netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	wakes := run(t, l)
	macs := []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"}
	var targets []Target
	for _, m := range macs {
		targets = append(targets, Target{MAC: mustMAC(t, m), To: l.Addr()})
	}
	var reported []Sent
	s := Sender{Retries: 2, Rate: 2000, Password: []byte{0xde, 0xad, 0xbe, 0xef}, Report: func(x Sent) { reported = append(reported, x) }}
	sent, err := s.Send(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 9 || len(reported) != 9 {
		t.Fatalf("sent %d, reported %d, want 9", len(sent), len(reported))
	}
	for i, x := range sent {
		if x.Attempt != i/3 || x.Target.MAC.String() != macs[i%3] || x.Bytes != BaseLen+4 || x.Err != nil {
			t.Errorf("sent[%d] = %+v", i, x)
		}
	}
	// 9 packets at 2000 pps take at least 8/2000 s.
	if d := sent[8].At.Sub(sent[0].At); d < 4*time.Millisecond {
		t.Errorf("9 packets at 2000 pps took %v, want >= 4ms", d)
	}
	// Loopback does not drop 9 datagrams into an idle socket; count each MAC's copies.
	got := map[string]int{}
	for len(got) < 3 || got[macs[0]]+got[macs[1]]+got[macs[2]] < 9 {
		w := next(t, wakes, 5*time.Second)
		got[w.Target.String()]++
		if w.Dst != l.Addr() || !w.Src.Addr().IsLoopback() || string(w.Password) != "\xde\xad\xbe\xef" {
			t.Errorf("wake %+v", w)
		}
	}
	for _, m := range macs {
		if got[m] != 3 {
			t.Errorf("%s received %d times, want 3", m, got[m])
		}
	}
	if st := l.Stats(); st.Wakes != 9 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSenderStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	targets := []Target{{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, To: netip.MustParseAddrPort("127.0.0.1:9")}}
	n := 0
	// 1 packet per second, cancelled after the first: Send must not wait for the second.
	s := Sender{Rate: 1, Retries: 100, Report: func(Sent) {
		n++
		cancel()
	}}
	start := time.Now()
	sent, err := s.Send(ctx, targets)
	if !errors.Is(err, context.Canceled) || len(sent) != 1 || n != 1 {
		t.Fatalf("Send = %d sent, %v", len(sent), err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Errorf("cancelled Send took %v", time.Since(start))
	}
}
