package fleet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/wire"
)

// notifyParams is what a client's notification goroutine needs, copied from the client
// when the worker starts it (a reconfiguration restarts it).
type notifyParams struct {
	c         *client // identity only: the goroutine never touches its mutable state
	g         *Group
	mode      string // tcp, http, https
	mp        MP
	notifPort int
	lpScheme  string
	lpPorts   []int // request ports for long polling, in order of preference
}

// notifyEvent is what the notification goroutine tells the worker.
type notifyEvent struct {
	push      *wire.Push
	pushLat   time.Duration
	transport string // tcp, http, https
	port      int
	attempt   *attempt // a long poll or login, to record
	session   string   // when non-empty: the transport now in use ("none" when it failed)
}

// runNotify keeps the client's notification channel until ctx ends: a TCP session to
// the notification port with keep-alives; when that fails, long polling over HTTP(S),
// trying TCP again every TCPRetry. Modes http and https long-poll only.
func (f *Fleet) runNotify(ctx context.Context, p notifyParams, send func(notifyEvent)) {
	var lastLP time.Time
	for ctx.Err() == nil {
		if p.mode == "tcp" {
			f.runTCPSession(ctx, p, send)
			if ctx.Err() != nil {
				return
			}
			send(notifyEvent{session: p.lpScheme})
			f.longPoll(ctx, p, send, time.Now().Add(p.g.TCPRetry.D()))
			continue
		}
		// Long polling only; a short pause if polls fail back to back.
		if time.Since(lastLP) < time.Second {
			sleepCtx(ctx, time.Second)
		}
		lastLP = time.Now()
		send(notifyEvent{session: p.mode})
		f.longPoll(ctx, p, send, time.Time{})
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runTCPSession runs one TCP notification session and returns when it fails.
func (f *Fleet) runTCPSession(ctx context.Context, p notifyParams, send func(notifyEvent)) {
	c := p.c
	start := time.Now()
	conn, err := f.conn.dial(ctx, c.addr, netip.AddrPortFrom(p.mp.Addr, uint16(p.notifPort)), p.g.ConnectTimeout.D())
	rec := func(err error) {
		now := time.Now()
		send(notifyEvent{attempt: &attempt{op: metrics.OpNotifyLogin, outcome: classify(err), port: p.notifPort,
			mp: p.mp.Name, latency: now.Sub(start), service: now.Sub(start)}, transport: "tcp"})
	}
	if err != nil {
		if ctx.Err() == nil {
			rec(err)
		}
		return
	}
	defer conn.Close()
	// Close, not a past deadline: the loop below keeps moving its read deadline.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(p.g.ConnectTimeout.D()))
	if err := wire.WriteFrame(conn, wire.FrameLogin, wire.Login{GUID: c.guid, Group: c.g.Name}); err != nil {
		rec(err)
		return
	}
	if t, _, err := readFrame(conn, nil); err != nil || t != wire.FrameLoginOK {
		if err == nil {
			err = fmt.Errorf("%w: frame %d instead of LoginOK", wire.ErrFrame, t)
		}
		if ctx.Err() == nil {
			rec(err)
		}
		return
	}
	rec(nil)
	send(notifyEvent{session: "tcp"})
	ka := p.g.KeepAlive.D()
	outstanding := 0
	var hdr [5]byte
	for {
		conn.SetReadDeadline(time.Now().Add(ka))
		t, payload, err := readFrame(conn, hdr[:])
		if errors.Is(err, errIdle) {
			// Quiet for a keep-alive interval: say we are here; two unanswered
			// keep-alives end the session.
			if outstanding >= 2 {
				return
			}
			conn.SetWriteDeadline(time.Now().Add(p.g.ConnectTimeout.D()))
			if wire.WriteFrame(conn, wire.FrameKeepAlive, nil) != nil {
				return
			}
			outstanding++
			continue
		}
		if err != nil {
			return
		}
		switch t {
		case wire.FrameKeepAliveOK:
			outstanding = 0
		case wire.FramePush:
			var push wire.Push
			if json.Unmarshal(payload, &push) != nil {
				return
			}
			conn.SetWriteDeadline(time.Now().Add(p.g.ConnectTimeout.D()))
			if wire.WriteFrame(conn, wire.FrameAck, wire.Ack{ID: push.ID}) != nil {
				return
			}
			send(notifyEvent{push: &push, pushLat: time.Since(time.Unix(0, push.SentNS)), transport: "tcp", port: p.notifPort})
		}
	}
}

// errIdle: nothing arrived within the read deadline, and nothing was half read.
var errIdle = errors.New("idle")

// readFrame reads a frame like wire.ReadFrame but tells an idle timeout (no byte of a
// new frame read) from a broken stream. hdr is scratch space (nil: allocate).
func readFrame(conn net.Conn, hdr []byte) (wire.FrameType, []byte, error) {
	if hdr == nil {
		hdr = make([]byte, 5)
	}
	n, err := io.ReadFull(conn, hdr[:5])
	if err != nil {
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil, errIdle
		}
		return 0, nil, err
	}
	t := wire.FrameType(hdr[0])
	l := binary.BigEndian.Uint32(hdr[1:5])
	if t < wire.FrameLogin || t > wire.FrameAck || l > wire.MaxFrame {
		return 0, nil, fmt.Errorf("%w: type %d length %d", wire.ErrFrame, t, l)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	payload := make([]byte, l)
	if _, err := io.ReadFull(conn, payload); err != nil {
		return 0, nil, err
	}
	return t, payload, nil
}

// longPoll polls /bgb/handler.ashx until ctx ends or until (if non-zero). Each poll is
// recorded as a longpoll request; a 200 carries a push, acknowledged with ?ack=ID.
func (f *Fleet) longPoll(ctx context.Context, p notifyParams, send func(notifyEvent), until time.Time) {
	c := p.c
	var h *httpConn
	defer func() { h.close() }()
	pi := 0
	fails := 0
	q := url.Values{wire.LPParamGUID: {c.guid}, wire.LPParamGroup: {c.g.Name}, wire.LPParamWait: {p.g.LongPollWait.D().String()}}
	path := wire.PathLongPoll + "?" + q.Encode()
	host := p.mp.Name
	timeout := p.g.LongPollWait.D() + p.g.RequestTimeout.D()
	for ctx.Err() == nil && (until.IsZero() || time.Now().Before(until)) {
		port := p.lpPorts[pi%len(p.lpPorts)]
		start := time.Now()
		var err error
		if h == nil || h.port != port {
			h.close()
			h, err = f.conn.open(ctx, c.addr, &p.mp, port, p.lpScheme, p.g.ConnectTimeout.D())
		}
		var status int
		var body []byte
		keep := false
		if err == nil {
			status, body, keep, err = f.conn.do(ctx, h, host, request{method: http.MethodGet, path: path}, timeout)
		}
		if ctx.Err() != nil {
			return
		}
		end := time.Now()
		send(notifyEvent{attempt: &attempt{op: metrics.OpLongPoll, outcome: classify(err), port: port, mp: p.mp.Name,
			latency: end.Sub(start), service: end.Sub(start)}, transport: p.lpScheme})
		if !keep && h != nil {
			h.close()
			h = nil
		}
		if err != nil {
			h.close()
			h = nil
			fails++
			if portFailure(classify(err)) {
				pi++ // next time the alternate, if there is one
			}
			sleepCtx(ctx, min(time.Duration(fails)*500*time.Millisecond, 5*time.Second))
			continue
		}
		fails = 0
		if status != http.StatusOK {
			continue // 204: nothing to deliver
		}
		var push wire.Push
		if json.Unmarshal(body, &push) != nil {
			continue
		}
		ack := wire.PathLongPoll + "?" + url.Values{wire.LPParamGUID: {c.guid}, wire.LPParamAck: {strconv.FormatUint(push.ID, 10)}}.Encode()
		if h == nil {
			if h, err = f.conn.open(ctx, c.addr, &p.mp, port, p.lpScheme, p.g.ConnectTimeout.D()); err != nil {
				continue
			}
		}
		if _, _, keep, err = f.conn.do(ctx, h, host, request{method: http.MethodGet, path: ack}, p.g.RequestTimeout.D()); err != nil || !keep {
			h.close()
			h = nil
		}
		if err == nil {
			send(notifyEvent{push: &push, pushLat: time.Since(time.Unix(0, push.SentNS)), transport: p.lpScheme, port: port})
		}
	}
}
