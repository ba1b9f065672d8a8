package fleet

import (
	"encoding/binary"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portlab/portlab/wire"
)

// The requests of one client cycle, as a real ConfigMgr client sends them (wire's codec):
//
//	location      GET  /SMS_MP/.sms_aut?MPLIST                      (until located)
//	registration  CCM_POST /ccm_system_windowsauth/request → 401     (once: the SMSID)
//	              CCM_POST /ccm_system/request  MP_ClientRegistration
//	policy        CCM_POST /ccm_system_windowsauth/request → 401
//	              CCM_POST /ccm_system/request  MP_PolicyManager RequestAssignments
//	policy_body   GET  /SMS_MP/.sms_pol?{id}.{version}              (each assigned policy
//	                                                                  not yet downloaded)
//	heartbeat     CCM_POST windowsauth → 401, then /ccm_system/request MP_DdrEndpoint
//	                                                                 (when due)
//
// CCM_POSTs carry User-Agent ccmhttp, GETs SMS CCM 5.0. Every message is compressed
// (the zlib-compress hook) as real clients send them; the windowsauth leg carries the
// same body, as the client's first try does.

// messages builds the fleet's CCM_POST bodies. Encoders are pooled: a cycle goroutine
// takes one for its message and gives it back.
type messages struct {
	domain string
	site   string
	enc    sync.Pool // *wire.Encoder
	docs   sync.Pool // *[]byte, the payload documents
}

func newMessages(domain, site string) *messages {
	m := &messages{domain: domain, site: site}
	m.enc.New = func() any { return new(wire.Encoder) }
	m.docs.New = func() any { b := make([]byte, 0, 2048); return &b }
	return m
}

// names of a client on the wire: its NetBIOS name and FQDN.
func (m *messages) names(c *client) (netbios, fqdn string) {
	netbios = "CLIENT" + strconv.Itoa(c.index)
	fqdn = strings.ToLower(netbios)
	if m.domain != "" {
		fqdn += "." + m.domain
	}
	return netbios, fqdn
}

// post returns the two requests of one message: the windowsauth try (answered 401 to
// an anonymous client) and the anonymous post, on one connection. payload is the
// message's encoded payload.
func (m *messages) post(c *client, mp *MP, endpoint, smsid string, https bool, payload wire.EncodedPayload) []request {
	netbios, _ := m.names(c)
	h := wire.RequestHeader(endpoint, netbios, strings.ToUpper(mp.Name), https)
	h.ID = messageID()
	h.SourceID = smsid
	h.SentTime = time.Now()
	if smsid != "" && endpoint != wire.EndpointRegistration {
		h.ClientAuth = wire.PlaceholderClientAuth(netbios)
	}
	body := wire.AppendMessage(make([]byte, 0, 1536+len(payload.Bytes())), &h, payload)
	return []request{
		{method: wire.MethodCCMPost, path: wire.PathRequestWinAuth, ctype: wire.ContentTypeCCM, body: body, allow401: true},
		{method: wire.MethodCCMPost, path: wire.PathRequest, ctype: wire.ContentTypeCCM, body: body},
	}
}

// encode encodes a payload document built by doc; keep true returns bytes the caller
// owns (to reuse across messages), false bytes valid until the next encode.
func (m *messages) encode(c *client, keep bool, doc func(dst []byte, netbios, fqdn string) []byte) (wire.EncodedPayload, func(), error) {
	netbios, fqdn := m.names(c)
	dp := m.docs.Get().(*[]byte)
	*dp = doc((*dp)[:0], netbios, fqdn)
	defer m.docs.Put(dp)
	if keep {
		p, err := wire.EncodePayload(*dp, true)
		return p, func() {}, err
	}
	e := m.enc.Get().(*wire.Encoder)
	p, err := e.Payload(*dp, true)
	return p, func() { m.enc.Put(e) }, err
}

// message builds the requests of a message whose payload differs every time.
func (m *messages) message(c *client, mp *MP, endpoint, smsid string, https bool, doc func(dst []byte, netbios, fqdn string) []byte) ([]request, error) {
	p, done, err := m.encode(c, false, doc)
	if err != nil {
		return nil, err
	}
	defer done()
	return m.post(c, mp, endpoint, smsid, https, p), nil
}

func (m *messages) registration(c *client, mp *MP, https bool) ([]request, error) {
	return m.message(c, mp, wire.EndpointRegistration, "", https, func(dst []byte, netbios, fqdn string) []byte {
		return wire.AppendRegistrationRequest(dst, &wire.RegistrationRequest{NetBIOSName: netbios, FQDN: fqdn, TimeStamp: time.Now()})
	})
}

// policyPayload is a client's RequestAssignments payload: the same every cycle (its
// SMSID and names), so a client encodes and compresses it once.
func (m *messages) policyPayload(c *client, smsid string) (wire.EncodedPayload, error) {
	p, _, err := m.encode(c, true, func(dst []byte, netbios, fqdn string) []byte {
		return wire.AppendRequestAssignments(dst, &wire.AssignmentRequest{ClientID: smsid, FQDN: fqdn, NetBIOSName: netbios, PolicySource: "SMS:" + m.site})
	})
	return p, err
}

func (m *messages) policy(c *client, mp *MP, smsid string, https bool) ([]request, error) {
	p, err := m.policyPayload(c, smsid)
	if err != nil {
		return nil, err
	}
	return m.post(c, mp, wire.EndpointPolicy, smsid, https, p), nil
}

func (m *messages) heartbeat(c *client, mp *MP, smsid string, https bool) ([]request, error) {
	return m.message(c, mp, wire.EndpointDdrEndpoint, smsid, https, func(dst []byte, netbios, fqdn string) []byte {
		return wire.AppendHeartbeatDDR(dst, &wire.HeartbeatDDR{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: netbios},
			Date: time.Now(), FQDN: fqdn, Domain: m.domain, SiteCode: m.site, IP: c.addr.String()})
	})
}

// replies remembers the policy assignments of reply payloads already decoded: an MP's
// assignment reply is the same bytes for every client, and decoding it again each
// cycle is the load generator's work, not the client's. Bounded; safe for concurrent
// use.
type replies struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64][]wire.Policy
}

func newReplies() *replies { return &replies{seed: maphash.MakeSeed(), m: map[uint64][]wire.Policy{}} }

// policies returns the assignments of a policy reply body.
func (r *replies) policies(body []byte) ([]wire.Policy, error) {
	part, err := wire.PayloadPart(wire.ContentTypeCCM, body)
	if err != nil {
		return nil, err
	}
	key := maphash.Bytes(r.seed, part)
	r.mu.Lock()
	ps, ok := r.m[key]
	r.mu.Unlock()
	if ok {
		return ps, nil
	}
	_, payload, err := wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	if err != nil {
		return nil, err
	}
	if ps, err = wire.AppendPolicies(nil, payload); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.m) < 64 {
		r.m[key] = ps
	}
	r.mu.Unlock()
	return ps, nil
}

// mplist is the location request.
var mplist = request{method: http.MethodGet, path: wire.PathAut + "?" + wire.QueryMPList}

// policyBodies are the GETs of the assigned policies whose versions the client has not
// downloaded; a policy location's <mp> is the MP the client talks to, so only the path
// and query of the location are used.
func policyBodies(policies []wire.Policy) []request {
	reqs := make([]request, 0, len(policies))
	for _, p := range policies {
		loc := wire.ExpandMP(p.Location, "")
		if i := strings.Index(loc, wire.PathPolicy); i >= 0 {
			loc = loc[i:]
		}
		reqs = append(reqs, request{method: http.MethodGet, path: loc})
	}
	return reqs
}

// policySet identifies a list of assignments (ids and versions): a client downloads
// bodies only when it changes, as a real client re-downloads only new versions.
func policySet(policies []wire.Policy) uint64 {
	h := uint64(14695981039346656037)
	for _, p := range policies {
		for _, s := range []string{p.ID, "@", p.Version, ";"} {
			for i := 0; i < len(s); i++ {
				h ^= uint64(s[i])
				h *= 1099511628211
			}
		}
	}
	return h
}

// messageID is a fresh random {GUID} for one message (safe from any goroutine).
func messageID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return string(wire.AppendGUID(nil, b))
}
