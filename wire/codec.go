package wire

import (
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	hashSHA256 = "1.2.840.113549.1.1.11" // sha256WithRSAEncryption, what clients sign with
	zeroGUID   = "{00000000-0000-0000-0000-000000000000}"
	// SentTimeLayout is how SentTime and TimeStamp attributes are written.
	SentTimeLayout = "2006-01-02T15:04:05Z"
)

// MsgHeader is the <Msg SchemaVersion="1.1"> header of a CCM message (part 1 of the
// body), in both directions. The zero value of a field means "not written"; SourceID is
// always written (empty before registration).
type MsgHeader struct {
	ID             string    // {GUID} of this message
	CorrelationID  string    // requests: the zero GUID; replies: the request's ID (unconfirmed)
	SourceID       string    // GUID:… (the SMSID); empty before registration
	SourceHost     string    // the sender's NetBIOS name
	TargetAddress  string    // mp:[http]MP_ClientRegistration and the like
	ReplyTo        string    // direct:HOST:SccmMessaging
	TargetEndpoint string    // MP_ClientRegistration, MP_PolicyManager, …
	TargetHost     string    // the MP's name as the client addresses it
	Priority       int       // 0 for registration and policy; location requests send 3
	Timeout        int       // 60000 from SDK-built clients
	ReqVersion     int       // 0: not written
	ReplyMode      string    // Sync
	Protocol       string    // http or https
	SentTime       time.Time // written in UTC as 2006-01-02T15:04:05Z; zero: not written
	// ReplyCompression asks the other side to compress its reply (ReplyCompression="zlib").
	ReplyCompression bool
	// ClientAuth is the clientauth hook (Hook2); written when any field is set.
	ClientAuth ClientAuth
	// AllowRegistrationReset is ReplyCapabilities/AllowRegistrationReset
	// (direct:HOST:ClientRegistration); empty: no ReplyCapabilities.
	AllowRegistrationReset string

	// Set by the codec: AppendMessage fills them from the payload, ReadMessage from the
	// header it read.
	Compressed    bool   // the zlib-compress hook (Hook3) is present
	BodyLength    int    // Body Length: the plain UTF-16LE payload bytes, NUL included
	SchemaVersion string // read only; AppendMessage always writes 1.1
}

// ClientAuth is the clientauth hook a registered client adds to signed messages. The
// signatures are RSA signatures (byte-reversed, hex) a real client makes with the key it
// registered; portlab holds no such key, so its clients send PlaceholderClientAuth, a
// value of the right shape and length that no real MP would accept.
type ClientAuth struct {
	AuthSenderMachine  string
	PublicKey          string // MS PUBLICKEYBLOB, hex
	ClientIDSignature  string // hex
	PayloadSignature   string // hex
	ClientCapabilities string // NonSSL
	HashAlgorithm      string // 1.2.840.113549.1.1.11
	Token              string // media clients (pxethief) send a Token property instead
}

func (a *ClientAuth) present() bool { return *a != ClientAuth{} }

// placeholderHex is 256 zero bytes in hex: the length of an RSA-2048 signature.
var placeholderHex = strings.Repeat("00", 256)

// placeholderKey is an MS PUBLICKEYBLOB header for RSA-2048, e=65537, then a zero
// modulus: shape and length of what clients send, no key.
var placeholderKey = "0602000000A40000525341310008000001000100" + placeholderHex

// PlaceholderClientAuth returns the clientauth hook portlab's clients send: real
// property names and lengths, zero signatures (portlab cannot sign like a real client).
func PlaceholderClientAuth(machine string) ClientAuth {
	return ClientAuth{
		AuthSenderMachine:  machine,
		PublicKey:          placeholderKey,
		ClientIDSignature:  placeholderHex,
		PayloadSignature:   placeholderHex,
		ClientCapabilities: "NonSSL",
		HashAlgorithm:      hashSHA256,
	}
}

// Limits bound what ReadMessage reads. A zero field takes the DefaultLimits value.
type Limits struct {
	HeaderBytes  int // the header part as sent
	PayloadBytes int // the payload part as sent (compressed or not)
	PlainBytes   int // the payload after decompression (UTF-16 bytes)
}

// DefaultLimits are generous for real messages (a policy reply of a large site is some
// hundred KiB of UTF-16) and small enough for an MP serving 25,000 clients.
var DefaultLimits = Limits{HeaderBytes: 64 << 10, PayloadBytes: 4 << 20, PlainBytes: 16 << 20}

func (l Limits) normalize() Limits {
	if l.HeaderBytes <= 0 {
		l.HeaderBytes = DefaultLimits.HeaderBytes
	}
	if l.PayloadBytes <= 0 {
		l.PayloadBytes = DefaultLimits.PayloadBytes
	}
	if l.PlainBytes <= 0 {
		l.PlainBytes = DefaultLimits.PlainBytes
	}
	return l
}

// EncodedPayload is a payload part ready to be written: UTF-16LE text with its NUL
// terminator, zlib-compressed or not. Build one once with EncodePayload for a payload
// that never changes (an MP's static replies) and reuse it for every message; it is
// immutable and safe for concurrent use.
type EncodedPayload struct {
	data       []byte
	plainLen   int
	compressed bool
}

// Bytes returns the part body as written (do not modify it).
func (p EncodedPayload) Bytes() []byte { return p.data }

// PlainLen is the UTF-16LE length including the NUL terminator: the Body Length.
func (p EncodedPayload) PlainLen() int { return p.plainLen }

// Compressed reports whether the part is zlib-compressed.
func (p EncodedPayload) Compressed() bool { return p.compressed }

// EncodePayload encodes an XML payload (UTF-8; invalid bytes become U+FFFD) as a payload
// part: UTF-16LE without a BOM, a NUL terminator, and zlib when compress is set. The
// result owns its bytes.
func EncodePayload(xml []byte, compress bool) (EncodedPayload, error) {
	var e Encoder
	p, err := e.Payload(xml, compress)
	if err != nil {
		return p, err
	}
	p.data = bytes.Clone(p.data)
	return p, nil
}

// Encoder encodes payloads and messages into buffers it keeps, so that a goroutine
// encoding message after message allocates nothing once the buffers have grown. Its
// zero value is ready; it is not safe for concurrent use.
type Encoder struct {
	plain []byte // UTF-16 text
	out   []byte // compressed
}

// Payload is EncodePayload into e's buffers: the result is valid until e's next call.
func (e *Encoder) Payload(xml []byte, compress bool) (EncodedPayload, error) {
	e.plain = appendUTF16Bytes(e.plain[:0], xml)
	e.plain = append(e.plain, 0, 0)
	p := EncodedPayload{data: e.plain, plainLen: len(e.plain), compressed: compress}
	if compress {
		e.out = appendZlib(e.out[:0], e.plain)
		p.data = e.out
	}
	return p, nil
}

// Message appends a whole body (header and the encoded xml payload) to dst.
func (e *Encoder) Message(dst []byte, h *MsgHeader, xml []byte, compress bool) ([]byte, error) {
	p, err := e.Payload(xml, compress)
	if err != nil {
		return dst, err
	}
	return AppendMessage(dst, h, p), nil
}

// AppendMessage appends a CCM message body to dst, byte for byte as real senders lay it
// out:
//
//	--aAbBcCdDv1234567890VxXyYzZ CRLF
//	content-type: text/plain; charset=UTF-16 CRLF CRLF
//	FF FE <Msg SchemaVersion="1.1">…</Msg>          (UTF-16LE)
//	CRLF --aAbBcCdDv1234567890VxXyYzZ CRLF
//	content-type: application/octet-stream CRLF CRLF
//	payload                                        (zlib or plain UTF-16LE + NUL)
//	CRLF --aAbBcCdDv1234567890VxXyYzZ-- CRLF
//
// h.Compressed and h.BodyLength are set from p. The body goes with the Content-Type
// ContentTypeCCM. Two details are unconfirmed: the CR LF after the close delimiter
// (sccmwtf omits it, Metasploit's MIME writer adds it; portlab adds it), and the
// compressed stream holding only the text and its NUL (sccmwtf and Metasploit compress
// a CR LF after the NUL; portlab does not, and ReadMessage ignores what follows a NUL).
// An MP should compress its replies: every public client inflates the reply's payload.
func AppendMessage(dst []byte, h *MsgHeader, p EncodedPayload) []byte {
	h.Compressed = p.compressed
	h.BodyLength = p.plainLen
	dst = append(dst, "--"+Boundary+"\r\ncontent-type: "+PartHeaderTypeUTF16+"\r\n\r\n\xFF\xFE"...)
	dst = appendHeader16(dst, h)
	dst = append(dst, "\r\n--"+Boundary+"\r\ncontent-type: "+PartPayloadType+"\r\n\r\n"...)
	dst = append(dst, p.data...)
	return append(dst, "\r\n--"+Boundary+"--\r\n"...)
}

// w16 writes ASCII/UTF-8 literal text as UTF-16LE.
func w16(dst []byte, s string) []byte { return appendUTF16(dst, s) }

// esc16 writes s XML-escaped as UTF-16LE (the rules of appendEscaped).
func esc16(dst []byte, s string) []byte {
	if isPlainXMLText(s) {
		return appendUTF16(dst, s)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var tmp [8]byte
			dst = appendUTF16Bytes(dst, appendEscaped(tmp[:0], s[i:i+1]))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !validXMLRune(r) {
			r = utf8.RuneError
		}
		dst = appendRune16(dst, r)
		i += n
	}
	return dst
}

// isPlainXMLText reports whether s needs no escaping or replacement at all.
func isPlainXMLText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

func int16s(dst []byte, n int) []byte {
	var tmp [20]byte
	return appendUTF16Bytes(dst, strconv.AppendInt(tmp[:0], int64(n), 10))
}

func elem16(dst []byte, name, value string) []byte {
	dst = w16(dst, "<")
	dst = w16(dst, name)
	dst = w16(dst, ">")
	dst = esc16(dst, value)
	dst = w16(dst, "</")
	dst = w16(dst, name)
	return w16(dst, ">")
}

func prop16(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = w16(dst, `<Property Name="`)
	dst = w16(dst, name)
	dst = w16(dst, `">`)
	dst = esc16(dst, value)
	return w16(dst, "</Property>")
}

// appendHeader16 writes the <Msg> element as UTF-16LE, fields in the order SDK-built
// clients use (sccmwtf, SCCMSecrets and Metasploit agree on it).
func appendHeader16(dst []byte, h *MsgHeader) []byte {
	if h.ReplyCompression {
		dst = w16(dst, `<Msg ReplyCompression="zlib" SchemaVersion="1.1">`)
	} else {
		dst = w16(dst, `<Msg SchemaVersion="1.1">`)
	}
	dst = w16(dst, `<Body Type="ByteRange" Length="`)
	dst = int16s(dst, h.BodyLength)
	dst = w16(dst, `" Offset="0" />`)
	if h.CorrelationID != "" {
		dst = elem16(dst, "CorrelationID", h.CorrelationID)
	}
	if h.ClientAuth.present() || h.Compressed {
		dst = w16(dst, "<Hooks>")
		if a := &h.ClientAuth; a.present() {
			dst = w16(dst, `<Hook2 Name="clientauth">`)
			dst = prop16(dst, "AuthSenderMachine", a.AuthSenderMachine)
			dst = prop16(dst, "PublicKey", a.PublicKey)
			dst = prop16(dst, "ClientIDSignature", a.ClientIDSignature)
			dst = prop16(dst, "PayloadSignature", a.PayloadSignature)
			dst = prop16(dst, "ClientCapabilities", a.ClientCapabilities)
			dst = prop16(dst, "HashAlgorithm", a.HashAlgorithm)
			dst = prop16(dst, "Token", a.Token)
			dst = w16(dst, "</Hook2>")
		}
		if h.Compressed {
			dst = w16(dst, `<Hook3 Name="zlib-compress" />`)
		}
		dst = w16(dst, "</Hooks>")
	} else {
		dst = w16(dst, "<Hooks />")
	}
	dst = elem16(dst, "ID", h.ID)
	dst = w16(dst, `<Payload Type="inline" />`)
	dst = w16(dst, "<Priority>")
	dst = int16s(dst, h.Priority)
	dst = w16(dst, "</Priority>")
	if h.Protocol != "" {
		dst = elem16(dst, "Protocol", h.Protocol)
	}
	if h.AllowRegistrationReset != "" {
		dst = w16(dst, "<ReplyCapabilities>")
		dst = elem16(dst, "AllowRegistrationReset", h.AllowRegistrationReset)
		dst = w16(dst, "</ReplyCapabilities>")
	}
	if h.ReplyMode != "" {
		dst = elem16(dst, "ReplyMode", h.ReplyMode)
	}
	if h.ReplyTo != "" {
		dst = elem16(dst, "ReplyTo", h.ReplyTo)
	}
	if h.ReqVersion != 0 {
		dst = w16(dst, "<ReqVersion>")
		dst = int16s(dst, h.ReqVersion)
		dst = w16(dst, "</ReqVersion>")
	}
	if !h.SentTime.IsZero() {
		var tmp [32]byte
		dst = w16(dst, "<SentTime>")
		dst = appendUTF16Bytes(dst, h.SentTime.UTC().AppendFormat(tmp[:0], SentTimeLayout))
		dst = w16(dst, "</SentTime>")
	}
	dst = elem16(dst, "SourceID", h.SourceID)
	if h.SourceHost != "" {
		dst = elem16(dst, "SourceHost", h.SourceHost)
	}
	if h.TargetAddress != "" {
		dst = elem16(dst, "TargetAddress", h.TargetAddress)
	}
	if h.TargetEndpoint != "" {
		dst = elem16(dst, "TargetEndpoint", h.TargetEndpoint)
	}
	if h.TargetHost != "" {
		dst = elem16(dst, "TargetHost", h.TargetHost)
	}
	if h.Timeout != 0 {
		dst = w16(dst, "<Timeout>")
		dst = int16s(dst, h.Timeout)
		dst = w16(dst, "</Timeout>")
	}
	return w16(dst, "</Msg>")
}

// RequestHeader returns the header a real client sends to endpoint: ReplyTo
// direct:HOST:SccmMessaging, TargetAddress mp:[http]ENDPOINT, Priority 0, Timeout
// 60000, ReqVersion 5931 (what a public client sends; its meaning is unconfirmed),
// ReplyMode Sync, the zero CorrelationID, ReplyCompression asked and
// AllowRegistrationReset direct:HOST:ClientRegistration. The caller sets ID, SourceID
// (once registered), SentTime and, for signed endpoints, ClientAuth.
func RequestHeader(endpoint, host, mp string, https bool) MsgHeader {
	h := MsgHeader{
		CorrelationID:          zeroGUID,
		SourceHost:             host,
		TargetAddress:          targetAddress(endpoint),
		ReplyTo:                "direct:" + host + ":" + ReplyToService,
		TargetEndpoint:         endpoint,
		TargetHost:             mp,
		Timeout:                60000,
		ReqVersion:             5931,
		ReplyMode:              "Sync",
		Protocol:               "http",
		ReplyCompression:       true,
		AllowRegistrationReset: "direct:" + host + ":ClientRegistration",
	}
	if https {
		h.Protocol = "https"
	}
	return h
}

func targetAddress(endpoint string) string {
	switch endpoint {
	case EndpointRegistration:
		return "mp:[http]MP_ClientRegistration"
	case EndpointPolicy:
		return "mp:[http]MP_PolicyManager"
	case EndpointLocation:
		return "mp:[http]MP_LocationManager"
	case EndpointDdrEndpoint:
		return "mp:[http]MP_DdrEndpoint"
	case EndpointStatusReceiver:
		return "mp:[http]MP_StatusReceiver"
	}
	return "mp:[http]" + endpoint
}

// ReplyHeader returns the header an MP answers req with. Nothing public shows a real
// MP's reply header, so its fields are unconfirmed: ID the MP's new id, CorrelationID
// the request's ID, SourceHost the MP, TargetAddress the request's ReplyTo and
// TargetEndpoint its last element, TargetHost the client, the request's Protocol,
// Priority and Timeout, ReplyMode Sync.
func ReplyHeader(req *MsgHeader, id, mp string, now time.Time) MsgHeader {
	ep := req.ReplyTo
	if i := strings.LastIndexByte(ep, ':'); i >= 0 {
		ep = ep[i+1:]
	}
	return MsgHeader{
		ID:             id,
		CorrelationID:  req.ID,
		SourceHost:     mp,
		TargetAddress:  req.ReplyTo,
		TargetEndpoint: ep,
		TargetHost:     req.SourceHost,
		Priority:       req.Priority,
		Timeout:        req.Timeout,
		ReplyMode:      "Sync",
		Protocol:       req.Protocol,
		SentTime:       now,
	}
}

// AppendGUID appends b as a braced, upper-case GUID ({XXXXXXXX-XXXX-…}) in the byte
// order GUIDs are printed (no Microsoft mixed-endian swap: the bytes are the text).
func AppendGUID(dst []byte, b [16]byte) []byte {
	const hexdigits = "0123456789ABCDEF"
	dst = append(dst, '{')
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexdigits[c>>4], hexdigits[c&15])
	}
	return append(dst, '}')
}

// Decoder reads messages into buffers it keeps; its zero value is ready. It is not safe
// for concurrent use. ReadMessage is the convenience form.
type Decoder struct {
	hdr  []byte // the header as UTF-8
	raw  []byte // the inflated payload
	text []byte // the payload as UTF-8
	tmp  []byte
}

var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// ReadMessage reads a CCM message body (either direction) and returns its header and its
// payload as UTF-8 XML text (terminator and BOM removed). Every structural problem wraps
// ErrMalformed. See Decoder.Decode for what it accepts.
func ReadMessage(contentType string, body []byte, lim Limits) (MsgHeader, []byte, error) {
	d := decoders.Get().(*Decoder)
	h, p, err := d.Decode(contentType, body, lim)
	p = bytes.Clone(p)
	d.shrink()
	decoders.Put(d)
	return h, p, err
}

// shrink drops buffers a rare large message grew, so pooled decoders stay small.
func (d *Decoder) shrink() {
	const keep = 1 << 20
	for _, b := range []*[]byte{&d.hdr, &d.raw, &d.text, &d.tmp} {
		if cap(*b) > keep {
			*b = nil
		}
	}
}

// Decode is ReadMessage into d's buffers: the payload is valid until d's next call.
//
// It is liberal in what it reads: the boundary from contentType (quoted or not; any
// multipart type), CRLF or LF line ends, a preamble, part headers in any case or none,
// the header in UTF-8 or UTF-16 (LE or BE, BOM or not), the payload zlib-compressed or
// plain (decided by the zlib-compress hook, or by a zlib header when the hook is
// missing) and in UTF-16 or UTF-8, Body Length ignored (pxethief sends a fixed one).
// It is bounded by lim: the header part, the payload part and the inflated payload each
// have a limit, and inflating stops at its limit.
func (d *Decoder) Decode(contentType string, body []byte, lim Limits) (MsgHeader, []byte, error) {
	lim = lim.normalize()
	var h MsgHeader
	boundary, err := boundaryOf(contentType)
	if err != nil {
		return h, nil, err
	}
	hdrPart, payPart, err := splitParts(body, boundary)
	if err != nil {
		return h, nil, err
	}
	if len(hdrPart) > lim.HeaderBytes {
		return h, nil, fmt.Errorf("%w: header part of %d bytes (limit %d)", ErrMalformed, len(hdrPart), lim.HeaderBytes)
	}
	if len(payPart) > lim.PayloadBytes {
		return h, nil, fmt.Errorf("%w: payload part of %d bytes (limit %d)", ErrMalformed, len(payPart), lim.PayloadBytes)
	}
	d.hdr = decodeText(d.hdr[:0], hdrPart)
	if h, err = parseHeader(d.hdr, &d.tmp); err != nil {
		return h, nil, err
	}
	plain := payPart
	switch {
	case looksZlib(payPart):
		d.raw, err = inflate(d.raw[:0], payPart, lim.PlainBytes)
		if err != nil {
			return h, nil, err
		}
		plain = d.raw
	case h.Compressed:
		return h, nil, fmt.Errorf("%w: zlib-compress hook but the payload is not zlib", ErrMalformed)
	case len(payPart) > lim.PlainBytes:
		return h, nil, fmt.Errorf("%w: payload of %d bytes (limit %d)", ErrMalformed, len(payPart), lim.PlainBytes)
	}
	d.text = decodeText(d.text[:0], plain)
	return h, d.text, nil
}

// boundaryOf returns the multipart boundary of a Content-Type.
func boundaryOf(ct string) (string, error) {
	if ct == ContentTypeCCM || ct == "multipart/mixed; boundary="+Boundary {
		return Boundary, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", fmt.Errorf("%w: content type %q is not multipart with a boundary", ErrMalformed, ct)
	}
	if b := params["boundary"]; len(b) <= 70 {
		return b, nil
	}
	return "", fmt.Errorf("%w: boundary longer than 70 characters", ErrMalformed)
}

var boundaryBytes = []byte(Boundary)

// splitParts returns the contents of the first two parts of a multipart body.
func splitParts(body []byte, boundary string) (first, second []byte, err error) {
	bnd := boundaryBytes
	if boundary != Boundary {
		bnd = []byte(boundary)
	}
	// The first delimiter: "--boundary" at the start of the body or of a line.
	pos := -1
	for off := 0; off < len(body); {
		i := bytes.Index(body[off:], bnd)
		if i < 0 {
			break
		}
		i += off
		if i >= 2 && body[i-1] == '-' && body[i-2] == '-' && (i == 2 || body[i-3] == '\n') {
			pos = i + len(bnd)
			break
		}
		off = i + 1
	}
	if pos < 0 {
		return nil, nil, fmt.Errorf("%w: no multipart delimiter", ErrMalformed)
	}
	var parts [2][]byte
	n := 0
	for n < 2 {
		rest := body[pos:]
		if bytes.HasPrefix(rest, []byte("--")) {
			break // close delimiter
		}
		// Transport padding, then the line end after the delimiter.
		k := 0
		for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t') {
			k++
		}
		switch {
		case bytes.HasPrefix(rest[k:], []byte("\r\n")):
			k += 2
		case bytes.HasPrefix(rest[k:], []byte("\n")):
			k++
		default:
			return nil, nil, fmt.Errorf("%w: bad multipart delimiter line", ErrMalformed)
		}
		rest = rest[k:]
		// Part headers end at the first empty line (they may be absent).
		var content []byte
		switch {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			content = rest[2:]
		case bytes.HasPrefix(rest, []byte("\n")):
			content = rest[1:]
		default:
			e := bytes.Index(rest, []byte("\n\r\n"))
			e2 := bytes.Index(rest, []byte("\n\n"))
			switch {
			case e >= 0 && (e2 < 0 || e < e2):
				content = rest[e+3:]
			case e2 >= 0:
				content = rest[e2+2:]
			default:
				return nil, nil, fmt.Errorf("%w: part headers do not end", ErrMalformed)
			}
		}
		// The content runs to the next "\n--boundary"; a CR before the LF belongs to
		// the delimiter.
		end := -1
		for off := 0; off < len(content); {
			i := bytes.Index(content[off:], bnd)
			if i < 0 {
				break
			}
			i += off
			if i >= 3 && content[i-1] == '-' && content[i-2] == '-' && content[i-3] == '\n' {
				end = i - 3
				break
			}
			off = i + 1
		}
		if end < 0 {
			return nil, nil, fmt.Errorf("%w: part %d does not end", ErrMalformed, n+1)
		}
		next := end + 3 + len(bnd)
		if end > 0 && content[end-1] == '\r' {
			end--
		}
		parts[n] = content[:end]
		n++
		pos = len(body) - len(content) + next
	}
	if n < 2 {
		return nil, nil, fmt.Errorf("%w: %d parts, want a header and a payload", ErrMalformed, n)
	}
	return parts[0], parts[1], nil
}

// parseHeader reads a <Msg> element from UTF-8 text. tmp is scratch.
func parseHeader(doc []byte, tmp *[]byte) (MsgHeader, error) {
	var h MsgHeader
	s := newScanner(doc)
	root, err := firstElement(&s)
	if err != nil {
		return h, err
	}
	if string(root.name) != "Msg" {
		return h, fmt.Errorf("%w: header root is <%s>, not <Msg>", ErrMalformed, root.name)
	}
	if h.SchemaVersion, err = attrString(root.attrs, "SchemaVersion"); err != nil {
		return h, err
	}
	rc, _ := attr(root.attrs, "ReplyCompression")
	h.ReplyCompression = string(rc) == "zlib"
	text := func(t xmlToken) (string, error) {
		var err error
		*tmp, err = s.text((*tmp)[:0], t)
		return intern(bytes.TrimSpace(*tmp)), err
	}
	for !root.empty {
		t, err := s.next()
		if err != nil {
			return h, err
		}
		if t.kind == xmlEnd {
			break
		}
		if t.kind != xmlStart {
			continue
		}
		var v string
		switch string(t.name) {
		case "Body":
			l, _ := attr(t.attrs, "Length")
			h.BodyLength = parseIntLoose(l)
			err = s.skip(t)
		case "Hooks":
			err = parseHooks(&s, t, &h, tmp)
		case "ReplyCapabilities":
			err = parseReplyCaps(&s, t, &h, tmp)
		case "CorrelationID":
			v, err = text(t)
			h.CorrelationID = v
		case "ID":
			v, err = text(t)
			h.ID = v
		case "Priority":
			v, err = text(t)
			h.Priority = parseIntLoose([]byte(v))
		case "Protocol":
			v, err = text(t)
			h.Protocol = v
		case "ReplyMode":
			v, err = text(t)
			h.ReplyMode = v
		case "ReplyTo":
			v, err = text(t)
			h.ReplyTo = v
		case "ReqVersion":
			v, err = text(t)
			h.ReqVersion = parseIntLoose([]byte(v))
		case "SentTime":
			v, err = text(t)
			h.SentTime = parseTimeLoose(v)
		case "SourceID":
			v, err = text(t)
			h.SourceID = v
		case "SourceHost":
			v, err = text(t)
			h.SourceHost = v
		case "TargetAddress":
			v, err = text(t)
			h.TargetAddress = v
		case "TargetEndpoint":
			v, err = text(t)
			h.TargetEndpoint = v
		case "TargetHost":
			v, err = text(t)
			h.TargetHost = v
		case "Timeout":
			v, err = text(t)
			h.Timeout = parseIntLoose([]byte(v))
		default:
			err = s.skip(t)
		}
		if err != nil {
			return h, err
		}
	}
	return h, s.rest()
}

func parseHooks(s *xmlScanner, hooks xmlToken, h *MsgHeader, tmp *[]byte) error {
	return s.eachChild(hooks, func(t xmlToken) error {
		name, _ := attr(t.attrs, "Name")
		switch string(name) {
		case HookZlib:
			h.Compressed = true
			return s.skip(t)
		case HookClientAuth:
			return parseClientAuth(s, t, &h.ClientAuth, tmp)
		}
		return s.skip(t)
	})
}

func parseClientAuth(s *xmlScanner, hook xmlToken, a *ClientAuth, tmp *[]byte) error {
	return s.eachChild(hook, func(t xmlToken) error {
		if string(t.name) != "Property" {
			return s.skip(t)
		}
		name, _ := attr(t.attrs, "Name")
		var err error
		if *tmp, err = s.text((*tmp)[:0], t); err != nil {
			return err
		}
		v := intern(bytes.TrimSpace(*tmp))
		switch string(name) {
		case "AuthSenderMachine":
			a.AuthSenderMachine = v
		case "PublicKey":
			a.PublicKey = v
		case "ClientIDSignature":
			a.ClientIDSignature = v
		case "PayloadSignature":
			a.PayloadSignature = v
		case "ClientCapabilities", "ClientCapability":
			a.ClientCapabilities = v
		case "HashAlgorithm":
			a.HashAlgorithm = v
		case "Token":
			a.Token = v
		}
		return nil
	})
}

func parseReplyCaps(s *xmlScanner, caps xmlToken, h *MsgHeader, tmp *[]byte) error {
	return s.eachChild(caps, func(t xmlToken) error {
		if string(t.name) != "AllowRegistrationReset" {
			return s.skip(t)
		}
		var err error
		if *tmp, err = s.text((*tmp)[:0], t); err != nil {
			return err
		}
		h.AllowRegistrationReset = intern(bytes.TrimSpace(*tmp))
		return nil
	})
}

// firstElement returns the root element's start tag.
func firstElement(s *xmlScanner) (xmlToken, error) {
	for {
		t, err := s.next()
		if err != nil {
			return t, err
		}
		switch t.kind {
		case xmlStart:
			return t, nil
		case xmlEOF:
			return t, xmlErr("no root element")
		}
	}
}

// parseTimeLoose reads the time forms the messages carry; zero when none fits.
func parseTimeLoose(v string) time.Time {
	for _, layout := range [...]string{SentTimeLayout, time.RFC3339, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Group returns the client group a portlab client named in HeaderGroup (the HTTP header
// value), or "" when the header is absent or not a plain name (letters, digits, '.',
// '_', '-'; at most 64 bytes). A real client never sends it.
func Group(headerValue string) string {
	v := strings.TrimSpace(headerValue)
	if len(v) > 64 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return ""
		}
	}
	return v
}

// AppendGroupHeader appends the HeaderGroup line ("X-Portlab-Group: g\r\n") for a client
// that writes its request head by hand; nothing when group is not a plain name.
func AppendGroupHeader(dst []byte, group string) []byte {
	if group == "" || Group(group) != group {
		return dst
	}
	dst = append(dst, HeaderGroup+": "...)
	dst = append(dst, group...)
	return append(dst, "\r\n"...)
}

// PayloadPart returns the raw payload part of a CCM message body (compressed or not,
// undecoded), without reading the header: a reader that already decoded identical
// bytes (an MP's static reply) can recognise them cheaply.
func PayloadPart(contentType string, body []byte) ([]byte, error) {
	boundary, err := boundaryOf(contentType)
	if err != nil {
		return nil, err
	}
	_, p, err := splitParts(body, boundary)
	return p, err
}
