package mp

import (
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
)

// Endpoint labels in the request counters, as an administrator reads an IIS log: the
// location query or endpoint a request asked for (CCM_POST messages are counted under
// their target endpoint, MP_ClientRegistration and the like).
const (
	LabelMPList      = wire.QueryMPList // MPLIST, MPLIST1 and MPLIST2
	LabelMPCert      = wire.QueryMPCert
	LabelSiteSign    = wire.QuerySiteSign
	LabelMPKeyInfo   = wire.QueryMPKeyInfo // and its EX variant
	LabelMediaKey    = wire.QueryMPKeyInfoMedia
	LabelAffinity    = wire.QueryClientAffinity
	LabelPolicyBody  = "sms_pol"
	LabelLongPoll    = "long_poll"
	LabelLongPollAck = "long_poll_ack"
	LabelBITS        = "bits"
	LabelPropfind    = "propfind"
	LabelWindowsAuth = "windowsauth"      // /ccm_system_windowsauth/request answered 401 (the NTLM legs)
	LabelRequest     = "request"          // a CCM_POST whose message was not read (400, 413) or HEAD/PROPFIND on a request path
	LabelUnknown     = "unknown"          // unknown path or query (404), verb not allowed (405)
	LabelUnknownEP   = "unknown_endpoint" // a CCM message to an endpoint the MP does not serve (404)
)

// routes: the verbs each path answers. Verbs outside wire.AllowedMethods get 405 on any
// path; a known verb on a path that does not take it gets 405 too.
var routeMethods = map[string][]string{
	wire.PathAut:            {http.MethodGet, http.MethodHead, wire.MethodPropfind},
	wire.PathPolicy:         {http.MethodGet, http.MethodHead, wire.MethodPropfind},
	wire.PathRequest:        {wire.MethodCCMPost, wire.MethodBITSPost, http.MethodHead, wire.MethodPropfind},
	wire.PathRequestWinAuth: {wire.MethodCCMPost, wire.MethodBITSPost, http.MethodHead, wire.MethodPropfind},
	wire.PathRequestAltAuth: {wire.MethodCCMPost, wire.MethodBITSPost, http.MethodHead, wire.MethodPropfind},
	wire.PathLongPoll:       {http.MethodGet, http.MethodHead},
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handler serves every request path of listener x and counts the answer.
func (s *Server) handler(x *listener) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		sw.Header()["Server"] = serverHeader
		label := s.route(x, sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.st.countRequest(reqKey{endpoint: label, port: x.port, transport: x.transport, status: sw.status})
	})
}

// serverHeader is what IIS 10 sends; a shared slice, so setting it allocates nothing.
var serverHeader = []string{"Microsoft-IIS/10.0"}

// answer is a GET/HEAD answer: a body and its content type.
type answer struct {
	label       string
	body        []byte
	contentType string
}

func (s *Server) route(x *listener, w http.ResponseWriter, r *http.Request) string {
	methods, known := routeMethods[r.URL.Path]
	if !slices.Contains(wire.AllowedMethods, r.Method) {
		w.Header().Set("Allow", strings.Join(wire.AllowedMethods, ", "))
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return LabelUnknown
	}
	if !known {
		http.Error(w, "not found", http.StatusNotFound)
		return LabelUnknown
	}
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return LabelUnknown
	}
	switch {
	case r.URL.Path == wire.PathLongPoll && r.Method == http.MethodGet:
		return s.longPoll(x, w, r)
	case r.Method == wire.MethodCCMPost:
		return s.ccmPost(x, w, r)
	case r.Method == wire.MethodBITSPost:
		return s.bitsPost(w, r)
	case r.Method == wire.MethodPropfind:
		return s.propfind(w, r)
	}
	// GET and HEAD.
	var a answer
	switch r.URL.Path {
	case wire.PathAut:
		var ok bool
		if a, ok = s.aut(r.URL.RawQuery); !ok {
			http.Error(w, "unknown location query", http.StatusNotFound)
			return LabelUnknown
		}
	case wire.PathPolicy:
		var ok bool
		if a, ok = s.policyBody(r.URL.RawQuery); !ok {
			http.Error(w, "no such policy", http.StatusNotFound)
			return LabelPolicyBody
		}
	default: // HEAD on a request or long-poll path
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return LabelRequest
	}
	// The MP works on the request (service time), then may fail it (error rate).
	if fail := s.serve(r); fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return a.label
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.body)
	}
	return a.label
}

// serve spends the service time on a request and draws the injected failure: the
// status to answer instead (500, 503), or 0. A client gone meanwhile gets 503.
func (s *Server) serve(r *http.Request) int {
	d, fail := s.timer.draw()
	if !work(r.Context(), d) {
		return http.StatusServiceUnavailable // the client is gone; nobody reads this
	}
	return fail
}

// aut answers a location query (GET /SMS_MP/.sms_aut?...).
func (s *Server) aut(raw string) (answer, bool) {
	q, err := wire.ParseAutQuery(raw)
	if err != nil {
		return answer{}, false
	}
	st := s.static.Load()
	switch q.Kind {
	case wire.AutMPList, wire.AutMPList1, wire.AutMPList2:
		if q.Site != "" && !strings.EqualFold(q.Site, s.cfg.SiteCode) {
			return answer{LabelMPList, st.emptyList, contentTypeXML}, true // another site: no MP of it here
		}
		return answer{LabelMPList, st.mplist, contentTypeXML}, true
	case wire.AutMPCert:
		return answer{LabelMPCert, st.mpCert, contentTypeXML}, true
	case wire.AutSiteSignCert:
		return answer{LabelSiteSign, st.siteSign, contentTypeXML}, true
	case wire.AutMPKeyInfo:
		return answer{LabelMPKeyInfo, st.keyInfo, contentTypeXML}, true
	case wire.AutMPKeyInfoEx:
		return answer{LabelMPKeyInfo, st.keyInfoEx, contentTypeXML}, true
	case wire.AutMPKeyInfoMedia:
		return answer{LabelMediaKey, st.mediaKey, contentTypeXML}, true
	case wire.AutClientAffinity:
		// No user affinity is modelled: the document names the device, no users.
		return answer{LabelAffinity, wire.AppendClientAffinity(nil, q.SMSID, nil), contentTypeXML}, true
	}
	return answer{}, false
}

// contentTypeXML is what the MP sends its location documents with (unconfirmed: IIS
// serves ccmisapi's answers as text/xml).
const contentTypeXML = "text/xml"

// policyBody answers GET /SMS_MP/.sms_pol?{id}.{version} with the body of a policy the
// MP assigns, at that version.
func (s *Server) policyBody(raw string) (answer, bool) {
	q, err := wire.ParsePolicyQuery(raw)
	if err != nil {
		return answer{}, false
	}
	st := s.static.Load()
	for i, p := range st.policies {
		if strings.EqualFold(p.ID, q.ID) && (q.Version == p.Version || q.Hash != "") {
			return answer{LabelPolicyBody, st.bodies[i], wire.ContentTypePolicyBody}, true
		}
	}
	return answer{}, false
}

// bitsPost acknowledges a BITS upload packet; a session gets an ID.
func (s *Server) bitsPost(w http.ResponseWriter, r *http.Request) string {
	if _, ok := s.readBody(w, r); !ok {
		return LabelBITS
	}
	if fail := s.serve(r); fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return LabelBITS
	}
	w.Header().Set("BITS-Packet-Type", "Ack")
	if strings.EqualFold(r.Header.Get("BITS-Packet-Type"), "Create-Session") {
		w.Header().Set("BITS-Protocol", "{7df0354d-249b-430f-820d-3d2a9bef4931}")
		w.Header().Set("BITS-Session-Id", s.ids.guid())
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return LabelBITS
}

// propfind answers WebDAV's PROPFIND on a known path with a minimal multistatus.
func (s *Server) propfind(w http.ResponseWriter, r *http.Request) string {
	if fail := s.serve(r); fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return LabelPropfind
	}
	body := []byte(xml.Header + `<D:multistatus xmlns:D="DAV:"><D:response><D:href>` + r.URL.Path +
		`</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusMultiStatus)
	w.Write(body)
	return LabelPropfind
}

// readBody reads a request body within Limits.MaxBodyBytes; false: the answer (413 or
// 400) is written.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := s.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	in, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read body", http.StatusBadRequest)
		}
		return nil, false
	}
	return in, true
}

// longPoll serves GET /bgb/handler.ashx: ?ack=ID acknowledges at once (204); otherwise
// the poll is held until a push for the client arrives (200, wire.Push JSON) or the
// wait ends (204).
func (s *Server) longPoll(x *listener, w http.ResponseWriter, r *http.Request) string {
	q := r.URL.Query()
	guid, group := q.Get(wire.LPParamGUID), q.Get(wire.LPParamGroup)
	if guid == "" || len(guid) > s.cfg.Limits.MaxGUIDBytes || len(group) > s.cfg.Limits.MaxGUIDBytes {
		http.Error(w, "missing or oversized guid or group", http.StatusBadRequest)
		return LabelLongPoll
	}
	if a := q.Get(wire.LPParamAck); a != "" {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			http.Error(w, "bad ack", http.StatusBadRequest)
			return LabelLongPollAck
		}
		s.hub.ack(id, guid, x.transport)
		w.WriteHeader(http.StatusNoContent)
		return LabelLongPollAck
	}
	wait := s.cfg.Limits.LongPollMaxWait.D()
	if v := q.Get(wire.LPParamWait); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, "bad wait", http.StatusBadRequest)
			return LabelLongPoll
		}
		wait = min(wait, d)
	}
	// The read and write deadlines were set when the headers were read; a held poll
	// needs its wait on top (an expired read deadline would cancel the request).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(deadline(wait + s.cfg.Limits.ReadTimeout.D()))
	rc.SetWriteDeadline(deadline(wait + s.cfg.Limits.WriteTimeout.D()))
	p, ok, err := s.hub.poll(r.Context(), guid, group, x.transport, wait)
	if err != nil {
		http.Error(w, "too many long-poll clients", http.StatusServiceUnavailable)
		return LabelLongPoll
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return LabelLongPoll
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return LabelLongPoll
}

// buildStatic makes every answer that depends only on the configuration and the
// ports served (SSLState): location documents, policy bodies, the static replies.
func buildStatic(cfg Config, ca *CA, cert tls.Certificate, https bool) (*staticBodies, error) {
	b := &staticBodies{}
	sslState := 0
	if https {
		sslState = 1 // unconfirmed: what an MP with an HTTPS port reports
	}
	entries := []wire.MPListEntry{{Name: strings.ToUpper(cfg.Name), FQDN: cfg.FQDN, SiteCode: cfg.SiteCode, Version: mpBuild, SSLState: sslState}}
	for _, p := range cfg.Peers {
		fqdn := p.FQDN
		if fqdn == "" {
			fqdn = p.Name
		}
		entries = append(entries, wire.MPListEntry{Name: strings.ToUpper(p.Name), FQDN: fqdn, SiteCode: cfg.SiteCode, Version: mpBuild, SSLState: sslState})
	}
	b.mplist = wire.AppendMPList(nil, entries)
	b.emptyList = wire.AppendMPList(nil, nil)
	b.mpCert = wire.AppendX509Certificate(nil, cert.Certificate[0])
	b.siteSign = wire.AppendX509Certificate(nil, ca.Cert.Raw)
	ki := wire.MPKeyInfo{Name: strings.ToUpper(cfg.Name), FQDN: cfg.FQDN, SiteCode: cfg.SiteCode,
		SigningCert: cert.Certificate[0], EncryptionCert: cert.Certificate[0]}
	b.keyInfo = wire.AppendMPKeyInfo(nil, &ki, false)
	b.keyInfoEx = wire.AppendMPKeyInfo(nil, &ki, true)
	b.mediaKey = wire.AppendMediaKeyInfo(nil, &wire.MediaKeyInfo{SiteCode: cfg.SiteCode, MPName: strings.ToUpper(cfg.Name), FQDN: cfg.FQDN,
		X64Unknown: unknownMachine(cfg.SiteCode, 64), X86Unknown: unknownMachine(cfg.SiteCode, 86),
		SigningCert: ca.Cert.Raw, EncryptionCert: cert.Certificate[0]})

	b.policies = wire.MachinePolicies()
	source := "SMS:" + cfg.SiteCode
	for _, p := range b.policies {
		b.bodies = append(b.bodies, wire.AppendPolicyBody(nil, &wire.PolicyBody{ID: p.ID, Version: p.Version, Source: source,
			Category: p.Category, Size: cfg.PolicyBytes}))
	}
	var err error
	// The assignment reply is the same for every client (no per-client
	// Identification echo), so it is encoded and compressed once.
	if b.assignments, err = wire.EncodePayload(wire.AppendReplyAssignments(nil, &wire.AssignmentReply{PolicySource: source, Policies: b.policies}), true); err != nil {
		return nil, fmt.Errorf("encode policy assignments: %w", err)
	}
	site := wire.SiteInfo{SiteCode: cfg.SiteCode, Version: mpVersion, BuildNumber: mpBuild}
	if b.siteInfo, err = wire.EncodePayload(wire.AppendSiteInformationReply(nil, &site), true); err != nil {
		return nil, fmt.Errorf("encode site information: %w", err)
	}
	cl := wire.ContentLocationReply{SiteCode: cfg.SiteCode, Locations: []wire.ContentLocation{{ServerName: cfg.FQDN,
		URL: "http://" + cfg.FQDN + "/SMS_DP_SMSPKG$/" + cfg.SiteCode + "00001", Locality: "LOCAL"}}}
	if b.contentLoc, err = wire.EncodePayload(wire.AppendContentLocationReply(nil, &cl), true); err != nil {
		return nil, fmt.Errorf("encode content location: %w", err)
	}
	return b, nil
}

// staticBodies are the answers that depend only on the configuration (rebuilt when the
// ports change, since MPLIST's SSLState follows the HTTPS port).
type staticBodies struct {
	mplist, emptyList                 []byte
	mpCert, siteSign                  []byte
	keyInfo, keyInfoEx, mediaKey      []byte
	policies                          []wire.Policy
	bodies                            [][]byte // per policy, encoded
	assignments, siteInfo, contentLoc wire.EncodedPayload
}

// The MP's build, as an MPLIST and a site information reply report it.
const (
	mpBuild   = 9141
	mpVersion = "5.00.9141.1000"
)

// unknownMachine is the site's unknown-computer GUID for boot media (x64 or x86),
// derived from the site code so it is stable.
func unknownMachine(site string, arch int) string {
	var b [16]byte
	copy(b[:], site)
	b[15] = byte(arch)
	return string(wire.AppendGUID(nil, b))
}
