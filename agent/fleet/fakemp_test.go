package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// fakeMP is a small management point for these tests (agent/mp is the real fake):
// HTTP request ports it can open and close, a notification port, pushes, and a stall.
type fakeMP struct {
	fatalf func(string, ...any)
	name   string
	ip     netip.Addr
	srv    *http.Server

	mu        sync.Mutex
	ls        map[int]net.Listener
	hits      map[int]map[netip.Addr]int // port -> source address -> requests
	pushes    []wire.Push
	pushCh    chan struct{} // closed and replaced on every push
	delivered map[string]uint64
	acks      map[uint64]int
	sessions  map[net.Conn]bool
	notif     net.Listener

	bodies int // policy bodies served

	stallFrom, stallTo atomic.Int64 // unix ns: requests in [from, to) wait until to
	logins             atomic.Int64
}

func newFakeMP(t *testing.T, name string) *fakeMP {
	m := makeFakeMP(t.Fatalf, name)
	t.Cleanup(m.close)
	return m
}

func makeFakeMP(fatalf func(string, ...any), name string) *fakeMP {
	m := &fakeMP{fatalf: fatalf, name: name, ip: netip.MustParseAddr("127.0.0.1"), ls: map[int]net.Listener{},
		hits: map[int]map[netip.Addr]int{}, pushCh: make(chan struct{}), delivered: map[string]uint64{},
		acks: map[uint64]int{}, sessions: map[net.Conn]bool{}}
	m.srv = &http.Server{Handler: http.HandlerFunc(m.serve)}
	return m
}

func (m *fakeMP) mp() MP { return MP{Name: m.name, Addr: m.ip} }

// open listens on port (0: any free port) and returns the port.
func (m *fakeMP) open(port int) int {
	var l net.Listener
	var err error
	for try := 0; try < 50; try++ { // a just-closed port can take a moment to free
		l, err = net.Listen("tcp4", netip.AddrPortFrom(m.ip, uint16(port)).String())
		if err == nil || port == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		m.fatalf("fake MP listen %d: %v", port, err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	m.mu.Lock()
	m.ls[p] = l
	m.mu.Unlock()
	go m.srv.Serve(l)
	return p
}

// freePort returns a port nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

func (m *fakeMP) close() {
	m.srv.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.ls {
		l.Close()
	}
	if m.notif != nil {
		m.notif.Close()
	}
	for c := range m.sessions {
		c.Close()
	}
}

func (m *fakeMP) hitsOn(port int) map[netip.Addr]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[netip.Addr]int{}
	for a, n := range m.hits[port] {
		out[a] = n
	}
	return out
}

func (m *fakeMP) serve(w http.ResponseWriter, r *http.Request) {
	la := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr)
	ra, _ := netip.ParseAddrPort(r.RemoteAddr)
	m.mu.Lock()
	if m.hits[la.Port] == nil {
		m.hits[la.Port] = map[netip.Addr]int{}
	}
	m.hits[la.Port][ra.Addr()]++
	m.mu.Unlock()
	wantUA := wire.UserAgent
	if r.Method == wire.MethodCCMPost {
		wantUA = wire.UserAgentCCMPost
	}
	if r.UserAgent() != wantUA {
		http.Error(w, "bad agent "+r.UserAgent(), http.StatusBadRequest)
		return
	}
	if now := time.Now().UnixNano(); now >= m.stallFrom.Load() && now < m.stallTo.Load() {
		time.Sleep(time.Duration(m.stallTo.Load() - now))
	}
	switch {
	case r.URL.Path == wire.PathAut && r.URL.RawQuery == wire.QueryMPList:
		w.Write(wire.AppendMPList(nil, []wire.MPListEntry{{Name: strings.ToUpper(m.name), FQDN: m.name, SiteCode: "PS1", Version: 9141}}))
	case r.URL.Path == wire.PathRequestWinAuth && r.Method == wire.MethodCCMPost:
		io.Copy(io.Discard, r.Body)
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
	case r.URL.Path == wire.PathRequest && r.Method == wire.MethodCCMPost:
		body, _ := io.ReadAll(r.Body)
		h, _, err := wire.ReadMessage(r.Header.Get("Content-Type"), body, wire.Limits{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var doc []byte
		switch h.TargetEndpoint {
		case wire.EndpointRegistration:
			doc = wire.AppendRegistrationReply(nil, &wire.RegistrationReply{SMSID: "GUID:00000000-0000-4000-8000-" + fmt.Sprintf("%012x", len(h.SourceHost))})
		case wire.EndpointPolicy:
			doc = wire.AppendReplyAssignments(nil, &wire.AssignmentReply{Policies: wire.MachinePolicies()[:2]})
		default:
			w.WriteHeader(http.StatusOK)
			return
		}
		rh := wire.ReplyHeader(&h, "{00000000-0000-0000-0000-000000000001}", m.name, time.Now())
		var e wire.Encoder
		out, _ := e.Message(nil, &rh, doc, true)
		w.Header().Set("Content-Type", wire.ContentTypeCCM)
		w.Write(out)
	case r.URL.Path == wire.PathPolicy && r.Method == http.MethodGet:
		m.mu.Lock()
		m.bodies++
		m.mu.Unlock()
		w.Write(make([]byte, 4096))
	case r.URL.Path == wire.PathLongPoll:
		m.longPoll(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (m *fakeMP) longPoll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if a := q.Get(wire.LPParamAck); a != "" {
		id, _ := strconv.ParseUint(a, 10, 64)
		m.mu.Lock()
		m.acks[id]++
		m.mu.Unlock()
		return
	}
	guid := q.Get(wire.LPParamGUID)
	wait, _ := time.ParseDuration(q.Get(wire.LPParamWait))
	deadline := time.NewTimer(min(wait, 2*time.Second))
	defer deadline.Stop()
	for {
		m.mu.Lock()
		var next *wire.Push
		for i := range m.pushes {
			if m.pushes[i].ID > m.delivered[guid] {
				next = &m.pushes[i]
				break
			}
		}
		ch := m.pushCh
		if next != nil {
			m.delivered[guid] = next.ID
		}
		m.mu.Unlock()
		if next != nil {
			json.NewEncoder(w).Encode(next)
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// openNotify serves the notification protocol on a free port.
func (m *fakeMP) openNotify() int {
	l, err := net.Listen("tcp4", netip.AddrPortFrom(m.ip, 0).String())
	if err != nil {
		m.fatalf("%v", err)
	}
	m.mu.Lock()
	m.notif = l
	m.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go m.session(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func (m *fakeMP) session(c net.Conn) {
	defer c.Close()
	t, _, err := wire.ReadFrame(c)
	if err != nil || t != wire.FrameLogin {
		return
	}
	m.mu.Lock()
	m.sessions[c] = true
	m.mu.Unlock()
	defer func() { m.mu.Lock(); delete(m.sessions, c); m.mu.Unlock() }()
	var wmu sync.Mutex
	write := func(t wire.FrameType, v any) error { wmu.Lock(); defer wmu.Unlock(); return wire.WriteFrame(c, t, v) }
	if write(wire.FrameLoginOK, nil) != nil {
		return
	}
	m.logins.Add(1)
	for {
		t, p, err := wire.ReadFrame(c)
		if err != nil {
			return
		}
		switch t {
		case wire.FrameKeepAlive:
			write(wire.FrameKeepAliveOK, nil)
		case wire.FrameAck:
			var a wire.Ack
			json.Unmarshal(p, &a)
			m.mu.Lock()
			m.acks[a.ID]++
			m.mu.Unlock()
		}
	}
}

// push sends a push to every TCP session and queues it for long pollers.
func (m *fakeMP) push(id uint64) {
	p := wire.Push{ID: id, Action: "machine-policy", SentNS: time.Now().UnixNano()}
	m.mu.Lock()
	m.pushes = append(m.pushes, p)
	close(m.pushCh)
	m.pushCh = make(chan struct{})
	var conns []net.Conn
	for c := range m.sessions {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		wire.WriteFrame(c, wire.FramePush, p) // racing keep-alive OKs is fine: whole frames per Write
	}
}

func (m *fakeMP) ackCount(id uint64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acks[id]
}

// dropDial is a DialFunc whose connections to the dropped ports never complete: it
// waits out the connect timeout, as a dropped SYN would, and fails with a timeout.
func dropDial(dropped ...int) DialFunc {
	return func(ctx context.Context, local netip.Addr, remote netip.AddrPort, timeout time.Duration) (net.Conn, error) {
		for _, p := range dropped {
			if int(remote.Port()) == p {
				t := time.NewTimer(timeout)
				defer t.Stop()
				select {
				case <-t.C:
					return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errDropped{}}
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		return Dial(ctx, local, remote, timeout)
	}
}

type errDropped struct{}

func (errDropped) Error() string   { return "i/o timeout (simulated drop)" }
func (errDropped) Timeout() bool   { return true }
func (errDropped) Temporary() bool { return true }

var _ = errors.New
