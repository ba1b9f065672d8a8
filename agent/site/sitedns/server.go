package sitedns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// MaxUDPSize is the largest UDP answer the server sends, whatever a client's EDNS0
// size says (the DNS flag day 2020 value).
const MaxUDPSize = 1232

// Options configure a Server.
type Options struct {
	// Logger gets listener errors at debug level. Nil discards them.
	Logger *slog.Logger
}

// Server answers DNS queries for one zone. Publish, AddStatic, RemoveStatic, the
// listen and serve methods, Stats and Close are safe to call from any goroutine.
type Server struct {
	log  *slog.Logger
	zone atomic.Pointer[index]
	udp  counters
	tcp  counters

	mu        sync.Mutex
	apex      string
	published []dns.RR
	static    []dns.RR
	servers   []*dns.Server
	done      []chan error
	closed    bool
}

// New returns a Server with no zone: until the first Publish every query is REFUSED.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{log: log}
}

// Publish validates z and replaces the published records with it, atomically; records
// added by hand stay. A hand-made record outside the new zone is an error, and nothing
// changes.
func (s *Server) Publish(z Zone) error {
	apex, rrs, err := z.records()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range s.static {
		if !dns.IsSubDomain(apex, rr.Header().Name) {
			return fmt.Errorf("zone %s: hand-made record %s is outside it: %w", apex, rr, ErrInvalidZone)
		}
	}
	s.apex, s.published = apex, rrs
	s.rebuild()
	return nil
}

// AddStatic adds records by hand, in zone-file syntax with names absolute or relative
// to the zone ("_mssms_mp_ps1._tcp 14400 IN SRV 0 0 80 mp1"). They are served beside
// the published records until removed, whatever Publish does. A zone must be
// published first, so that they can be checked to lie inside it.
func (s *Server) AddStatic(records ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apex == "" {
		return fmt.Errorf("add record: %w", ErrNoZone)
	}
	var add []dns.RR
	for _, text := range records {
		rr, err := parseStatic(text, s.apex)
		if err != nil {
			return fmt.Errorf("add record: %w", err)
		}
		add = append(add, rr)
	}
	s.static = append(s.static, add...)
	s.rebuild()
	return nil
}

// RemoveStatic removes hand-made records equal to the given ones (same name, type,
// class and data; the TTL is ignored). It reports how many it removed.
func (s *Server) RemoveStatic(records ...string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apex == "" {
		return 0, fmt.Errorf("remove record: %w", ErrNoZone)
	}
	removed := 0
	for _, text := range records {
		rr, err := parseStatic(text, s.apex)
		if err != nil {
			return removed, fmt.Errorf("remove record: %w", err)
		}
		before := len(s.static)
		s.static = slices.DeleteFunc(s.static, func(x dns.RR) bool { return dns.IsDuplicate(x, rr) })
		removed += before - len(s.static)
	}
	s.rebuild()
	return removed, nil
}

// Static returns the hand-made records in zone-file syntax.
func (s *Server) Static() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.static))
	for i, rr := range s.static {
		out[i] = rr.String()
	}
	return out
}

// rebuild swaps in a new index of published and hand-made records; s.mu is held.
func (s *Server) rebuild() {
	s.zone.Store(newIndex(s.apex, s.published, s.static))
}

var errClosed = errors.New("dns server closed")

// Listen serves UDP and TCP on one port of addr's address, as a DNS server does (port
// 0 picks one free for both), and returns the address. TCP is bound first: on a busy
// machine most ephemeral ports can be held by TIME_WAIT connections, which the
// kernel's choice for a TCP listener avoids and a UDP port rarely meets.
func (s *Server) Listen(ctx context.Context, addr netip.AddrPort) (netip.AddrPort, error) {
	for try := 0; ; try++ {
		t, err := s.ListenTCP(ctx, addr)
		if err != nil {
			return netip.AddrPort{}, err
		}
		u, err := s.ListenUDP(ctx, t)
		if err == nil {
			return u, nil
		}
		// The port picked for TCP may be taken for UDP: close it, try another.
		s.closeListener(t)
		if addr.Port() != 0 || try == 9 {
			return netip.AddrPort{}, err
		}
	}
}

// closeListener shuts the TCP server on addr down (Listen's retry).
func (s *Server) closeListener(addr netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ds := range s.servers {
		if ln := ds.Listener; ln != nil && ln.Addr().(*net.TCPAddr).AddrPort() == addr {
			_ = ds.Shutdown()
			<-s.done[i]
			s.servers = slices.Delete(s.servers, i, i+1)
			s.done = slices.Delete(s.done, i, i+1)
			return
		}
	}
}

// ListenUDP opens a UDP socket on addr (port 0 picks one), serves on it and returns
// its address.
func (s *Server) ListenUDP(ctx context.Context, addr netip.AddrPort) (netip.AddrPort, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dns listen udp %s: %w", addr, err)
	}
	if err := s.ServeUDP(pc); err != nil {
		pc.Close()
		return netip.AddrPort{}, err
	}
	return pc.LocalAddr().(*net.UDPAddr).AddrPort(), nil
}

// ListenTCP opens a TCP listener on addr (port 0 picks one), serves on it and returns
// its address.
func (s *Server) ListenTCP(ctx context.Context, addr netip.AddrPort) (netip.AddrPort, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dns listen tcp %s: %w", addr, err)
	}
	if err := s.ServeTCP(ln); err != nil {
		ln.Close()
		return netip.AddrPort{}, err
	}
	return ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// ServeUDP serves on a packet socket the caller opened; Close closes it.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	return s.serve(&dns.Server{PacketConn: pc, UDPSize: dns.MaxMsgSize}, &s.udp, "udp "+pc.LocalAddr().String())
}

// ServeTCP serves on a listener the caller opened; Close closes it.
func (s *Server) ServeTCP(ln net.Listener) error {
	return s.serve(&dns.Server{Listener: ln, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second},
		&s.tcp, "tcp "+ln.Addr().String())
}

func (s *Server) serve(ds *dns.Server, c *counters, name string) error {
	udp := ds.PacketConn != nil
	ds.Handler = dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { s.handle(w, req, c, udp) })
	ds.MsgAcceptFunc = func(dh dns.Header) dns.MsgAcceptAction {
		a := dns.DefaultMsgAcceptFunc(dh)
		if a != dns.MsgAccept {
			c.malformed.Add(1)
		}
		return a
	}
	ds.MsgInvalidFunc = func(m []byte, err error) {
		c.malformed.Add(1)
		s.log.Debug("dns message unreadable", "listener", name, "len", len(m), "err", err)
	}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("dns serve %s: %w", name, errClosed)
	}
	go func() { done <- ds.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		return fmt.Errorf("dns serve %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Close ran while this one started
		_ = ds.Shutdown()
		<-done
		return fmt.Errorf("dns serve %s: %w", name, errClosed)
	}
	s.servers = append(s.servers, ds)
	s.done = append(s.done, done)
	return nil
}

// Stats returns the counters by transport.
func (s *Server) Stats() Stats {
	return Stats{UDP: s.udp.snapshot(), TCP: s.tcp.snapshot()}
}

// Close stops every listener (closing its socket) and waits for queries in progress.
// It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers, done := s.servers, s.done
	s.mu.Unlock()
	var errs []error
	for i, ds := range servers {
		if err := ds.Shutdown(); err != nil {
			errs = append(errs, err)
		}
		if err := <-done[i]; err != nil && !isClosedErr(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection")
}

// handle answers one query and counts it.
func (s *Server) handle(w dns.ResponseWriter, req *dns.Msg, c *counters, udp bool) {
	resp := s.zone.Load().answer(req, c)
	if udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), MaxUDPSize)
		}
		resp.Truncate(size)
		if resp.Truncated {
			c.trnc.Add(1)
		}
	} else {
		resp.Compress = true
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns write failed", "remote", w.RemoteAddr(), "err", err)
	}
}
