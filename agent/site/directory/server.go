package directory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// DefaultConnLifetime is Options.ConnLifetime when it is zero.
const DefaultConnLifetime = 10 * time.Second

// Options configure a Server.
type Options struct {
	// HostName is the directory server's FQDN, the RootDSE's dnsHostName. Empty means
	// "dc1.<Publication.Domain>".
	HostName string
	// ConnLifetime is the longest a client connection is served. gldap sets one read
	// and one write deadline per connection when it accepts it, so this is a lifetime,
	// not an idle timeout; Close waits up to this long for a client that keeps a
	// connection open without closing it. A client's location lookup takes
	// milliseconds. Zero means DefaultConnLifetime.
	ConnLifetime time.Duration
	// Logger gets the connection errors the counters count, at debug level. Nil
	// discards them.
	Logger *slog.Logger
}

// Server serves a Publication over LDAP. Publish, Listen, Stats and Close are safe to
// call from any goroutine.
type Server struct {
	opts Options
	log  *slog.Logger
	tree atomic.Pointer[tree]

	mu        sync.Mutex
	listeners []*listener
	closed    bool
}

// New returns a Server with nothing published: until the first Publish every search
// but the RootDSE finds no such object.
func New(opts Options) *Server {
	if opts.ConnLifetime <= 0 {
		opts.ConnLifetime = DefaultConnLifetime
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{opts: opts, log: log}
}

// Publish validates p and replaces what every listener serves with it, atomically: a
// search sees the old publication or the new one, never a mix. The site's
// republication lag is the caller's business.
func (s *Server) Publish(p Publication) error {
	n, err := p.normalize()
	if err != nil {
		return err
	}
	host := "dc1." + n.Domain
	if s.opts.HostName != "" {
		if host, err = normalizeDomain(s.opts.HostName); err != nil {
			return fmt.Errorf("publication: host name: %w", err)
		}
	}
	s.tree.Store(buildTree(n, host))
	return nil
}

var errClosed = errors.New("directory server closed")

// Listen starts serving on addr (an IP address and port; port 0 picks one) and
// returns the address it listens on. kind says whether it is the LDAP port or the
// global catalog.
//
// gldap opens the socket itself from an address string and keeps it private, so
// Listen learns the bound port from gldap's "listening" log record, which it
// intercepts with its own logger; the same logger counts the connection errors
// gldap only logs (malformed messages, cut connections). The tests pin that
// behaviour of the pinned gldap version.
func (s *Server) Listen(ctx context.Context, addr netip.AddrPort, kind Kind) (netip.AddrPort, error) {
	if !addr.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("ldap listen: address %v: want an IP address and port", addr)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: %w", addr, errClosed)
	}
	s.mu.Unlock()

	l := &listener{srv: s, kind: kind, done: make(chan error, 1)}
	hook := &hookLogger{Logger: hclog.NewNullLogger(), l: l, bound: make(chan net.Addr, 1)}
	gs, err := gldap.NewServer(
		gldap.WithLogger(hook),
		gldap.WithReadTimeout(s.opts.ConnLifetime),
		gldap.WithWriteTimeout(s.opts.ConnLifetime),
		gldap.WithOnClose(func(int) { l.c.conns.Add(1) }),
	)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: new server: %w", addr, err)
	}
	mux, err := gldap.NewMux()
	if err == nil {
		err = errors.Join(mux.Bind(l.bind), mux.Search(l.search), mux.DefaultRoute(l.unsupported), gs.Router(mux))
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: routes: %w", addr, err)
	}
	l.gs = gs
	go func() { l.done <- gs.Run(addr.String()) }()

	select {
	case a := <-hook.bound:
		ta, ok := a.(*net.TCPAddr)
		if !ok {
			_ = l.stop()
			return netip.AddrPort{}, fmt.Errorf("ldap listen %s: gldap listens on %T %v", addr, a, a)
		}
		l.addr = ta.AddrPort()
	case err := <-l.done:
		if err == nil {
			err = errors.New("server stopped before listening")
		}
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: %w", addr, err)
	case <-ctx.Done():
		// Run may still open the socket: stop it once it has, or once it failed.
		go func() {
			select {
			case <-hook.bound:
				_ = l.stop()
			case <-l.done:
			}
		}()
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: %w", addr, ctx.Err())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = l.stop()
		return netip.AddrPort{}, fmt.Errorf("ldap listen %s: %w", addr, errClosed)
	}
	s.listeners = append(s.listeners, l)
	return l.addr, nil
}

// Stats returns every listener's counters, in the order they were started.
func (s *Server) Stats() []ListenerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ListenerStats, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.c.snapshot(l.addr.String(), l.kind)
	}
	return out
}

// Close stops every listener and waits for their connections to end (at most
// Options.ConnLifetime for a client that holds one open). It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := s.listeners
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.stop(); err != nil {
			errs = append(errs, fmt.Errorf("ldap %s: stop: %w", l.addr, err))
		}
	}
	return errors.Join(errs...)
}

type listener struct {
	srv  *Server
	kind Kind
	addr netip.AddrPort
	gs   *gldap.Server
	done chan error // Run's result
	c    counters

	stopOnce sync.Once
	stopErr  error
}

func (l *listener) stop() error {
	l.stopOnce.Do(func() {
		err := l.gs.Stop()
		if runErr := <-l.done; runErr != nil {
			err = errors.Join(err, runErr)
		}
		l.stopErr = err
	})
	return l.stopErr
}

// write sends one response and counts a failure.
func (l *listener) write(w *gldap.ResponseWriter, r gldap.Response) bool {
	if err := w.Write(r); err != nil {
		l.c.errors.Add(1)
		l.srv.log.Debug("ldap write failed", "listener", l.addr, "err", err)
		return false
	}
	return true
}

// guard turns a panic in a handler into a counted error: gldap runs handlers in
// goroutines of their own, where its panic recovery does not reach.
func (l *listener) guard(op string) {
	if v := recover(); v != nil {
		l.c.errors.Add(1)
		l.srv.log.Debug("ldap handler panic", "listener", l.addr, "op", op, "panic", fmt.Sprint(v))
	}
}

func (l *listener) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	defer l.guard("bind")
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		l.c.errors.Add(1)
		l.write(w, r.NewBindResponse(gldap.WithResponseCode(resultProtocolError)))
		return
	}
	l.c.binds.Add(1)
	if m.UserName == "" && m.Password == "" {
		l.c.anonymous.Add(1)
	}
	l.write(w, r.NewBindResponse(gldap.WithResponseCode(resultSuccess)))
}

func (l *listener) search(w *gldap.ResponseWriter, r *gldap.Request) {
	defer l.guard("search")
	m, err := r.GetSearchMessage()
	if err != nil {
		l.c.errors.Add(1)
		l.write(w, r.NewSearchDoneResponse(gldap.WithResponseCode(resultProtocolError)))
		return
	}
	done := func(code int, matched, diag string) {
		resp := r.NewSearchDoneResponse(gldap.WithResponseCode(code))
		resp.SetMatchedDN(matched)
		resp.SetDiagnosticMessage(diag)
		l.write(w, resp)
	}
	switch m.Scope {
	case gldap.BaseObject:
		l.c.searchBase.Add(1)
	case gldap.SingleLevel:
		l.c.searchOne.Add(1)
	default:
		l.c.searchSub.Add(1)
	}
	if len(m.BaseDN) > MaxBaseDNLen || len(m.Attributes) > MaxAttributeCount {
		l.c.errors.Add(1)
		l.c.oversized.Add(1)
		done(resultAdminLimitExceeded, "", fmt.Sprintf("base DN over %d bytes or more than %d attributes", MaxBaseDNLen, MaxAttributeCount))
		return
	}
	f, err := parseFilter(m.Filter)
	if err != nil {
		l.c.errors.Add(1)
		if errors.Is(err, ErrFilterTooLarge) {
			l.c.oversized.Add(1)
			done(resultAdminLimitExceeded, "", err.Error())
		} else {
			done(resultProtocolError, "", err.Error())
		}
		return
	}
	if m.Scope == gldap.BaseObject && strings.TrimSpace(m.BaseDN) == "" {
		l.c.rootDSE.Add(1)
	}
	res := l.srv.tree.Load().search(l.kind, m.BaseDN, int64(m.Scope), f, m.SizeLimit)
	switch res.code {
	case resultNoSuchObject:
		l.c.noSuchObject.Add(1)
	case resultInvalidDNSyntax:
		l.c.errors.Add(1)
	}
	for _, e := range res.entries {
		resp := r.NewSearchResponseEntry(e.dn)
		for _, a := range selectAttrs(e, m.Attributes, m.TypesOnly) {
			resp.AddAttribute(a.name, a.values)
		}
		if !l.write(w, resp) {
			return
		}
		l.c.entries.Add(1)
	}
	done(res.code, res.matched, res.diag)
}

// unsupported answers everything but bind, search and unbind: the directory is read-only.
func (l *listener) unsupported(w *gldap.ResponseWriter, r *gldap.Request) {
	defer l.guard("unsupported")
	l.c.errors.Add(1)
	l.c.unsupported.Add(1)
	const diag = "portlab's directory is read-only and supports bind, search and unbind"
	code := gldap.WithResponseCode(resultUnwillingToPerform)
	msg := gldap.WithDiagnosticMessage(diag)
	var resp gldap.Response
	if _, err := r.GetAddMessage(); err == nil {
		resp = r.NewResponse(code, msg, gldap.WithApplicationCode(gldap.ApplicationAddResponse))
	} else if _, err := r.GetModifyMessage(); err == nil {
		resp = r.NewModifyResponse(code, msg)
	} else if _, err := r.GetDeleteMessage(); err == nil {
		resp = r.NewResponse(code, msg, gldap.WithApplicationCode(gldap.ApplicationDelResponse))
	} else {
		er := r.NewExtendedResponse(gldap.WithResponseCode(resultProtocolError))
		er.SetDiagnosticMessage(diag)
		resp = er
	}
	l.write(w, resp)
}

// hookLogger is the hclog.Logger gldap gets: it reports the bound address and counts
// the errors gldap logs instead of returning; everything else goes nowhere.
type hookLogger struct {
	hclog.Logger
	l     *listener
	bound chan net.Addr
}

func (h *hookLogger) Info(msg string, args ...any) {
	if msg != "listening" {
		return
	}
	if a, ok := logArg(args, "addr").(net.Addr); ok {
		select {
		case h.bound <- a:
		default:
		}
	}
}

func (h *hookLogger) Error(msg string, args ...any) {
	text := fmt.Sprint(logArg(args, "err"))
	c := &h.l.c
	switch {
	case strings.HasPrefix(msg, "error handling conn"):
		switch {
		case strings.Contains(text, "i/o timeout"):
			c.expir.Add(1)
		case strings.Contains(text, "connection reset"), strings.Contains(text, "broken pipe"),
			strings.Contains(text, "use of closed network connection"):
			// the client went away mid-message: not the server's error
			return
		case strings.Contains(text, "greater than maximum"):
			c.errors.Add(1)
			c.oversized.Add(1)
		default:
			c.errors.Add(1)
			c.malformed.Add(1)
		}
	case strings.HasPrefix(msg, "Caught panic"):
		c.errors.Add(1)
		c.malformed.Add(1)
	default:
		c.errors.Add(1)
	}
	h.l.srv.log.Debug("ldap connection error", "listener", h.l.addr, "msg", msg, "err", text)
}

func logArg(args []any, key string) any {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			return args[i+1]
		}
	}
	return nil
}
