package mp

import (
	"bytes"
	"context"
	byteorder "encoding/binary"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portlab/portlab/wire"
)

// CCM_POST: the client messaging endpoints, as a real MP answers them.
//
//	/ccm_system_windowsauth/request  anonymous: 401 (WWW-Authenticate: Negotiate, NTLM);
//	                                 NTLM negotiate → 401 + challenge; authenticate → served
//	/ccm_system/request              served anonymously
//	/ccm_system_altauth/request      served on HTTPS; 403 on HTTP (HTTPS-enforced sites)
//
// A served message is read with wire's codec (bounded), dispatched on its target
// endpoint, and answered in the same layout: registration assigns an SMSID; policy
// answers the assignments (encoded once for every client); location answers site
// information or content location; heartbeat DDRs and status messages are accepted.

// bufs hold reply bodies while they are written.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// decoders read request messages into buffers they keep.
var decoders = sync.Pool{New: func() any { return new(wire.Decoder) }}

// encoders encode the replies that differ per client (registration).
var encoders = sync.Pool{New: func() any { return new(wire.Encoder) }}

func (s *Server) ccmPost(x *listener, w http.ResponseWriter, r *http.Request) string {
	switch r.URL.Path {
	case wire.PathRequestWinAuth:
		if !s.windowsAuth(w, r) {
			return LabelWindowsAuth
		}
	case wire.PathRequestAltAuth:
		if x.transport != "https" {
			http.Error(w, "SSL required", http.StatusForbidden) // IIS 403.4
			return LabelRequest
		}
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return LabelRequest
	}
	// At most MaxInflate messages are read (inflated) at once, so a burst of large
	// compressed bodies cannot take the MP's memory: the rest wait their turn.
	select {
	case s.inflating <- struct{}{}:
	default:
		s.st.inflateWaits.Add(1)
		select {
		case s.inflating <- struct{}{}:
		case <-r.Context().Done():
			return LabelRequest
		}
	}
	defer func() { <-s.inflating }()
	d := decoders.Get().(*wire.Decoder)
	defer decoders.Put(d)
	h, payload, err := d.Decode(r.Header.Get("Content-Type"), body, s.lim)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return LabelRequest
	}
	label := h.TargetEndpoint
	var reply wire.EncodedPayload
	var enc *wire.Encoder
	switch h.TargetEndpoint {
	case wire.EndpointRegistration:
		req, err := wire.ParseRegistrationRequest(payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return label
		}
		smsid := s.reg.assign(req)
		enc = encoders.Get().(*wire.Encoder)
		defer encoders.Put(enc)
		db := bufs.Get().(*[]byte)
		defer bufs.Put(db)
		*db = wire.AppendRegistrationReply((*db)[:0], &wire.RegistrationReply{SMSID: smsid, Status: 0, ApprovalStatus: 1, TimeStamp: time.Now()})
		if reply, err = enc.Payload(*db, true); err != nil {
			http.Error(w, "encode reply: "+err.Error(), http.StatusInternalServerError)
			return label
		}
	case wire.EndpointPolicy:
		req, err := wire.ParseRequestAssignments(payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return label
		}
		s.reg.seen(req.ClientID)
		reply = s.static.Load().assignments
	case wire.EndpointLocation:
		switch rootElement(payload) {
		case "SiteInformationRequest":
			reply = s.static.Load().siteInfo
		case "ContentLocationRequest":
			reply = s.static.Load().contentLoc
		default:
			http.Error(w, "unknown location request", http.StatusBadRequest)
			return label
		}
	case wire.EndpointDdrEndpoint, wire.EndpointStatusReceiver:
		if _, err := wire.ParseReport(payload); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return label
		}
	default:
		http.Error(w, "unknown target endpoint", http.StatusNotFound)
		return LabelUnknownEP
	}
	if fail := s.serve(r); fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return label
	}
	if reply.Bytes() == nil { // accepted, nothing to say (DDR, status)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return label
	}
	bp := bufs.Get().(*[]byte)
	rh := wire.ReplyHeader(&h, s.ids.guid(), s.cfg.Name, time.Now())
	out := wire.AppendMessage((*bp)[:0], &rh, reply)
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeCCM
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	if cap(out) <= 64<<10 { // keep ordinary buffers, drop a rare large one
		*bp = out[:0]
		bufs.Put(bp)
	}
	return label
}

var contentTypeCCM = []string{wire.ContentTypeCCM}

// rootElement is the name of an XML document's root element ("" if none).
func rootElement(doc []byte) string {
	for {
		i := bytes.IndexByte(doc, '<')
		if i < 0 || i+1 >= len(doc) {
			return ""
		}
		doc = doc[i+1:]
		if doc[0] == '?' || doc[0] == '!' { // declaration, comment
			continue
		}
		end := bytes.IndexAny(doc, " \t\r\n/>")
		if end < 0 {
			return ""
		}
		return string(doc[:end])
	}
}

// connState is one client connection's NTLM state: NTLM authenticates the
// connection, not the request (negotiate, challenge and authenticate travel on one
// keep-alive connection).
type connState struct {
	challenged bool
	authed     bool
	account    string
}

type connStateKey struct{}

// connContext gives every connection its NTLM state.
func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connStateKey{}, &connState{})
}

// windowsAuth runs the NTLM handshake of /ccm_system_windowsauth/request. It reports
// whether the request is authenticated (serve it); otherwise the 401 is written.
func (s *Server) windowsAuth(w http.ResponseWriter, r *http.Request) bool {
	cs, _ := r.Context().Value(connStateKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	if cs.authed {
		return true
	}
	deny := func() bool {
		// The client sends the message with each leg: read it so the connection stays
		// usable for the next one.
		io.Copy(io.Discard, io.LimitReader(r.Body, s.cfg.Limits.MaxBodyBytes))
		h := w.Header()
		if len(h.Values("WWW-Authenticate")) == 0 {
			for _, o := range wire.AuthOffers() {
				h.Add("WWW-Authenticate", o)
			}
		}
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	v := r.Header.Get("Authorization")
	if v == "" {
		s.auth.anonymous.Add(1)
		return deny()
	}
	tok, err := wire.ParseAuthHeader(v)
	if err != nil || len(tok.NTLM) < 12 {
		s.auth.refused.Add(1)
		return deny()
	}
	switch byteorder.LittleEndian.Uint32(tok.NTLM[8:12]) {
	case 1: // NEGOTIATE
		neg, err := wire.ParseNegotiate(tok.NTLM)
		if err != nil {
			s.auth.refused.Add(1)
			return deny()
		}
		ch, err := wire.NewChallenge(&neg, &s.ntlmCfg)
		if err != nil {
			s.auth.refused.Add(1)
			return deny()
		}
		cs.challenged = true
		s.auth.challenges.Add(1)
		msg := ch.Message
		if tok.SPNEGO {
			msg = wire.SPNEGOResponse(msg, wire.SPNEGOAcceptIncomplete)
		}
		w.Header().Set("WWW-Authenticate", wire.AuthHeaderValue(tok.Scheme, msg))
		return deny()
	case 3: // AUTHENTICATE
		a, err := wire.ParseAuthenticate(tok.NTLM)
		if err != nil || !cs.challenged || !s.accountAllowed(&a) {
			s.auth.refused.Add(1)
			cs.challenged = false
			return deny()
		}
		cs.authed, cs.account = true, a.Account()
		s.auth.authenticated.Add(1)
		if tok.SPNEGO {
			w.Header().Set("WWW-Authenticate", wire.AuthHeaderValue(tok.Scheme, wire.SPNEGOResponse(nil, wire.SPNEGOAcceptCompleted)))
		}
		return true
	}
	s.auth.refused.Add(1)
	return deny()
}

// accountAllowed: any account unless the configuration lists them (by NAME$ or
// DOMAIN\NAME$, case-insensitive).
func (s *Server) accountAllowed(a *wire.Authenticate) bool {
	if len(s.cfg.Accounts) == 0 {
		return true
	}
	for _, acc := range s.cfg.Accounts {
		if strings.EqualFold(acc, a.User) || strings.EqualFold(acc, a.Account()) {
			return true
		}
	}
	return false
}

// authStats count the windowsauth handshakes.
type authStats struct {
	anonymous, challenges, authenticated, refused atomic.Uint64
}

// AuthSnapshot are the windowsauth counters.
type AuthSnapshot struct {
	Anonymous     uint64 `json:"anonymous_401"` // answered 401 with the offers
	Challenges    uint64 `json:"challenges"`    // NTLM negotiate answered with a challenge
	Authenticated uint64 `json:"authenticated"` // connections authenticated
	Refused       uint64 `json:"refused"`       // malformed, out-of-order or unlisted accounts
}

func (a *authStats) snapshot() AuthSnapshot {
	return AuthSnapshot{Anonymous: a.anonymous.Load(), Challenges: a.challenges.Load(),
		Authenticated: a.authenticated.Load(), Refused: a.refused.Load()}
}

// registry assigns and remembers SMSIDs. An SMSID is a pure function of the MP's seed
// and the client's name, so a client that registers again (or with another MP of the
// same seed) gets the same one; the table remembers who registered, up to a bound.
type registry struct {
	seed uint64
	max  int

	mu        sync.Mutex
	clients   map[string]struct{} // SMSIDs registered
	forgotten atomic.Uint64       // registrations not remembered: the table was full
	unknown   atomic.Uint64       // policy requests from SMSIDs that never registered here
}

func newRegistry(seed int64, max int) *registry {
	return &registry{seed: uint64(seed), max: max, clients: map[string]struct{}{}}
}

// assign returns the SMSID of the registering client and remembers it.
func (g *registry) assign(req wire.RegistrationRequest) string {
	key := req.FQDN
	if key == "" {
		key = req.NetBIOSName
	}
	smsid := req.SMSID
	if smsid == "" {
		smsid = g.smsid(strings.ToUpper(key))
	}
	g.mu.Lock()
	if _, ok := g.clients[smsid]; !ok {
		if len(g.clients) < g.max {
			g.clients[smsid] = struct{}{}
		} else {
			g.forgotten.Add(1)
		}
	}
	g.mu.Unlock()
	return smsid
}

// seen counts a policy request from a client that did not register here.
func (g *registry) seen(smsid string) {
	g.mu.Lock()
	_, ok := g.clients[smsid]
	g.mu.Unlock()
	if !ok {
		g.unknown.Add(1)
	}
}

func (g *registry) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.clients)
}

// smsid derives GUID:xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx from the seed and key.
func (g *registry) smsid(key string) string {
	h := fnv.New128a()
	var s [8]byte
	byteorder.LittleEndian.PutUint64(s[:], g.seed)
	h.Write(s[:])
	h.Write([]byte(key))
	var b [16]byte
	h.Sum(b[:0])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant
	guid := wire.AppendGUID(nil, b)
	return "GUID:" + string(guid[1:len(guid)-1])
}

// RegistrySnapshot counts the registrations the MP holds.
type RegistrySnapshot struct {
	Registered int    `json:"registered"`
	Forgotten  uint64 `json:"forgotten,omitempty"`       // registrations over the table's bound
	Unknown    uint64 `json:"unknown_clients,omitempty"` // policy requests from unregistered SMSIDs
}

// ids makes message IDs: random, braced GUIDs.
type idSource struct{}

func (idSource) guid() string {
	var b [16]byte
	byteorder.LittleEndian.PutUint64(b[:8], rand.Uint64())
	byteorder.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return string(wire.AppendGUID(nil, b))
}
