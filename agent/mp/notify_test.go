package mp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/portlab/portlab/wire"
)

func lpURL(s *Server, r Role, guid, group, wait string) string {
	return baseURL(s, r) + wire.PathLongPoll + "?" + url.Values{wire.LPParamGUID: {guid}, wire.LPParamGroup: {group}, wire.LPParamWait: {wait}}.Encode()
}

func lpAck(s *Server, r Role, guid string, id uint64) string {
	return baseURL(s, r) + wire.PathLongPoll + "?" + url.Values{wire.LPParamGUID: {guid}, wire.LPParamAck: {strconv.FormatUint(id, 10)}}.Encode()
}

// TestPushReachesEveryTransport: one push reaches a TCP session, an HTTP long poll
// held at push time and an HTTPS long-poll client between polls (queued); each acks;
// acks and latencies are counted per transport; another group gets nothing.
func TestPushReachesEveryTransport(t *testing.T) {
	s := startServer(t, nil)
	c := client(s)
	tcp := tcpLogin(t, s.Addrs().Notification, "tcp-1", "g")
	other := tcpLogin(t, s.Addrs().Notification, "tcp-2", "other")

	// The HTTPS client polls once with nothing to say (204), so the MP knows it.
	if a := do(t, c, "GET", lpURL(s, RoleHTTPS, "lp-https", "g", "0s"), "", nil); a.status != http.StatusNoContent {
		t.Fatalf("empty poll: %d", a.status)
	}
	// The HTTP client's poll is held until the push.
	held := make(chan getResult, 1)
	go func() { held <- do(t, c, "GET", lpURL(s, RoleHTTP, "lp-http", "g", "20s"), "", nil) }()
	waitFor(t, "the HTTP poll to be held", func() bool { return s.Snapshot().Notify.Sessions["http"] == 1 })
	waitFor(t, "the TCP sessions to register", func() bool { return s.Snapshot().Notify.Sessions["tcp"] == 2 })

	id := s.Push("g", "machine-policy")

	p := readPush(t, tcp)
	if p.ID != id || p.Action != "machine-policy" || p.Group != "g" || p.SentNS == 0 {
		t.Fatalf("tcp push %+v", p)
	}
	if err := wire.WriteFrame(tcp, wire.FrameAck, wire.Ack{ID: id}); err != nil {
		t.Fatal(err)
	}
	a := <-held
	var hp wire.Push
	if a.status != 200 || json.Unmarshal(a.body, &hp) != nil || hp.ID != id {
		t.Fatalf("held poll: %d %s", a.status, a.body)
	}
	if a := do(t, c, "GET", lpAck(s, RoleHTTP, "lp-http", id), "", nil); a.status != http.StatusNoContent {
		t.Fatalf("http ack: %d", a.status)
	}
	// The HTTPS client was between polls: its push waits in the queue.
	a = do(t, c, "GET", lpURL(s, RoleHTTPSAlt, "lp-https", "g", "20s"), "", nil)
	if a.status != 200 || json.Unmarshal(a.body, &hp) != nil || hp.ID != id {
		t.Fatalf("queued poll: %d %s", a.status, a.body)
	}
	if a := do(t, c, "GET", lpAck(s, RoleHTTPS, "lp-https", id), "", nil); a.status != http.StatusNoContent {
		t.Fatalf("https ack: %d", a.status)
	}
	// A second ack is a duplicate, an ack of a push never made is unknown.
	do(t, c, "GET", lpAck(s, RoleHTTPS, "lp-https", id), "", nil)
	do(t, c, "GET", lpAck(s, RoleHTTPS, "lp-https", 999), "", nil)
	// The keep-alive round trip on the TCP session proves the ack frame was read.
	if err := wire.WriteFrame(tcp, wire.FrameKeepAlive, nil); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := wire.ReadFrame(tcp); err != nil || typ != wire.FrameKeepAliveOK {
		t.Fatalf("keep-alive: %d %v", typ, err)
	}

	n := s.Snapshot().Notify
	for _, tr := range []string{"tcp", "http", "https"} {
		if n.Acks[tr] != 1 || n.Delivered[tr] != 1 {
			t.Errorf("%s: acks %d delivered %d, want 1 and 1", tr, n.Acks[tr], n.Delivered[tr])
		}
		l := n.Latency[tr]
		if l.Count != 1 || l.MaxUs <= 0 || l.Hist == "" {
			t.Errorf("%s latency %+v", tr, l)
			continue
		}
		h, err := hdrhistogram.Decode([]byte(l.Hist))
		if err != nil || h.TotalCount() != 1 {
			t.Errorf("%s histogram: %v", tr, err)
		}
	}
	if n.Pushes != 1 || n.DuplicateAcks != 1 || n.UnknownAcks != 1 || n.LongPollClients != 2 || n.Logins["tcp"] != 2 {
		t.Errorf("notify counters %+v", n)
	}
	// The other group's session got nothing: its next frame is the keep-alive answer.
	wire.WriteFrame(other, wire.FrameKeepAlive, nil)
	if typ, _, err := wire.ReadFrame(other); err != nil || typ != wire.FrameKeepAliveOK {
		t.Fatalf("other group: frame %d %v (a push leaked?)", typ, err)
	}
}

// TestBrokenSessionAlone: a session sending garbage is closed; others still get pushes.
func TestBrokenSessionAlone(t *testing.T) {
	s := startServer(t, nil)
	good := tcpLogin(t, s.Addrs().Notification, "good", "g")
	bad := tcpLogin(t, s.Addrs().Notification, "bad", "g")
	bad.Write([]byte{0x42, 0xff, 0xff, 0xff, 0xff}) // unknown type, huge length
	if _, _, err := wire.ReadFrame(bad); err == nil {
		t.Fatal("broken session not closed")
	}
	id := s.Push("", "machine-policy")
	if p := readPush(t, good); p.ID != id {
		t.Fatalf("good session got %+v", p)
	}
	if s.Snapshot().Notify.FrameErrors != 1 {
		t.Fatalf("frame errors %+v", s.Snapshot().Notify)
	}
}

// A push sent the moment a client has its LoginOK reaches it: the session is in the
// push list before LoginOK goes out (it used to be added after, and a push in between
// was lost), and the push frame follows LoginOK on the wire.
func TestPushRightAfterLogin(t *testing.T) {
	s := startServer(t, nil)
	for i := range 300 {
		g := "g" + strconv.Itoa(i)
		c := tcpLogin(t, s.Addrs().Notification, "guid-"+g, g)
		id := s.Push(g, "machine-policy")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		typ, payload, err := wire.ReadFrame(c)
		if err != nil || typ != wire.FramePush {
			t.Fatalf("login %d: push %d not delivered: type %d err %v", i, id, typ, err)
		}
		var p wire.Push
		if err := json.Unmarshal(payload, &p); err != nil || p.ID != id {
			t.Fatalf("login %d: got %+v (%v), want push %d", i, p, err, id)
		}
		c.Close()
	}
}
