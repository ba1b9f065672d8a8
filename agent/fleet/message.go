package fleet

import (
	"bytes"
	"compress/zlib"
	"encoding/xml"
	"mime"
	"mime/multipart"
	"net/textproto"

	"github.com/portlab/portlab/wire"
)

// Message bodies. wire.BuildMessage allocates a fresh zlib compressor (hundreds of KiB)
// per call, too much at thousands of requests a second; the payload of each endpoint is
// the same for every client, so it is compressed once and only the per-client XML
// header is written per request. The result has exactly wire.BuildMessage's shape (a
// test parses it with wire.ParseMessage).
type messages struct {
	payload map[string][]byte // endpoint -> zlib-compressed payload
}

func newMessages() (*messages, error) {
	m := &messages{payload: map[string][]byte{}}
	for ep, body := range map[string]string{
		wire.EndpointRegistration: `<ClientRegistrationRequest><Data RequestType="Registration" TimeStamp="0"><AgentInformation AgentIdentity="CCMSetup.exe" AgentVersion="5.00.9122.1000"/></Data></ClientRegistrationRequest>`,
		wire.EndpointPolicy:       `<RequestAssignments SchemaVersion="1.00" ACK="false" RequestType="Always"><PolicySource>SMS:PS1</PolicySource><Resource ResourceType="Machine"/></RequestAssignments>`,
		wire.EndpointDDR:          `<Report><ReportHeader><Identification><Machine><ClientInstalled>1</ClientInstalled></Machine></Identification><ReportDetails><ReportContent>Inventory Data</ReportContent><InventoryAction ActionType="Predefined"><InventoryActionID>{00000000-0000-0000-0000-000000000003}</InventoryActionID><Description>Discovery</Description></InventoryAction></ReportDetails></ReportHeader></Report>`,
	} {
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		if _, err := zw.Write([]byte(body)); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		m.payload[ep] = b.Bytes()
	}
	return m, nil
}

// build returns a CCM_POST body for endpoint and its Content-Type.
func (m *messages) build(h wire.Header) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(1024)
	mw := multipart.NewWriter(&buf)
	hx, err := xml.Marshal(h)
	if err != nil {
		return nil, "", err
	}
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {wire.PartHeaderType}})
	if err != nil {
		return nil, "", err
	}
	if _, err := p.Write(hx); err != nil {
		return nil, "", err
	}
	p, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {wire.PartPayloadType}, "Content-Encoding": {"deflate"}})
	if err != nil {
		return nil, "", err
	}
	if _, err := p.Write(m.payload[h.TargetEndpoint]); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mime.FormatMediaType(wire.ContentTypeMsg, map[string]string{"boundary": mw.Boundary()}), nil
}
