package mp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portlab/portlab/wire"
	"golang.org/x/sys/unix"
)

// ErrClosed: the Server was closed.
var ErrClosed = errors.New("mp: server closed")

// Server is one fake management point. Create it with New, then Start.
type Server struct {
	cfg       Config
	log       *slog.Logger
	ca        *CA
	cert      tls.Certificate
	tlsCfg    *tls.Config
	timer     *serviceTimer
	st        *stats
	hub       *hub
	static    atomic.Pointer[staticBodies]
	reg       *registry
	ids       idSource
	auth      authStats
	ntlmCfg   wire.ChallengeConfig
	lim       wire.Limits   // bounds of a CCM message read
	inflating chan struct{} // one token per CCM message being read (Limits.MaxInflate)

	mu      sync.Mutex
	running bool
	closed  bool
	want    Listen // configured addresses (port 0: ephemeral)
	lns     map[Role]*listener
	// draining: http.Servers of removed listeners still finishing requests.
	draining map[*http.Server]struct{}
	wg       sync.WaitGroup // serve loops, sessions, drains, push fan-outs
}

// listener is one bound role: its socket, its http.Server (request and long-poll roles)
// or its TCP sessions (notification role).
type listener struct {
	role      Role           // the role it was opened for (a moved socket keeps it; see Server.lns)
	transport string         // http, https or tcp
	want      netip.AddrPort // the configured address it was opened for
	addr      netip.AddrPort // actual address
	port      int
	ln        net.Listener
	srv       *http.Server
	cancel    context.CancelFunc // ends every request on it (the listener was removed)

	mu       sync.Mutex
	sessions map[net.Conn]struct{}
	closed   bool
}

// New checks cfg (after Normalize), prepares the CA, the server certificate and the
// static bodies. It opens no socket: call Start. log may be nil (discard).
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: logger.With("mp", cfg.Name, "worker", cfg.Worker), want: cfg.Listen, lns: map[Role]*listener{},
		draining: map[*http.Server]struct{}{}}
	var err error
	if cfg.TLS.CACertPEM != "" {
		s.ca, err = ParseCA([]byte(cfg.TLS.CACertPEM), []byte(cfg.TLS.CAKeyPEM))
	} else {
		s.ca, err = NewCA()
	}
	if err != nil {
		return nil, fmt.Errorf("mp %s: %w", cfg.Name, err)
	}
	if cfg.TLS.CAFile != "" {
		if err := s.ca.WriteFile(cfg.TLS.CAFile); err != nil {
			return nil, fmt.Errorf("mp %s: %w", cfg.Name, err)
		}
	}
	hosts := []string{cfg.Name, cfg.FQDN, "localhost", "127.0.0.1"}
	if cfg.Addr.IsValid() {
		hosts = append(hosts, cfg.Addr.String())
	}
	for _, r := range Roles() {
		if a := cfg.Listen.Get(r); a.IsValid() && !a.Addr().IsUnspecified() {
			hosts = append(hosts, a.Addr().String())
		}
	}
	if s.cert, err = s.ca.Issue(cfg.TLS.Key, dedupe(hosts)); err != nil {
		return nil, fmt.Errorf("mp %s: %w", cfg.Name, err)
	}
	if s.timer, err = newServiceTimer(cfg.ServiceTime, cfg.Seed+int64(cfg.Worker)*1_000_003); err != nil {
		return nil, fmt.Errorf("mp %s: %w", cfg.Name, err)
	}
	s.timer.errorRate = cfg.ErrorRate
	s.st = newStats()
	s.hub = newHub(cfg.Limits, &s.wg)
	s.tlsCfg = &tls.Config{
		Certificates:           []tls.Certificate{s.cert},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: !cfg.TLS.Resumption,
		NextProtos:             []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			// Called on full and resumed handshakes alike.
			if cs.DidResume {
				s.st.tlsResumed.Add(1)
			} else {
				s.st.tlsFull.Add(1)
			}
			return nil
		},
	}
	if cfg.ReusePort && cfg.TLS.CAKeyPEM != "" {
		// The workers of a web garden share the session ticket key (derived from the
		// run's CA key), so a client resumes whichever worker its connection lands on.
		s.tlsCfg.SetSessionTicketKeys([][32]byte{sha256.Sum256([]byte("portlab session tickets\x00" + cfg.Name + "\x00" + cfg.TLS.CAKeyPEM))})
	}
	s.reg = newRegistry(cfg.Seed, cfg.Limits.MaxRegistrations)
	s.inflating = make(chan struct{}, cfg.Limits.MaxInflate)
	s.lim = wire.Limits{HeaderBytes: 64 << 10, PayloadBytes: int(cfg.Limits.MaxBodyBytes), PlainBytes: int(cfg.Limits.MaxPayloadBytes)}
	domain := strings.ToUpper(strings.SplitN(cfg.Domain, ".", 2)[0])
	s.ntlmCfg = wire.ChallengeConfig{NetBIOSDomain: domain, NetBIOSComputer: strings.ToUpper(cfg.Name), DNSDomain: cfg.Domain, DNSComputer: cfg.FQDN}
	if err := s.refreshStatic(); err != nil {
		return nil, fmt.Errorf("mp %s: %w", cfg.Name, err)
	}
	return s, nil
}

// refreshStatic rebuilds the static answers for the ports wanted now (MPLIST's
// SSLState follows the HTTPS port). s.mu is held, or s is not yet shared.
func (s *Server) refreshStatic() error {
	b, err := buildStatic(s.cfg, s.ca, s.cert, s.want.HTTPS.IsValid() || s.want.HTTPSAlt.IsValid())
	if err != nil {
		s.log.Warn("static answers", "err", err)
		return err
	}
	s.static.Store(b)
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// CA returns the CA the server certificate comes from.
func (s *Server) CA() *CA { return s.ca }

// Config returns the normalized configuration.
func (s *Server) Config() Config { return s.cfg }

// Addrs returns the actual address of every role being served (empty when stopped).
func (s *Server) Addrs() Listen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrsLocked()
}

func (s *Server) addrsLocked() Listen {
	var l Listen
	for r, x := range s.lns {
		l.Set(r, x.addr)
	}
	return l
}

// Running reports whether the MP is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Start opens every configured listener and serves. If one cannot be opened, none stays
// open. Starting a running server does nothing. After Stop, Start rebinds the addresses
// last bound, so ephemeral ports keep their numbers.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.running {
		return nil
	}
	opened := map[Role]*listener{}
	for _, r := range Roles() {
		a := s.want.Get(r)
		if !a.IsValid() {
			continue
		}
		x, err := s.open(ctx, r, a)
		if err != nil {
			for _, o := range opened {
				s.closeListener(o)
			}
			return err
		}
		opened[r] = x
	}
	s.lns = opened
	// Keep the numbers ephemeral ports got, for the next Start.
	for r, x := range opened {
		s.want.Set(r, x.addr)
	}
	s.running = true
	s.refreshStatic()
	s.log.Info("started", "addrs", s.addrsLocked())
	return nil
}

// Stop closes every listener (new connections are refused), closes idle and
// notification connections, lets requests in flight finish within
// Limits.ShutdownGrace in the background, and forgets long-poll clients. Counters stay.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if !s.running {
		return
	}
	for _, x := range s.lns {
		s.closeListener(x)
	}
	s.lns = map[Role]*listener{}
	s.running = false
	s.hub.forget()
	s.log.Info("stopped")
}

// Close stops the server for good and waits for in-flight work: requests get up to
// Limits.ShutdownGrace, then their connections are closed. Close is idempotent.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Limits.ShutdownGrace.D())
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown is Close with the grace given by ctx: when ctx ends, connections still
// serving are closed; Shutdown then waits for the goroutines, which end promptly.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopLocked()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for srv := range s.draining {
		srv.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}

// SetPorts changes the listener addresses at runtime. New listeners open first; if one
// cannot be opened nothing changes and the error says which. Roles whose address did
// not change keep their sockets and connections; removed ones are closed as the package
// doc describes. An address equal to another role's current one (a default and an
// alternate swapping) moves that socket to the new role without closing it, when both
// roles have the same transport. On a stopped server, SetPorts only records the
// addresses for the next Start.
func (s *Server) SetPorts(ctx context.Context, want Listen) error {
	if err := want.validate(); err != nil {
		return fmt.Errorf("%w: mp %q: set ports: %w", ErrConfig, s.cfg.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.running {
		s.want = want
		s.refreshStatic()
		return nil
	}
	old := s.lns
	used := map[*listener]bool{}
	next := map[Role]*listener{}
	var opened []*listener
	// Keep or move existing sockets whose address is asked for again.
	for _, r := range Roles() {
		a := want.Get(r)
		if !a.IsValid() {
			continue
		}
		if x := old[r]; x != nil && x.serves(a) {
			next[r], used[x] = x, true
			continue
		}
		for _, x := range old {
			if !used[x] && x.serves(a) && x.transport == r.Transport() {
				next[r], used[x] = x, true
				break
			}
		}
	}
	// A socket wanted by a role of another transport must close before it reopens.
	for r, x := range old {
		if used[x] {
			continue
		}
		for _, nr := range Roles() {
			if a := want.Get(nr); next[nr] == nil && a.IsValid() && x.serves(a) {
				s.closeListener(x)
				delete(old, r)
				break
			}
		}
	}
	for _, r := range Roles() {
		a := want.Get(r)
		if !a.IsValid() || next[r] != nil {
			continue
		}
		x, err := s.open(ctx, r, a)
		if err != nil {
			for _, o := range opened {
				s.closeListener(o)
			}
			return fmt.Errorf("mp %s: set ports: %w", s.cfg.Name, err)
		}
		opened = append(opened, x)
		next[r] = x
	}
	for _, x := range old {
		if !used[x] {
			s.closeListener(x)
		}
	}
	s.lns = next
	s.want = Listen{}
	for r, x := range next {
		s.want.Set(r, x.addr)
	}
	s.refreshStatic()
	s.log.Info("ports changed", "addrs", s.addrsLocked())
	return nil
}

// serves reports whether asking for addr means this socket: its actual address, or
// the configured one unless that asked for an ephemeral port (port 0 always means a
// new port).
func (x *listener) serves(addr netip.AddrPort) bool {
	return addr == x.addr || addr == x.want && addr.Port() != 0
}

// open binds role r on addr and starts serving it.
func (s *Server) open(ctx context.Context, r Role, addr netip.AddrPort) (*listener, error) {
	var lc net.ListenConfig
	if s.cfg.ReusePort {
		lc.Control = reusePort
	}
	ln, err := lc.Listen(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", r, addr, err)
	}
	bound := ln.Addr().(*net.TCPAddr).AddrPort()
	bound = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	x := &listener{role: r, transport: r.Transport(), want: addr, addr: bound, port: int(bound.Port()), sessions: map[net.Conn]struct{}{}}
	// Every request on this listener derives from base, so removing the port ends
	// requests held on it (long polls) at once.
	base, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	cl := &countListener{Listener: ln, s: s, x: x}
	x.ln = cl
	if r == RoleNotification {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveNotify(x)
		}()
		return x, nil
	}
	lim := s.cfg.Limits
	p := new(http.Protocols)
	p.SetHTTP1(true) // ConfigMgr clients speak HTTP/1.1; no h2 to keep costs comparable
	x.srv = &http.Server{
		Handler:           s.handler(x),
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.WriteTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		Protocols:         p,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connContext,
		ErrorLog:          log.New(&errorLogWriter{s: s}, "", 0),
	}
	transport := x.transport
	if transport == "https" {
		x.srv.TLSConfig = s.tlsCfg
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var err error
		if transport == "https" {
			err = x.srv.ServeTLS(cl, "", "")
		} else {
			err = x.srv.Serve(cl)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("serve ended", "role", r, "addr", x.addr, "err", err)
		}
	}()
	return x, nil
}

// closeListener refuses new connections at once and drains the rest in the background.
func (s *Server) closeListener(x *listener) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	x.closed = true
	for c := range x.sessions {
		c.Close()
	}
	x.mu.Unlock()
	x.ln.Close()
	x.cancel()
	if x.srv == nil {
		return
	}
	s.draining[x.srv] = struct{}{} // s.mu is held by every caller
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Limits.ShutdownGrace.D())
		defer cancel()
		if err := x.srv.Shutdown(ctx); err != nil {
			x.srv.Close()
		}
		s.mu.Lock()
		delete(s.draining, x.srv)
		s.mu.Unlock()
	}()
}

// reusePort sets SO_REUSEPORT on a listening socket before it binds.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// errorLogWriter takes net/http's error log: counts TLS handshake failures, logs the
// rest at debug level (a broken client is not the MP's problem).
type errorLogWriter struct{ s *Server }

func (w *errorLogWriter) Write(p []byte) (int, error) {
	line := string(p)
	if containsFold(line, "TLS handshake error") {
		w.s.st.tlsFailed.Add(1)
	}
	w.s.log.Debug("http", "msg", line)
	return len(p), nil
}

// countListener applies MaxConnections and counts connections and bytes.
type countListener struct {
	net.Listener
	s *Server
	x *listener
}

func (l *countListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		st := l.s.st
		t := transportIndex(l.x.transport)
		if max := l.s.cfg.MaxConnections; max > 0 {
			if st.openTotal.Add(1) > int64(max) {
				st.openTotal.Add(-1)
				st.rejected.Add(1)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0) // reset: the client sees it at once
				}
				c.Close()
				continue
			}
		} else {
			st.openTotal.Add(1)
		}
		st.open[t].Add(1)
		st.accepted[t].Add(1)
		return &countConn{Conn: c, st: st, t: t}, nil
	}
}

type countConn struct {
	net.Conn
	st   *stats
	t    int
	once sync.Once
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.st.bytesIn[c.t].Add(uint64(n))
	}
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.st.bytesOut[c.t].Add(uint64(n))
	}
	return n, err
}

func (c *countConn) Close() error {
	c.once.Do(func() {
		c.st.open[c.t].Add(-1)
		c.st.openTotal.Add(-1)
	})
	return c.Conn.Close()
}

// deadline returns now+d.
func deadline(d time.Duration) time.Time { return time.Now().Add(d) }
