package mp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// TestSlowHeaderCutOff: a client that never finishes its headers is disconnected after
// ReadHeaderTimeout, and another client is served meanwhile.
func TestSlowHeaderCutOff(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Limits.ReadHeaderTimeout = Duration(200 * time.Millisecond) })
	slow, err := net.Dial("tcp", s.Addrs().HTTP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /SMS_MP/.sms_aut?MPLIST HTTP/1.1\r\nHost: mp1\r\nX-Slow: ")
	if a := do(t, client(s), "GET", mplistURL(s, RoleHTTP), "", nil); a.status != 200 {
		t.Fatalf("other client: %d", a.status)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(slow)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("slow-header client still connected after 10s")
	}
	// net/http may answer 408 before closing; either way the connection is gone.
	if len(b) > 0 && !bytes.Contains(b, []byte("408")) {
		t.Fatalf("slow client got %q", b)
	}
}

// TestBodyLimits: a 10 MiB body is refused with 413, announced or chunked; a malformed
// multipart body gets 400.
func TestBodyLimits(t *testing.T) {
	s := startServer(t, nil)
	c := client(s)
	big := bytes.Repeat([]byte("x"), 10<<20)
	for _, r := range []Role{RoleHTTP, RoleHTTPS} {
		if a := do(t, c, wire.MethodCCMPost, baseURL(s, r)+wire.PathRequest, wire.ContentTypeMsg+"; boundary=x", big); a.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s 10 MiB with length: %d", r, a.status)
		}
		req, _ := http.NewRequest(wire.MethodCCMPost, baseURL(s, r)+wire.PathRequest, io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1 // chunked
		req.Header.Set("Content-Type", wire.ContentTypeMsg+"; boundary=x")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s chunked 10 MiB: %d", r, resp.StatusCode)
			}
		} // the MP may close while the client still writes: also a refusal
		if a := do(t, c, wire.MethodCCMPost, baseURL(s, r)+wire.PathRequest, wire.ContentTypeMsg+"; boundary=x", []byte("--x\r\nnot a part")); a.status != 400 {
			t.Fatalf("%s malformed multipart: %d", r, a.status)
		}
	}
	if n := s.Snapshot().RequestTotal(LabelRequest, "", 413); n < 2 {
		t.Fatalf("413 counted %d", n)
	}
}

// TestConnectionLimit: over max_connections, a connection is reset at once and counted.
func TestConnectionLimit(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxConnections = 2 })
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addrs().HTTP.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "two open connections", func() bool { return s.Snapshot().Transports["http"].Open == 2 })
	// The reset may arrive before connect returns (then Dial fails) or after.
	third, err := net.Dial("tcp", s.Addrs().HTTPS.String())
	if err == nil {
		defer third.Close()
		third.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := third.Read(make([]byte, 1)); err == nil {
			t.Fatal("third connection was served")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("third connection: %v", err)
	}
	waitFor(t, "the rejection counted", func() bool { return s.Snapshot().RejectedConns == 1 })
	if s.Snapshot().RejectedConns != 1 {
		t.Fatalf("rejected %d", s.Snapshot().RejectedConns)
	}
	held[0].Close()
	waitFor(t, "a free slot", func() bool { return s.Snapshot().Transports["http"].Open == 1 })
	if a := do(t, client(s), "GET", mplistURL(s, RoleHTTP), "", nil); a.status != 200 {
		t.Fatal(a.status)
	}
}

// TestIdleConnectionsMemory: 1,000 idle connections cost the MP a bounded amount of
// Go memory each (heap + goroutine stacks, measured around them).
func TestIdleConnectionsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const n = 1000
	s := startServer(t, nil)
	mem := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	before := mem()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		addr := s.Addrs().HTTP
		if i%2 == 1 {
			addr = s.Addrs().HTTPS
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "1,000 open connections", func() bool {
		tr := s.Snapshot().Transports
		return tr["http"].Open+tr["https"].Open == n
	})
	per := (float64(mem()) - float64(before)) / n
	t.Logf("%.1f KiB Go memory per idle connection (half HTTP, half HTTPS before handshake; client side included)", per/1024)
	if per > 64<<10 {
		t.Fatalf("%.0f bytes per idle connection, bound 64 KiB", per)
	}
}

// TestLongPollFloodBounded: a flood of made-up client GUIDs cannot grow the MP past its
// long-poll table bound (new clients over it get 503, counted), oversized GUIDs are
// refused outright, and the MP process's memory stays bounded, read from /proc.
func TestLongPollFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 requests")
	}
	cfg := benchConfig(KeyECDSAP256)
	cfg.Limits.MaxLongPollClients = 5000
	a, ready, pid := startAgentProc(t, cfg)
	base := "http://" + ready.Addrs.HTTP.String() + wire.PathLongPoll
	before := ReadProc(pid)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const n, workers = 50000, 16
	codes := make([]map[int]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		codes[w] = map[int]int{}
		wg.Go(func() {
			for i := w; i < n; i += workers {
				resp, err := c.Get(fmt.Sprintf("%s?guid=GUID:%08d-flood&wait=0s", base, i))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[w][resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	total := map[int]int{}
	for _, m := range codes {
		for k, v := range m {
			total[k] += v
		}
	}
	resp, err := c.Get(base + "?wait=0s&guid=" + strings.Repeat("A", 8<<10))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	snap := a.snapshot()
	after := ReadProc(pid)
	grew := after.RSSBytes - before.RSSBytes
	t.Logf("answers %v, table %d, refused %d, RSS %d -> %d MiB", total, snap.Notify.LongPollClients, snap.Notify.LongPollRefused, before.RSSBytes>>20, after.RSSBytes>>20)
	if total[204] != 5000 || total[503] != n-5000 || snap.Notify.LongPollClients != 5000 || snap.Notify.LongPollRefused != n-5000 {
		t.Fatalf("answers %v, table %d, refused %d; want 5000 held and the rest refused", total, snap.Notify.LongPollClients, snap.Notify.LongPollRefused)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("an 8 KiB GUID: %d, want 400", resp.StatusCode)
	}
	if grew > 64<<20 {
		t.Fatalf("MP RSS grew %d MiB over the flood; the table bound should hold it", grew>>20)
	}
}
