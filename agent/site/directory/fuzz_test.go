package directory

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// FuzzParseCapabilities: the client's reader of mSSMSCapabilities takes any value.
func FuzzParseCapabilities(f *testing.F) {
	n, err := testPublication().normalize()
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range n.MPs {
		f.Add(mpCapabilities(m, "PS1").String())
	}
	f.Add(`<ClientOperationalSettings><CCM CommandLine="SMSSITECODE=PS1"/><FSP><FSPServer>a</FSPServer></FSP></ClientOperationalSettings>`)
	f.Add(`<ClientOperationalSettings><IISPorts HTTP="65536"/></ClientOperationalSettings>`)
	f.Add(`<Capabilities SchemaVersion="1.0"><Property Name="SSLState" Value="0"/></Capabilities>`)
	f.Add("<")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2*MaxCapabilitiesLen {
			return
		}
		c, err := ParseCapabilities(s)
		if err != nil {
			if !errors.Is(err, ErrBadCapabilities) {
				t.Fatalf("error %v does not wrap ErrBadCapabilities", err)
			}
			return
		}
		if len(s) > MaxCapabilitiesLen {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if !c.HasPorts && !c.Ports.IsZero() {
			t.Fatalf("ports %+v without the element", c.Ports)
		}
		// What was read renders and reads back the same.
		back, err := ParseCapabilities(c.String())
		if err != nil {
			t.Fatalf("re-reading %q: %v", c.String(), err)
		}
		if back.Ports != c.Ports || back.HasPorts != c.HasPorts || back.SecurityModeMaskEx != c.SecurityModeMaskEx {
			t.Fatalf("round trip %+v → %+v", c, back)
		}
	})
}

// recordingConn keeps what the client read. go-ldap's reader goroutine can still be
// in Read for a moment after Lookup returned, hence the lock.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.got.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recordingConn) recorded() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.got.Bytes())
}

// replayServer answers each request the client sends with the next LDAP messages of
// stream, up to and including the next bind response or search-done (or the rest of
// stream once it no longer decodes). It closes when stream runs out, and as soon as an
// answer does not end with a result for the request's message ID: the client would
// wait for one until its deadline.
func replayServer(conn net.Conn, stream []byte) {
	defer conn.Close()
	r := bytes.NewReader(stream)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		req, err := ber.ReadPacket(conn)
		if err != nil || len(req.Children) < 2 || req.Children[1].Tag == 2 { // unbind
			return
		}
		answered := false
		for !answered {
			if r.Len() == 0 {
				return
			}
			start := len(stream) - r.Len()
			p, err := ber.ReadPacket(r)
			if err != nil {
				_, _ = conn.Write(stream[start:])
				return
			}
			if _, err := conn.Write(stream[start : len(stream)-r.Len()]); err != nil {
				return
			}
			if len(p.Children) >= 2 && (p.Children[1].Tag == 1 || p.Children[1].Tag == 5) {
				if p.Children[0].Value != req.Children[0].Value {
					return
				}
				answered = true
			}
		}
	}
}

// FuzzLookupAnswers: Lookup reads any answer stream without panicking or hanging, and
// what it returns is well formed. The seed is a real server's answers to a lookup.
func FuzzLookupAnswers(f *testing.F) { fuzzAnswers(f, Lookup) }

// lookupFunc is Lookup or LookupMPs.
type lookupFunc func(ctx context.Context, conn net.Conn, domain, siteCode string) (Result, error)

// fuzzAnswers feeds lookup any answer stream, seeded with a real server's answers, and
// checks it neither panics nor hangs and that what it returns is well formed.
func fuzzAnswers(f *testing.F, lookup lookupFunc) {
	srv, addr, _ := startServer(f, testPublication())
	rc := &recordingConn{Conn: dial(f, addr)}
	if _, err := lookup(context.Background(), rc, "corp.example", "PS1"); err != nil {
		f.Fatal(err)
	}
	// The server's goroutines would make coverage vary from run to run of one input,
	// which sends the fuzzer minimizing "new" inputs; the recording is all it is for.
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
		res, err := lookup(ctx, client, "corp.example", "PS1")
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

// TestMutatedRequests sends the requests of a real lookup with bytes flipped, cut and
// dropped (a fixed seed, so every run sends the same), each followed by an unbind and the end of the stream, and
// checks the server survives all of them and still answers.
func TestMutatedRequests(t *testing.T) {
	s, addr, _ := startServer(t, testPublication())
	rec := &recordingWriteConn{Conn: dial(t, addr)}
	if _, err := Lookup(context.Background(), rec, "corp.example", "PS1"); err != nil {
		t.Fatal(err)
	}
	seed := rec.recorded()
	unbind := []byte{0x30, 0x05, 0x02, 0x01, 0x7f, 0x42, 0x00}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), seed...)
		for range 1 + r.IntN(4) {
			switch j := r.IntN(len(b)); r.IntN(3) {
			case 0:
				b[j] = byte(r.IntN(256))
			case 1:
				b = b[:j+1]
			default:
				b = append(b[:j], b[j+1:]...)
			}
		}
		c := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write(append(b, unbind...))
		_ = c.(*net.TCPConn).CloseWrite() // a message cut short ends at EOF, not at the deadline
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	if _, err := lookup(t, addr, "corp.example", "PS1"); err != nil {
		t.Fatalf("after mutated requests: %v", err)
	}
	st := s.Stats()[0]
	t.Logf("after 300 mutated requests: %+v", st)
	if st.Malformed == 0 || st.Errors == 0 {
		t.Errorf("nothing counted: %+v", st)
	}
}

type recordingWriteConn struct {
	net.Conn
	mu   sync.Mutex
	sent bytes.Buffer
}

func (c *recordingWriteConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.sent.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *recordingWriteConn) recorded() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.sent.Bytes())
}
