package directory

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// LookupMPs reads what Lookup reads of the MPs and their ports, in two round trips, and
// reports a removed publication and a site without MPs the same way.
func TestLookupMPs(t *testing.T) {
	s, ldapAddr, gcAddr := startServer(t, testPublication())
	for _, addr := range []netip.AddrPort{ldapAddr, gcAddr} {
		full, err := lookup(t, addr, "corp.example", "PS1")
		if err != nil {
			t.Fatal(err)
		}
		light, err := LookupMPs(context.Background(), dial(t, addr), "corp.example", "ps1")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if light.Ports != full.Ports || len(light.MPs) != len(full.MPs) || light.MPs[0] != full.MPs[0] || light.MPs[1] != full.MPs[1] || light.SiteCode != "PS1" {
			t.Errorf("%s: LookupMPs %+v, Lookup %+v", addr, light, full)
		}
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp.example", "XYZ"); !errors.Is(err, ErrNoMP) {
		t.Errorf("site without MPs: %v", err)
	}
	pub := testPublication()
	pub.Enabled = false
	if err := s.Publish(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp.example", "PS1"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("publication removed: %v", err)
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp..example", "PS1"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad domain: %v", err)
	}
	st := s.Stats()
	if st[1].RootDSE != 1 { // only the one full Lookup read the RootDSE on the GC
		t.Errorf("global catalog RootDSE reads %d, want 1", st[1].RootDSE)
	}
}

func BenchmarkLookupMPs(b *testing.B) {
	_, addr, _ := startServer(b, testPublication())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LookupMPs(ctx, dial(b, addr), "corp.example", "PS1"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzLookupMPsAnswers: LookupMPs's own LDAP reader takes any answer stream without
// panicking or hanging, and what it returns is well formed. The seeds are a real
// server's answers.
func FuzzLookupMPsAnswers(f *testing.F) {
	srv, addr, _ := startServer(f, testPublication())
	rc := &recordingConn{Conn: dial(f, addr)}
	if _, err := LookupMPs(context.Background(), rc, "corp.example", "PS1"); err != nil {
		f.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		f.Fatal(err)
	}
	rec := rc.recorded()
	f.Add(rec)
	f.Add(rec[:len(rec)/2])
	f.Add([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 64<<10 {
			return
		}
		client, server := net.Pipe()
		go replayServer(server, stream)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		res, err := LookupMPs(ctx, client, "corp.example", "PS1")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("lookup took %v, past its deadline", d)
		}
		if err != nil {
			return
		}
		if len(res.MPs) == 0 {
			t.Fatal("success without MPs")
		}
		for _, m := range res.MPs {
			if _, err := normalizeDomain(m.FQDN); err != nil {
				t.Fatalf("returned MP with bad FQDN %q", m.FQDN)
			}
			if !m.HasPorts && !m.Ports.IsZero() {
				t.Fatalf("ports without element: %+v", m)
			}
		}
	})
}

// BenchmarkLookupMPsClient is the client's share alone, against recorded answers (as
// BenchmarkLookupClient for Lookup).
func BenchmarkLookupMPsClient(b *testing.B) {
	srv, addr, _ := startServer(b, testPublication())
	rc := &recordingConn{Conn: dial(b, addr)}
	if _, err := LookupMPs(context.Background(), rc, "corp.example", "PS1"); err != nil {
		b.Fatal(err)
	}
	_ = srv.Close()
	chunks := splitAnswers(b, rc.recorded())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go chunkServer(c, chunks)
		}
	}()
	ctx := context.Background()
	var d net.Dialer
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := LookupMPs(ctx, c, "corp.example", "PS1"); err != nil {
			b.Fatal(err)
		}
	}
}
