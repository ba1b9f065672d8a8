package mp

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
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

// Endpoint labels in the request counters (besides wire's endpoint names, used for
// CCM_POST messages).
const (
	LabelMPList      = wire.QueryMPList
	LabelMPCert      = wire.QueryMPCert
	LabelSiteSign    = wire.QuerySiteSign
	LabelMPKeyInfo   = wire.QueryMPKeyInfo
	LabelPolicyBody  = "sms_pol"
	LabelLongPoll    = "long_poll"
	LabelLongPollAck = "long_poll_ack"
	LabelBITS        = "bits"
	LabelPropfind    = "propfind"
	LabelRequest     = "request" // a CCM_POST whose message was not read (400, 413) or HEAD/PROPFIND on a request path
	LabelUnknown     = "unknown" // unknown path or query (404), verb not allowed (405)
	LabelUnknownEP   = "unknown_endpoint"
)

// routes: the verbs each path answers. Verbs outside wire.AllowedMethods get 405 on any
// path; a known verb on a path that does not take it gets 405 too.
var routeMethods = map[string][]string{
	wire.PathAut:            {http.MethodGet, http.MethodHead, wire.MethodPropfind},
	wire.PathPolicy:         {http.MethodGet, http.MethodHead, wire.MethodPropfind},
	wire.PathRequest:        {wire.MethodCCMPost, wire.MethodBITSPost, http.MethodHead, wire.MethodPropfind},
	wire.PathRequestWinAuth: {wire.MethodCCMPost, wire.MethodBITSPost, http.MethodHead, wire.MethodPropfind},
	wire.PathLongPoll:       {http.MethodGet, http.MethodHead},
}

// staticBodies are the answers that depend only on the configuration.
type staticBodies struct {
	mpCert, siteSign, keyInfo []byte
	policy                    []byte // GET .sms_pol
	policyReply               []byte // MP_PolicyManager reply payload
}

func buildStatic(cfg Config, ca *CA, cert tls.Certificate) (staticBodies, error) {
	var b staticBodies
	b.mpCert = []byte(strings.ToUpper(hex.EncodeToString(cert.Certificate[0])))
	b.siteSign = []byte(strings.ToUpper(hex.EncodeToString(ca.Cert.Raw)))
	type keyInfo struct {
		XMLName  xml.Name `xml:"MPKEYINFORMATION"`
		Name     string   `xml:"NAME"`
		FQDN     string   `xml:"FQDN"`
		SiteCode string   `xml:"SITECODE"`
		SignCert string   `xml:"SIGNINGCERTIFICATE"`
		EncCert  string   `xml:"ENCRYPTIONCERTIFICATE"`
	}
	ki, err := xml.Marshal(keyInfo{Name: cfg.Name, FQDN: cfg.FQDN, SiteCode: cfg.SiteCode, SignCert: string(b.mpCert), EncCert: string(b.mpCert)})
	if err != nil {
		return b, fmt.Errorf("build MPKEYINFORMATION: %w", err)
	}
	b.keyInfo = append([]byte(xml.Header), ki...)
	b.policy = padded(`<Policy PolicyID="{portlab-machine-policy}" PolicyVersion="1.00"><PolicyRule><![CDATA[`, `]]></PolicyRule></Policy>`, cfg.PolicyBytes)
	b.policyReply = padded(`<ReplyAssignments ReplyMode="Sync"><PolicyAssignment PolicyAssignmentID="{portlab-1}"><Policy PolicyLocation="`+
		"http://"+cfg.FQDN+wire.PathPolicy+`?portlab-1"/></PolicyAssignment><!--`, `--></ReplyAssignments>`, cfg.ReplyBytes)
	return b, nil
}

// padded returns head + filler + tail of exactly n bytes (or head+tail if n is smaller).
func padded(head, tail string, n int) []byte {
	b := make([]byte, 0, max(n, len(head)+len(tail)))
	b = append(b, head...)
	for i := 0; len(b) < n-len(tail); i++ {
		b = append(b, 'a'+byte(i%26))
	}
	return append(b, tail...)
}

// refreshMPList rebuilds the MPLIST document: this MP first, then its peers. Like a real
// MP's, it names the MPs and their capabilities but carries no ports: clients use the
// ports they were installed with (or learned from the site's publication).
func (s *Server) refreshMPList() {
	type property struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	}
	type capabilities struct {
		SchemaVersion string     `xml:"SchemaVersion,attr"`
		Properties    []property `xml:"Property"`
	}
	type mpEntry struct {
		Name         string       `xml:"Name,attr"`
		FQDN         string       `xml:"FQDN,attr"`
		SiteCode     string       `xml:"SiteCode,attr"`
		Version      string       `xml:"Version"`
		Capabilities capabilities `xml:"Capabilities"`
	}
	type mpList struct {
		XMLName xml.Name  `xml:"MPList"`
		MPs     []mpEntry `xml:"MP"`
	}
	sslState := "0"
	if s.want.HTTPS.IsValid() {
		sslState = "1" // unconfirmed: 1 when the MP has an HTTPS port, as an HTTPS MP reports
	}
	entry := func(name, fqdn string) mpEntry {
		if fqdn == "" {
			fqdn = name
		}
		return mpEntry{Name: name, FQDN: fqdn, SiteCode: s.cfg.SiteCode, Version: mpVersion,
			Capabilities: capabilities{SchemaVersion: "1.0", Properties: []property{{Name: "SSLState", Value: sslState}}}}
	}
	l := mpList{MPs: []mpEntry{entry(s.cfg.Name, s.cfg.FQDN)}}
	for _, p := range s.cfg.Peers {
		l.MPs = append(l.MPs, entry(p.Name, p.FQDN))
	}
	b, err := xml.Marshal(l)
	if err != nil {
		b = []byte("<MPList/>") // cannot happen with these field types
	}
	b = append([]byte(xml.Header), b...)
	s.mplist.Store(&b)
}

// mpVersion is the MP build an MPLIST reports (ConfigMgr current branch).
const mpVersion = "9141"

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
		sw.Header().Set("Server", "Microsoft-IIS/10.0")
		label := s.route(x, sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.st.countRequest(reqKey{endpoint: label, port: x.port, transport: x.transport, status: sw.status})
	})
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
	if r.URL.Path == wire.PathLongPoll && r.Method == http.MethodGet {
		return s.longPoll(x, w, r)
	}
	label := LabelRequest
	var body []byte // the answer, for GET (HEAD gets headers only)
	contentType := "text/xml; charset=UTF-8"
	switch r.URL.Path {
	case wire.PathAut:
		switch strings.ToUpper(r.URL.RawQuery) {
		case wire.QueryMPList:
			label, body = LabelMPList, *s.mplist.Load()
		case wire.QueryMPCert:
			label, body, contentType = LabelMPCert, s.static.mpCert, "text/plain"
		case wire.QuerySiteSign:
			label, body, contentType = LabelSiteSign, s.static.siteSign, "text/plain"
		case wire.QueryMPKeyInfo:
			label, body = LabelMPKeyInfo, s.static.keyInfo
		default:
			if r.Method == wire.MethodPropfind {
				label = LabelPropfind // WebDAV on the directory itself
				break
			}
			http.Error(w, "unknown location query", http.StatusNotFound)
			return LabelUnknown
		}
	case wire.PathPolicy:
		label, body = LabelPolicyBody, s.static.policy
	case wire.PathLongPoll:
		label = LabelLongPoll // HEAD
	}
	var in []byte
	if r.Method == wire.MethodCCMPost || r.Method == wire.MethodBITSPost {
		var ok bool
		if in, ok = s.readBody(w, r); !ok {
			return label
		}
	}
	// The MP works on the request (service time), then may fail it (error rate).
	d, fail := s.timer.draw()
	if !work(r.Context(), d) {
		w.WriteHeader(http.StatusServiceUnavailable) // the client is gone; nobody reads this
		return label
	}
	switch r.Method {
	case wire.MethodCCMPost:
		return s.ccmPost(w, r, in, fail)
	case wire.MethodBITSPost:
		label = LabelBITS
	case wire.MethodPropfind:
		contentType = `application/xml; charset="utf-8"`
		body = []byte(xml.Header + `<D:multistatus xmlns:D="DAV:"><D:response><D:href>` + r.URL.Path +
			`</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
	}
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return label
	}
	switch r.Method {
	case wire.MethodBITSPost:
		// BITS upload protocol: acknowledge every packet; a session gets an ID.
		w.Header().Set("BITS-Packet-Type", "Ack")
		if strings.EqualFold(r.Header.Get("BITS-Packet-Type"), "Create-Session") {
			w.Header().Set("BITS-Protocol", "{7df0354d-249b-430f-820d-3d2a9bef4931}")
			w.Header().Set("BITS-Session-Id", "{"+newGUID()+"}")
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case wire.MethodPropfind:
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusMultiStatus)
		w.Write(body)
	default: // GET, HEAD
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}
	return label
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

// ccmPost answers one CCM message: parse, dispatch on the target endpoint, reply multipart.
func (s *Server) ccmPost(w http.ResponseWriter, r *http.Request, body []byte, fail int) string {
	h, _, err := wire.ParseMessage(r.Header.Get("Content-Type"), bytes.NewReader(body), s.cfg.Limits.MaxPayloadBytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return LabelRequest
	}
	label := h.TargetEndpoint
	var payload []byte
	switch h.TargetEndpoint {
	case wire.EndpointRegistration:
		payload = []byte(`<ClientRegistrationResponse SMSID="` + xmlEscape(h.SourceID) + `" ApprovalStatus="1" ResponseCode="0"/>`)
	case wire.EndpointPolicy:
		payload = s.static.policyReply
	case wire.EndpointDDR, wire.EndpointStatus:
		payload = []byte(`<ReportReply Status="Accepted"/>`)
	case wire.EndpointLocation:
		payload = *s.mplist.Load()
	default:
		http.Error(w, "unknown target endpoint", http.StatusNotFound)
		return LabelUnknownEP
	}
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return label
	}
	target := h.ReplyTo
	if target == "" {
		target = "direct:" + h.SourceHost
	}
	reply, ct, err := wire.BuildMessage(wire.Header{
		ID: h.ID, SourceID: "MP:" + s.cfg.Name, SourceHost: s.cfg.Name,
		TargetEndpoint: target, ReplyTo: h.TargetEndpoint, Group: h.Group,
	}, payload)
	if err != nil {
		http.Error(w, "build reply: "+err.Error(), http.StatusInternalServerError)
		return label
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(http.StatusOK)
	w.Write(reply)
	return label
}

// longPoll serves GET /bgb/handler.ashx: ?ack=ID acknowledges at once (204); otherwise
// the poll is held until a push for the client arrives (200, wire.Push JSON) or the
// wait ends (204).
func (s *Server) longPoll(x *listener, w http.ResponseWriter, r *http.Request) string {
	q := r.URL.Query()
	guid := q.Get(wire.LPParamGUID)
	if guid == "" {
		http.Error(w, "missing guid", http.StatusBadRequest)
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
	p, ok := s.hub.poll(r.Context(), guid, q.Get(wire.LPParamGroup), x.transport, wait)
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

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
