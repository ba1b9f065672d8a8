package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	h := Header{ID: "1", SourceID: "GUID:abc", SourceHost: "c1", TargetEndpoint: EndpointPolicy, Group: "g"}
	body, ct, err := BuildMessage(h, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	got, p, err := ParseMessage(ct, bytes.NewReader(body), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if got.TargetEndpoint != EndpointPolicy || got.Group != "g" || string(p) != "payload" {
		t.Fatalf("got %+v %q", got, p)
	}
	if _, _, err := ParseMessage(ct, bytes.NewReader(body), 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized payload: %v", err)
	}
	if _, _, err := ParseMessage("text/plain", bytes.NewReader(body), 1024); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong content type: %v", err)
	}
	if _, _, err := ParseMessage(ct, strings.NewReader("garbage"), 1024); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, FramePush, Push{ID: 7, Action: "machine-policy"}); err != nil {
		t.Fatal(err)
	}
	typ, p, err := ReadFrame(&b)
	if err != nil || typ != FramePush || !strings.Contains(string(p), `"id":7`) {
		t.Fatalf("%v %v %s", typ, err, p)
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{9, 0, 0, 0, 0})); !errors.Is(err, ErrFrame) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0, 0, 0})); !errors.Is(err, ErrFrame) {
		t.Fatalf("huge frame: %v", err)
	}
}
