package mp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

func mplistURL(s *Server, r Role) string {
	return baseURL(s, r) + wire.PathAut + "?" + wire.QueryMPList
}

func refused(addr netip.AddrPort) bool {
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// rawGet sends a keep-alive GET on an open connection and reads the status line and
// headers through the empty line; err when the connection is gone.
func rawGet(c net.Conn, br *bufio.Reader, path string) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: mp1\r\n\r\n", path); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	buf := make([]byte, 1<<16)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	return resp.Status, nil
}

// TestSetPorts: the HTTP default moves, its old port refuses and the new one answers; a
// keep-alive connection on the old port is closed; the unchanged HTTPS port keeps its
// connection; a moved notification port closes its sessions; default and alternate
// swap without closing either socket.
func TestSetPorts(t *testing.T) {
	s := startServer(t, nil)
	before := s.Addrs()

	keep, err := net.Dial("tcp", before.HTTP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	keepBR := bufio.NewReader(keep)
	if st, err := rawGet(keep, keepBR, wire.PathAut+"?MPLIST"); err != nil || !strings.HasPrefix(st, "200") {
		t.Fatalf("keep-alive before: %q %v", st, err)
	}
	c := client(s)
	if a := do(t, c, "GET", mplistURL(s, RoleHTTPS), "", nil); a.status != 200 {
		t.Fatal(a.status)
	}
	sess := tcpLogin(t, before.Notification, "guid-1", "g")

	want := before
	want.HTTP = lo0
	want.Notification = lo0
	if err := s.SetPorts(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	after := s.Addrs()
	if after.HTTP == before.HTTP || after.Notification == before.Notification || after.HTTPS != before.HTTPS || after.HTTPAlt != before.HTTPAlt {
		t.Fatalf("addresses before %+v after %+v", before, after)
	}
	if !refused(before.HTTP) {
		t.Fatalf("old HTTP port %s still accepts", before.HTTP)
	}
	if !refused(before.Notification) {
		t.Fatalf("old notification port %s still accepts", before.Notification)
	}
	if a := do(t, c, "GET", mplistURL(s, RoleHTTP), "", nil); a.status != 200 || strings.Contains(string(a.body), portOf(after.HTTP)) {
		t.Fatalf("new HTTP port: %d %s (an MPLIST carries no ports)", a.status, a.body)
	}
	// The pooled HTTPS connection still works (its port did not change) ...
	if a := do(t, c, "GET", mplistURL(s, RoleHTTPS), "", nil); a.status != 200 {
		t.Fatal(a.status)
	}
	// ... while the keep-alive connection on the removed port is gone.
	if st, err := rawGet(keep, keepBR, wire.PathAut+"?MPLIST"); err == nil {
		t.Fatalf("keep-alive connection on the removed port still answers: %s", st)
	}
	sess.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := wire.ReadFrame(sess); err == nil {
		t.Fatal("notification session on the removed port still open")
	}
	tcpLogin(t, after.Notification, "guid-1", "g")

	// Swap default and alternate: both sockets stay, roles exchange.
	swap := after
	swap.HTTP, swap.HTTPAlt = after.HTTPAlt, after.HTTP
	if err := s.SetPorts(context.Background(), swap); err != nil {
		t.Fatal(err)
	}
	if got := s.Addrs(); got.HTTP != after.HTTPAlt || got.HTTPAlt != after.HTTP {
		t.Fatalf("swap: %+v", got)
	}
	for _, r := range []Role{RoleHTTP, RoleHTTPAlt} {
		if a := do(t, c, "GET", mplistURL(s, r), "", nil); a.status != 200 {
			t.Fatalf("%s after swap: %d", r, a.status)
		}
	}
	// Removing the alternate: it refuses.
	noAlt := s.Addrs()
	alt := noAlt.HTTPAlt
	noAlt.HTTPAlt = netip.AddrPort{}
	if err := s.SetPorts(context.Background(), noAlt); err != nil {
		t.Fatal(err)
	}
	if !refused(alt) {
		t.Fatalf("removed alternate %s still accepts", alt)
	}
	// A port that cannot be opened changes nothing.
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	bad := s.Addrs()
	cur := bad.HTTP
	bad.HTTP = blocker.Addr().(*net.TCPAddr).AddrPort()
	if err := s.SetPorts(context.Background(), bad); err == nil {
		t.Fatal("SetPorts onto a busy port succeeded")
	}
	if got := s.Addrs().HTTP; got != cur {
		t.Fatalf("failed SetPorts changed HTTP to %s", got)
	}
	if a := do(t, c, "GET", mplistURL(s, RoleHTTP), "", nil); a.status != 200 {
		t.Fatal(a.status)
	}
}

func portOf(addr netip.AddrPort) string { return strconv.Itoa(int(addr.Port())) }

var lo8080 = netip.MustParseAddrPort("127.0.0.1:8080")

// TestStopStart: a stopped MP refuses on every port; started again, it answers on the
// same ports; counters survive.
func TestStopStart(t *testing.T) {
	s := startServer(t, nil)
	addrs := s.Addrs()
	c := client(s)
	if a := do(t, c, "GET", mplistURL(s, RoleHTTP), "", nil); a.status != 200 {
		t.Fatal(a.status)
	}
	s.Stop()
	if s.Running() || s.Addrs() != (Listen{}) {
		t.Fatal("still running after Stop")
	}
	for _, r := range Roles() {
		if !refused(addrs.Get(r)) {
			t.Fatalf("%s %s accepts while stopped", r, addrs.Get(r))
		}
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Addrs() != addrs {
		t.Fatalf("restart moved ports: %+v, was %+v", s.Addrs(), addrs)
	}
	for _, r := range []Role{RoleHTTP, RoleHTTPS} {
		if a := do(t, c, "GET", mplistURL(s, r), "", nil); a.status != 200 {
			t.Fatal(a.status)
		}
	}
	if n := s.Snapshot().RequestTotal(LabelMPList, "", 200); n != 3 {
		t.Fatalf("MPLIST counted %d, want 3", n)
	}
	s.Close()
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"no name":      func(c *Config) { c.Name = "" },
		"bad key":      func(c *Config) { c.TLS.Key = "dsa" },
		"bad dist":     func(c *Config) { c.ServiceTime.Dist = "normal" },
		"dup addr":     func(c *Config) { c.Listen.HTTP, c.Listen.HTTPS = lo8080, lo8080 },
		"error rate":   func(c *Config) { c.ErrorRate = 2 },
		"half a CA":    func(c *Config) { c.TLS.CACertPEM = "x" },
		"peer address": func(c *Config) { c.Peers = []Peer{{Name: "mp2"}} },
	} {
		cfg := Config{Name: "mp1", Listen: allRoles(), TLS: TLSConfig{Key: KeyECDSAP256}}
		edit(&cfg)
		if _, err := New(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
