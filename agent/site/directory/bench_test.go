package directory

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// BenchmarkLookup is one client's whole AD service location on loopback: dial, bind,
// RootDSE, site and MP searches, unbind, with the server in the same process (so the
// figures hold both sides' cost). The fleet needs ~1,000 of these a second.
func BenchmarkLookup(b *testing.B) {
	_, addr, _ := startServer(b, testPublication())
	ctx := context.Background()
	var d net.Dialer
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.DialContext(ctx, "tcp", addr.String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Lookup(ctx, c, "corp.example", "PS1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupParallel runs lookups from GOMAXPROCS goroutines at once.
func BenchmarkLookupParallel(b *testing.B) {
	_, addr, _ := startServer(b, testPublication())
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d net.Dialer
		for pb.Next() {
			c, err := d.DialContext(ctx, "tcp", addr.String())
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := Lookup(ctx, c, "corp.example", "PS1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParseFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseFilter("(&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode=PS1))"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupClient is the client's share alone: the answers are a recording of
// the real server's, split per request once and written back by a fake server that
// only frames the requests, over loopback TCP.
func BenchmarkLookupClient(b *testing.B) { benchClient(b, Lookup) }

// benchClient measures lookup's client share against recorded answers.
func benchClient(b *testing.B, lookup lookupFunc) {
	srv, addr, _ := startServer(b, testPublication())
	rc := &recordingConn{Conn: dial(b, addr)}
	if _, err := lookup(context.Background(), rc, "corp.example", "PS1"); err != nil {
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
		if _, err := lookup(ctx, c, "corp.example", "PS1"); err != nil {
			b.Fatal(err)
		}
	}
}

// splitAnswers cuts a recorded answer stream after each bind response and search-done.
func splitAnswers(tb testing.TB, stream []byte) [][]byte {
	var out [][]byte
	r := bytes.NewReader(stream)
	start := 0
	for r.Len() > 0 {
		p, err := ber.ReadPacket(r)
		if err != nil {
			tb.Fatal(err)
		}
		if tag := p.Children[1].Tag; tag == 1 || tag == 5 {
			end := len(stream) - r.Len()
			out = append(out, stream[start:end])
			start = end
		}
	}
	return out
}

// chunkServer reads one request (BER framing only) per chunk and writes the chunk.
func chunkServer(c net.Conn, chunks [][]byte) {
	defer c.Close()
	br := bufio.NewReader(c)
	buf := make([]byte, 4096)
	for _, chunk := range chunks {
		if _, err := br.ReadByte(); err != nil { // tag
			return
		}
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		length := int(n)
		if n&0x80 != 0 {
			length = 0
			for range int(n & 0x7f) {
				x, err := br.ReadByte()
				if err != nil {
					return
				}
				length = length<<8 | int(x)
			}
		}
		if length > len(buf) {
			return
		}
		if _, err := io.ReadFull(br, buf[:length]); err != nil {
			return
		}
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
	_, _ = io.Copy(io.Discard, br) // the unbind, then EOF
}
