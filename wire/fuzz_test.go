package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzParseMessage: whatever a client sends as a CCM_POST body, the MP's parser returns
// a message or an error — never a panic, never more payload than allowed.
func FuzzParseMessage(f *testing.F) {
	body, ct, err := BuildMessage(Header{ID: "1", SourceID: "GUID:x", TargetEndpoint: EndpointPolicy}, []byte("policy please"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, body)
	f.Add(ct, body[:len(body)/2])
	f.Add("multipart/mixed; boundary=x", []byte("--x\r\n\r\n<Msg/>\r\n--x--"))
	f.Add("text/plain", []byte("hello"))
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, contentType string, data []byte) {
		h, payload, err := ParseMessage(contentType, bytes.NewReader(data), limit)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if h.TargetEndpoint == "" || len(payload) > limit {
			t.Fatalf("accepted a message without endpoint or with %d payload bytes", len(payload))
		}
	})
}

// FuzzReadFrame: a notification session's bytes give frames of known types within the
// size bound, or an error — never a panic or an oversized allocation.
func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	WriteFrame(&b, FrameLogin, Login{GUID: "g", Group: "x"})
	WriteFrame(&b, FrameAck, Ack{ID: 3})
	f.Add(b.Bytes())
	f.Add([]byte{5, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			typ, payload, err := ReadFrame(r)
			if err != nil {
				if !errors.Is(err, ErrFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if typ < FrameLogin || typ > FrameAck || len(payload) > MaxFrame {
				t.Fatalf("accepted type %d with %d bytes", typ, len(payload))
			}
		}
	})
}
