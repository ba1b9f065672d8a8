package mp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// allRoles listens on every role, ephemeral ports on loopback.
func allRoles() Listen {
	a := lo0
	return Listen{HTTP: a, HTTPAlt: a, HTTPS: a, HTTPSAlt: a, Notification: a}
}

// startServer starts an MP on loopback with every role and ECDSA (fast to issue);
// edit adjusts the config first.
func startServer(t testing.TB, edit func(*Config)) *Server {
	t.Helper()
	cfg := Config{Name: "mp1", SiteCode: "PS1", Listen: allRoles(), TLS: TLSConfig{Key: KeyECDSAP256, Resumption: true},
		ServiceTime: ServiceTime{Dist: "fixed", Mean: 0}, Seed: 1}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns an HTTP client trusting the server's CA; keep-alives on.
func client(s *Server) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: s.CA().Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(8)},
			ForceAttemptHTTP2: false,
		},
	}
}

func baseURL(s *Server, r Role) string {
	return r.Transport() + "://" + s.Addrs().Get(r).String()
}

// lo0 is an ephemeral port on loopback.
var lo0 = netip.MustParseAddrPort("127.0.0.1:0")

type getResult struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, c *http.Client, method, url, ctype string, body []byte) getResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", wire.UserAgent)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return getResult{resp.StatusCode, resp.Header, b}
}

// waitFor polls cond (an observable server state, not a guess about timing) until it
// holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tcpLogin opens a notification session and logs in.
func tcpLogin(t testing.TB, addr netip.AddrPort, guid, group string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := wire.WriteFrame(c, wire.FrameLogin, wire.Login{GUID: guid, Group: group}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, _, err := wire.ReadFrame(c)
	if err != nil || typ != wire.FrameLoginOK {
		t.Fatalf("login %s: type %d err %v", guid, typ, err)
	}
	return c
}

func readPush(t testing.TB, c net.Conn) wire.Push {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, p, err := wire.ReadFrame(c)
	if err != nil || typ != wire.FramePush {
		t.Fatalf("read push: type %d err %v", typ, err)
	}
	var push wire.Push
	if err := json.Unmarshal(p, &push); err != nil {
		t.Fatal(err)
	}
	return push
}
