package wire

import (
	"bytes"
	"compress/zlib"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
)

// ErrMalformed: the body is not a well-formed CCM message (the MP answers 400).
var ErrMalformed = errors.New("malformed CCM message")

// Header is the XML <Msg> part of a CCM_POST body.
type Header struct {
	XMLName        xml.Name `xml:"Msg"`
	ID             string   `xml:"ID"`
	SourceID       string   `xml:"SourceID"`   // GUID:xxxxxxxx-...
	SourceHost     string   `xml:"SourceHost"` // client name
	TargetEndpoint string   `xml:"TargetEndpoint"`
	ReplyTo        string   `xml:"ReplyTo,omitempty"`
	Group          string   `xml:"Group,omitempty"` // portlab extension: the client's group
}

// BuildMessage returns a multipart/mixed body (XML header part, zlib payload part) and
// its Content-Type.
func BuildMessage(h Header, payload []byte) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hx, err := xml.Marshal(h)
	if err != nil {
		return nil, "", err
	}
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {PartHeaderType}})
	if err != nil {
		return nil, "", err
	}
	if _, err := p.Write(hx); err != nil {
		return nil, "", err
	}
	p, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {PartPayloadType}, "Content-Encoding": {"deflate"}})
	if err != nil {
		return nil, "", err
	}
	zw := zlib.NewWriter(p)
	if _, err := zw.Write(payload); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mime.FormatMediaType(ContentTypeMsg, map[string]string{"boundary": mw.Boundary()}), nil
}

// ParseMessage reads a body built by BuildMessage. maxPayload bounds the decompressed
// payload. Every structural problem wraps ErrMalformed.
func ParseMessage(contentType string, body io.Reader, maxPayload int64) (Header, []byte, error) {
	var h Header
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != ContentTypeMsg || params["boundary"] == "" {
		return h, nil, fmt.Errorf("%w: content type %q is not multipart/mixed with a boundary", ErrMalformed, contentType)
	}
	mr := multipart.NewReader(body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		return h, nil, fmt.Errorf("%w: header part: %v", ErrMalformed, err)
	}
	if err := xml.NewDecoder(io.LimitReader(part, 64<<10)).Decode(&h); err != nil {
		return h, nil, fmt.Errorf("%w: header XML: %v", ErrMalformed, err)
	}
	if h.TargetEndpoint == "" {
		return h, nil, fmt.Errorf("%w: header names no TargetEndpoint", ErrMalformed)
	}
	part, err = mr.NextPart()
	if err != nil {
		return h, nil, fmt.Errorf("%w: payload part: %v", ErrMalformed, err)
	}
	zr, err := zlib.NewReader(part)
	if err != nil {
		return h, nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	payload, err := io.ReadAll(io.LimitReader(zr, maxPayload+1))
	if err != nil {
		return h, nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if int64(len(payload)) > maxPayload {
		return h, nil, fmt.Errorf("%w: payload larger than %d bytes", ErrMalformed, maxPayload)
	}
	return h, payload, nil
}

// MPList is the document GET /SMS_MP/.sms_aut?MPLIST returns.
type MPList struct {
	XMLName xml.Name  `xml:"MPList"`
	MPs     []MPEntry `xml:"MP"`
}

// MPEntry is one management point in an MPLIST.
type MPEntry struct {
	Name      string `xml:"Name,attr"`
	FQDN      string `xml:"FQDN,attr"`
	SiteCode  string `xml:"SiteCode,attr"`
	Addr      string `xml:"IP,attr"` // IPv4 address the MP listens on
	HTTPPort  int    `xml:"Ports>HTTP"`
	HTTPSPort int    `xml:"Ports>HTTPS"`
	HTTPAlt   int    `xml:"Ports>HTTPAlternate,omitempty"`
	HTTPSAlt  int    `xml:"Ports>HTTPSAlternate,omitempty"`
}
