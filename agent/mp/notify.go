package mp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portlab/portlab/wire"
)

// errTableFull: the long-poll table holds Limits.MaxLongPollClients.
var errTableFull = errors.New("long-poll table full")

// maxPushRecords bounds how many pushes the hub remembers for matching acks.
const maxPushRecords = 1024

// Latency histograms: microseconds, 1 µs to 1 h, 3 significant digits.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// hub delivers pushes to TCP sessions and long-poll clients and matches acks.
type hub struct {
	lim Limits
	wg  *sync.WaitGroup

	mu        sync.Mutex
	sessions  map[*session]struct{}
	lp        map[string]*lpClient
	pushes    map[uint64]*pushRecord
	order     []uint64 // push IDs oldest first, for eviction
	nextID    uint64
	lastSweep time.Time

	// Push→ack latency per transport (http, https, tcp). hdrhistogram is not
	// goroutine-safe; acks are rare next to requests, so one lock guards all three.
	hmu  sync.Mutex
	hist [3]*hdrhistogram.Histogram

	logins       [3]atomic.Uint64 // tcp logins; http/https: new long-poll clients
	held         [3]atomic.Int64  // tcp: sessions open; http/https: polls held now
	pushCount    atomic.Uint64
	delivered    [3]atomic.Uint64
	acks         [3]atomic.Uint64
	dupAcks      atomic.Uint64
	unknownAcks  atomic.Uint64
	queueDropped atomic.Uint64
	lpRefused    atomic.Uint64 // polls of new clients refused: the long-poll table was full
	sessRefused  atomic.Uint64 // notification logins refused: MaxSessions were open
	frameErrors  atomic.Uint64
	writeErrors  atomic.Uint64
}

type session struct {
	conn  net.Conn
	guid  string
	group string
	wmu   sync.Mutex
}

type lpClient struct {
	guid     string
	group    string
	queue    []wire.Push
	wake     chan struct{} // cap 1: a push arrived
	polling  int
	lastSeen time.Time
}

type pushRecord struct {
	sent  time.Time
	acked map[string]struct{} // GUIDs that acked
}

func newHub(lim Limits, wg *sync.WaitGroup) *hub {
	h := &hub{lim: lim, wg: wg, sessions: map[*session]struct{}{}, lp: map[string]*lpClient{}, pushes: map[uint64]*pushRecord{}}
	for i := range h.hist {
		h.hist[i] = hdrhistogram.New(histLowest, histHighest, histDigits)
	}
	return h
}

func groupMatches(target, group string) bool { return target == "" || target == group }

// push queues p for every long-poll client of the group and writes it to every TCP
// session of the group in the background (one slow session cannot hold up the others
// beyond its own write timeout).
func (h *hub) push(id uint64, group, action string) uint64 {
	now := time.Now()
	h.mu.Lock()
	if id == 0 {
		h.nextID++
		id = h.nextID
	} else if id > h.nextID {
		h.nextID = id
	}
	p := wire.Push{ID: id, Action: action, SentNS: now.UnixNano(), Group: group}
	h.pushes[id] = &pushRecord{sent: now, acked: map[string]struct{}{}}
	h.order = append(h.order, id)
	if len(h.order) > maxPushRecords {
		delete(h.pushes, h.order[0])
		h.order = h.order[1:]
	}
	var targets []*session
	for s := range h.sessions {
		if groupMatches(group, s.group) {
			targets = append(targets, s)
		}
	}
	for _, c := range h.lp {
		if !groupMatches(group, c.group) {
			continue
		}
		if len(c.queue) >= h.lim.LongPollQueue {
			c.queue = c.queue[1:]
			h.queueDropped.Add(1)
		}
		c.queue = append(c.queue, p)
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
	h.pushCount.Add(1)
	if len(targets) == 0 {
		return id
	}
	var frame bytes.Buffer
	if err := wire.WriteFrame(&frame, wire.FramePush, p); err != nil {
		h.writeErrors.Add(uint64(len(targets)))
		return id
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.fanOut(targets, frame.Bytes())
	}()
	return id
}

// fanOut writes frame to every session with a bounded number of writers.
func (h *hub) fanOut(targets []*session, frame []byte) {
	const writers = 32
	ch := make(chan *session)
	var wg sync.WaitGroup
	for range min(writers, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				if err := s.write(frame, h.lim.FrameWriteTimeout.D()); err != nil {
					h.writeErrors.Add(1)
					s.conn.Close()
					continue
				}
				h.delivered[transportIndex("tcp")].Add(1)
			}
		}()
	}
	for _, s := range targets {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

func (s *session) write(b []byte, timeout time.Duration) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(b, timeout)
}

// writeLocked is write with s.wmu already held.
func (s *session) writeLocked(b []byte, timeout time.Duration) error {
	s.conn.SetWriteDeadline(deadline(timeout))
	_, err := s.conn.Write(b)
	return err
}

func (s *session) writeFrame(t wire.FrameType, v any, timeout time.Duration) error {
	var b bytes.Buffer
	if err := wire.WriteFrame(&b, t, v); err != nil {
		return err
	}
	return s.write(b.Bytes(), timeout)
}

// ack records an acknowledgement of push id by guid over transport.
func (h *hub) ack(id uint64, guid, transport string) {
	now := time.Now()
	h.mu.Lock()
	rec := h.pushes[id]
	dup := false
	if rec != nil {
		if _, dup = rec.acked[guid]; !dup {
			rec.acked[guid] = struct{}{}
		}
	}
	h.mu.Unlock()
	switch {
	case rec == nil:
		h.unknownAcks.Add(1)
	case dup:
		h.dupAcks.Add(1)
	default:
		t := transportIndex(transport)
		h.acks[t].Add(1)
		us := max(now.Sub(rec.sent).Microseconds(), histLowest)
		h.hmu.Lock()
		h.hist[t].RecordValue(min(us, histHighest))
		h.hmu.Unlock()
	}
}

// poll waits up to wait for a push for guid; false: nothing to deliver (or ctx ended).
func (h *hub) poll(ctx context.Context, guid, group, transport string, wait time.Duration) (wire.Push, bool, error) {
	t := transportIndex(transport)
	now := time.Now()
	h.mu.Lock()
	h.sweepLocked(now)
	c := h.lp[guid]
	if c == nil {
		if len(h.lp) >= h.lim.MaxLongPollClients {
			h.mu.Unlock()
			h.lpRefused.Add(1)
			return wire.Push{}, false, errTableFull
		}
		c = &lpClient{guid: guid, wake: make(chan struct{}, 1)}
		h.lp[guid] = c
		h.logins[t].Add(1)
	}
	c.group = group
	c.polling++
	c.lastSeen = now
	h.mu.Unlock()
	h.held[t].Add(1)
	defer func() {
		h.held[t].Add(-1)
		h.mu.Lock()
		c.polling--
		c.lastSeen = time.Now()
		h.mu.Unlock()
	}()
	var timer *time.Timer
	for {
		h.mu.Lock()
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue = c.queue[1:]
			h.mu.Unlock()
			h.delivered[t].Add(1)
			return p, true, nil
		}
		h.mu.Unlock()
		if timer == nil {
			if wait <= 0 {
				return wire.Push{}, false, nil
			}
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-c.wake:
		case <-timer.C:
			return wire.Push{}, false, nil
		case <-ctx.Done():
			return wire.Push{}, false, nil
		}
	}
}

// sweepLocked forgets long-poll clients not seen for LongPollExpiry, at most a few
// times per expiry period.
func (h *hub) sweepLocked(now time.Time) {
	exp := h.lim.LongPollExpiry.D()
	if now.Sub(h.lastSweep) < exp/4 {
		return
	}
	h.lastSweep = now
	for g, c := range h.lp {
		if c.polling == 0 && now.Sub(c.lastSeen) > exp {
			delete(h.lp, g)
		}
	}
}

// forget drops long-poll clients and their queues (the MP stopped).
func (h *hub) forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for g, c := range h.lp {
		c.queue = nil
		delete(h.lp, g)
	}
}

func (h *hub) addSession(s *session) {
	h.mu.Lock()
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
	h.held[transportIndex("tcp")].Add(1)
	h.logins[transportIndex("tcp")].Add(1)
}

func (h *hub) removeSession(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.held[transportIndex("tcp")].Add(-1)
}

// serveNotify accepts TCP notification sessions on x until its listener closes.
func (s *Server) serveNotify(x *listener) {
	for {
		c, err := x.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		x.mu.Lock()
		if x.closed {
			x.mu.Unlock()
			c.Close()
			return
		}
		x.sessions[c] = struct{}{}
		x.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				x.mu.Lock()
				delete(x.sessions, c)
				x.mu.Unlock()
				c.Close()
			}()
			s.session(c)
		}()
	}
}

// session runs one TCP notification session: Login, then keep-alives and acks. Any
// malformed frame ends the session (only this one).
func (s *Server) session(c net.Conn) {
	lim := s.cfg.Limits
	h := s.hub
	c.SetReadDeadline(deadline(lim.LoginTimeout.D()))
	t, payload, err := wire.ReadFrame(c)
	if err != nil || t != wire.FrameLogin {
		if err == nil || errors.Is(err, wire.ErrFrame) {
			h.frameErrors.Add(1)
		}
		return
	}
	var login wire.Login
	if err := json.Unmarshal(payload, &login); err != nil || login.GUID == "" || len(login.GUID) > lim.MaxGUIDBytes || len(login.Group) > lim.MaxGUIDBytes {
		h.frameErrors.Add(1)
		return
	}
	if h.held[transportIndex("tcp")].Load() >= int64(lim.MaxSessions) {
		h.sessRefused.Add(1)
		return
	}
	sess := &session{conn: c, guid: login.GUID, group: login.Group}
	// In the push list before the client hears LoginOK, so a push sent the moment the
	// client has logged in reaches it; sess.wmu is held from before the session is
	// listed until LoginOK is written, so such a push follows LoginOK on the wire.
	var ok bytes.Buffer
	if err := wire.WriteFrame(&ok, wire.FrameLoginOK, nil); err != nil {
		return
	}
	sess.wmu.Lock()
	h.addSession(sess)
	defer h.removeSession(sess)
	err = sess.writeLocked(ok.Bytes(), lim.FrameWriteTimeout.D())
	sess.wmu.Unlock()
	if err != nil {
		return
	}
	for {
		c.SetReadDeadline(deadline(lim.SessionIdle.D()))
		t, payload, err := wire.ReadFrame(c)
		if err != nil {
			if errors.Is(err, wire.ErrFrame) {
				h.frameErrors.Add(1)
			}
			return
		}
		switch t {
		case wire.FrameKeepAlive:
			if err := sess.writeFrame(wire.FrameKeepAliveOK, nil, lim.FrameWriteTimeout.D()); err != nil {
				return
			}
		case wire.FrameAck:
			var a wire.Ack
			if err := json.Unmarshal(payload, &a); err != nil {
				h.frameErrors.Add(1)
				return
			}
			h.ack(a.ID, sess.guid, "tcp")
		default:
			h.frameErrors.Add(1)
			return
		}
	}
}

// Push sends a notification (action such as "machine-policy") to every client of group
// ("" = every client): at once to logged-in TCP sessions, and into the queue of every
// known long-poll client, delivered on its current or next poll. It returns the push ID
// that acknowledgements carry.
func (s *Server) Push(group, action string) uint64 { return s.hub.push(0, group, action) }

// PushID is Push with the push ID given by the caller: the worker processes of one MP
// (a web garden) each deliver the same push to their own clients under one ID.
func (s *Server) PushID(id uint64, group, action string) uint64 { return s.hub.push(id, group, action) }

// NotifySnapshot are the notification counters. Maps are keyed by transport: tcp
// (sessions on the notification port), http and https (long polling).
type NotifySnapshot struct {
	// Open now: tcp sessions logged in; http/https polls being held.
	Sessions map[string]int64 `json:"sessions"`
	// tcp: logins; http/https: long-poll clients seen for the first time.
	Logins map[string]uint64 `json:"logins"`
	// Long-poll clients known now (polling or between polls).
	LongPollClients int               `json:"long_poll_clients"`
	Pushes          uint64            `json:"pushes"`
	Delivered       map[string]uint64 `json:"delivered"`
	Acks            map[string]uint64 `json:"acks"`
	DuplicateAcks   uint64            `json:"duplicate_acks"`
	UnknownAcks     uint64            `json:"unknown_acks"`
	QueueDropped    uint64            `json:"queue_dropped"`
	// LongPollRefused: polls of new clients refused (503) because the long-poll table
	// held Limits.MaxLongPollClients; SessionsRefused: logins refused at MaxSessions.
	LongPollRefused uint64 `json:"long_poll_refused,omitempty"`
	SessionsRefused uint64 `json:"sessions_refused,omitempty"`
	FrameErrors     uint64 `json:"frame_errors"`
	WriteErrors     uint64 `json:"write_errors"`
	// Push→ack latency by transport of the ack, cumulative.
	Latency map[string]LatencySnapshot `json:"latency"`
}

// LatencySnapshot summarizes one histogram and carries it whole.
type LatencySnapshot struct {
	Count int64 `json:"count"`
	P50us int64 `json:"p50_us"`
	P90us int64 `json:"p90_us"`
	P99us int64 `json:"p99_us"`
	MaxUs int64 `json:"max_us"`
	// HdrHistogram V2 compressed, base64 (values in microseconds); merge, never average.
	Hist string `json:"hist"`
}

func (h *hub) snapshot() NotifySnapshot {
	n := NotifySnapshot{
		Sessions: map[string]int64{}, Logins: map[string]uint64{}, Delivered: map[string]uint64{},
		Acks: map[string]uint64{}, Latency: map[string]LatencySnapshot{},
		Pushes: h.pushCount.Load(), DuplicateAcks: h.dupAcks.Load(), UnknownAcks: h.unknownAcks.Load(),
		QueueDropped: h.queueDropped.Load(), FrameErrors: h.frameErrors.Load(), WriteErrors: h.writeErrors.Load(),
		LongPollRefused: h.lpRefused.Load(), SessionsRefused: h.sessRefused.Load(),
	}
	for i, t := range transportNames {
		n.Sessions[t] = h.held[i].Load()
		n.Logins[t] = h.logins[i].Load()
		n.Delivered[t] = h.delivered[i].Load()
		n.Acks[t] = h.acks[i].Load()
	}
	h.mu.Lock()
	n.LongPollClients = len(h.lp)
	h.mu.Unlock()
	h.hmu.Lock()
	for i, t := range transportNames {
		hg := h.hist[i]
		ls := LatencySnapshot{Count: hg.TotalCount(), P50us: hg.ValueAtQuantile(50), P90us: hg.ValueAtQuantile(90),
			P99us: hg.ValueAtQuantile(99), MaxUs: hg.Max()}
		if ls.Count > 0 { // an empty histogram costs a compression each second for nothing
			if enc, err := hg.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
				ls.Hist = string(enc) // Encode already returns base64 text
			}
		}
		n.Latency[t] = ls
	}
	h.hmu.Unlock()
	return n
}
