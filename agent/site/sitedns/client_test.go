package sitedns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestLookupMP(t *testing.T) {
	s, addr := startServer(t, testZone())
	targets, err := lookupMP(t, addr, "PS1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{FQDN: "mp1.corp.example", Port: 443, Addr: netip.MustParseAddr("198.18.1.10")},
		{FQDN: "mp2.corp.example", Port: 80, Addr: netip.MustParseAddr("198.18.1.11")},
	}
	if len(targets) != 2 || targets[0] != want[0] || targets[1] != want[1] {
		t.Errorf("targets %+v, want %+v", targets, want)
	}
	if _, err := lookupMP(t, addr, "PS9"); !errors.Is(err, ErrNoSRV) {
		t.Errorf("unknown site: %v", err)
	}
	if _, err := lookupMP(t, addr, "P"); err == nil {
		t.Error("bad site code: no error")
	}

	// Republication changes what clients read.
	z := testZone()
	z.MPs[2].HTTPPort = 8081
	if err := s.Publish(z); err != nil {
		t.Fatal(err)
	}
	if targets, err := lookupMP(t, addr, "PS2"); err != nil || len(targets) != 1 || targets[0].Port != 8081 {
		t.Errorf("after republication: %+v, %v", targets, err)
	}
	// An SRV whose target has no A record in the additional section costs an A query;
	// one with no A record at all is left out.
	if err := s.AddStatic("_mssms_mp_ps5._tcp 14400 IN SRV 0 0 80 mp1", "_mssms_mp_ps6._tcp 14400 IN SRV 0 0 80 ghost"); err != nil {
		t.Fatal(err)
	}
	if targets, err := lookupMP(t, addr, "PS5"); err != nil || len(targets) != 1 || targets[0].Addr != netip.MustParseAddr("198.18.1.10") {
		t.Errorf("ps5: %+v, %v", targets, err)
	}
	if _, err := lookupMP(t, addr, "PS6"); !errors.Is(err, ErrNoAddress) {
		t.Errorf("ps6: %v", err)
	}
}

// TestLookupMPUsesSourceAddress: the server sees the client's own source address on
// both transports (127.0.0.2 is loopback too).
func TestLookupMPUsesSourceAddress(t *testing.T) {
	z := testZone()
	for i := range 30 { // big enough to be truncated, so TCP is used as well
		z.MPs = append(z.MPs, MP{FQDN: "x" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".corp.example",
			Addr: netip.AddrFrom4([4]byte{198, 18, 5, byte(i)}), SiteCode: "PS7", HTTPPort: 80})
	}
	s := New(Options{})
	defer s.Close()
	if err := s.Publish(z); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		pc.Close()
		t.Skipf("tcp port %d taken: %v", addr.Port(), err)
	}
	sources := make(chan string, 4)
	if err := s.ServeUDP(&peekPacketConn{PacketConn: pc, seen: sources}); err != nil {
		t.Fatal(err)
	}
	if err := s.ServeTCP(&peekListener{Listener: ln, seen: sources}); err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	targets, err := LookupMP(ctx, SourceDialer(src), addr, "PS7", "corp.example")
	if err != nil || len(targets) != 30 {
		t.Fatalf("%d targets, %v", len(targets), err)
	}
	for range 2 {
		if got := <-sources; got != src.String() {
			t.Errorf("query from %s, want %s", got, src)
		}
	}
}

type peekPacketConn struct {
	net.PacketConn
	seen chan string
}

func (p *peekPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := p.PacketConn.ReadFrom(b)
	if err == nil {
		select {
		case p.seen <- a.(*net.UDPAddr).AddrPort().Addr().String():
		default:
		}
	}
	return n, a, err
}

type peekListener struct {
	net.Listener
	seen chan string
}

func (p *peekListener) Accept() (net.Conn, error) {
	c, err := p.Listener.Accept()
	if err == nil {
		select {
		case p.seen <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().String():
		default:
		}
	}
	return c, err
}

func TestLookupMPDeadline(t *testing.T) {
	// A server that never answers: the lookup ends with ctx.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = LookupMP(ctx, nil, pc.LocalAddr().(*net.UDPAddr).AddrPort(), "PS1", "corp.example")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}
