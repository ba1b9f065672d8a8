package fleet

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/wire"
)

// Why not net/http's client: a Transport pools connections by host, not by source
// address, so clients with their own addresses would need a Transport each, and each
// idle keep-alive connection there keeps two goroutines and 8 KiB of buffers. Here an
// idle keep-alive connection is just the socket; read buffers come from a pool for the
// length of one exchange. Requests are strictly one at a time per connection.

// maxBody bounds a response body.
const maxBody = 4 << 20

// httpConn is one (possibly TLS) connection to an MP request port.
type httpConn struct {
	c      net.Conn
	mp     string
	port   int
	scheme string
	used   bool // carried at least one exchange (a failure may be a stale keep-alive)
}

func (h *httpConn) close() {
	if h != nil && h.c != nil {
		h.c.Close()
	}
}

// tlsError marks a handshake failure that was not a plain transport error.
type tlsError struct{ err error }

func (e tlsError) Error() string { return "tls: " + e.err.Error() }
func (e tlsError) Unwrap() error { return e.err }

// connector opens client connections; shared by a fleet's clients (read-only).
type connector struct {
	dial    DialFunc
	tlsBase *tls.Config
	bufs    *sync.Pool // *bufio.Reader
	heads   *sync.Pool // *[]byte: a request's bytes while it is written
}

func newConnector(dial DialFunc, caPEM string) (*connector, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(4096)}
	if caPEM == "" {
		cfg.InsecureSkipVerify = true // lab only: no CA given
	} else {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, fmt.Errorf("%w: ca_pem holds no certificate", ErrConfig)
		}
		cfg.RootCAs = pool
	}
	if dial == nil {
		dial = Dial
	}
	return &connector{dial: dial, tlsBase: cfg, bufs: &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }},
		heads: &sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}}, nil
}

// open dials mp:port from local and, for https, completes the TLS handshake, all within
// the connect timeout.
func (cn *connector) open(ctx context.Context, local netip.Addr, mp *MP, port int, scheme string, timeout time.Duration) (*httpConn, error) {
	c, err := cn.dial(ctx, local, netip.AddrPortFrom(mp.Addr, uint16(port)), timeout)
	if err != nil {
		return nil, err
	}
	if scheme == "https" {
		cfg := cn.tlsBase.Clone()
		cfg.ServerName = mp.FQDN
		if cfg.ServerName == "" {
			cfg.ServerName = mp.Name
		}
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			if k := classify(err); k == metrics.Timeout || k == metrics.Reset {
				return nil, err
			}
			return nil, tlsError{err}
		}
		c = tc
	}
	return &httpConn{c: c, mp: mp.Name, port: port, scheme: scheme}, nil
}

// request is one HTTP request.
type request struct {
	method, path, ctype string
	body                []byte
	// allow401: a 401 answer is expected (the windowsauth try of an anonymous client);
	// the exchange goes on with the next request on the same connection.
	allow401 bool
}

// statusError is a response with a non-2xx status.
type statusError struct{ code int }

func (e statusError) Error() string { return "HTTP status " + strconv.Itoa(e.code) }

// do sends req and reads the whole response. keep reports whether the connection may
// carry another exchange.
func (cn *connector) do(ctx context.Context, h *httpConn, host string, req request, timeout time.Duration) (status int, body []byte, keep bool, err error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	h.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { h.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hp := cn.heads.Get().(*[]byte)
	defer cn.heads.Put(hp)
	hb := slices.Grow((*hp)[:0], 256+len(req.body)) // one write: head and body
	defer func() {
		if cap(hb) <= 64<<10 { // keep ordinary buffers, let a rare large one go
			*hp = hb[:0]
		}
	}()
	hb = append(hb, req.method...)
	hb = append(hb, ' ')
	hb = append(hb, req.path...)
	hb = append(hb, " HTTP/1.1\r\nHost: "...)
	hb = append(hb, host...)
	if req.method == wire.MethodCCMPost {
		hb = append(hb, "\r\nUser-Agent: "+wire.UserAgentCCMPost+"\r\n"...)
	} else {
		hb = append(hb, "\r\nUser-Agent: "+wire.UserAgent+"\r\n"...)
	}
	if req.ctype != "" {
		hb = append(hb, "Content-Type: "...)
		hb = append(hb, req.ctype...)
		hb = append(hb, "\r\n"...)
	}
	if req.body != nil || req.method != http.MethodGet {
		hb = append(hb, "Content-Length: "...)
		hb = strconv.AppendInt(hb, int64(len(req.body)), 10)
		hb = append(hb, "\r\n"...)
	}
	hb = append(hb, "\r\n"...)
	hb = append(hb, req.body...)
	if _, err := h.c.Write(hb); err != nil {
		return 0, nil, false, err
	}
	br := cn.bufs.Get().(*bufio.Reader)
	br.Reset(h.c)
	defer func() { br.Reset(nil); cn.bufs.Put(br) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	if n := resp.ContentLength; n >= 0 && n <= maxBody {
		// The usual case: the length is known, so the body is read into one exact buffer
		// instead of io.ReadAll's doubling ones.
		body = make([]byte, n)
		_, err = io.ReadFull(resp.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	}
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, nil, false, err
	}
	h.used = true
	keep = !resp.Close && br.Buffered() == 0
	if resp.StatusCode == http.StatusUnauthorized && req.allow401 {
		return resp.StatusCode, body, keep, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, body, keep, statusError{resp.StatusCode}
	}
	return resp.StatusCode, body, keep, nil
}

// classify maps an error to a metrics outcome.
func classify(err error) string {
	var se statusError
	var te tlsError
	var ne net.Error
	switch {
	case err == nil:
		return metrics.OK
	case errors.As(err, &se):
		return metrics.HTTPOutcome(se.code)
	case errors.As(err, &te):
		return metrics.TLSError
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH): // reject: RST or ICMP unreachable, seen at once
		return metrics.Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return metrics.Reset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return metrics.Timeout
	}
	var ae tls.AlertError
	var ce *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	if errors.As(err, &ae) || errors.As(err, &ce) || errors.As(err, &rh) {
		return metrics.TLSError
	}
	return metrics.Error
}

// portFailure reports whether an outcome means "this port does not work" (try again,
// then the alternate), as opposed to an answer from the MP.
func portFailure(outcome string) bool {
	switch outcome {
	case metrics.Refused, metrics.Timeout, metrics.Reset, metrics.TLSError, metrics.Error:
		return true
	}
	return false
}
