package wire

import (
	"bytes"
	"compress/zlib"
	"testing"
)

// The hot paths: a fleet worker encoding requests and decoding replies, an MP decoding
// requests and encoding replies. Each benchmark reuses its Encoder/Decoder and output
// buffer the way a worker goroutine would.

type benchMsg struct {
	name string
	hdr  MsgHeader
	xml  func(dst []byte) []byte // the per-message payload document
}

func benchMessages() []benchMsg {
	reg := gRequestHeader(EndpointRegistration, false)
	pol := gRequestHeader(EndpointPolicy, true)
	polReply := ReplyHeader(&pol, gReplyID, "MP1", gTime)
	policies := MachinePolicies()
	return []benchMsg{
		{"registration", reg, func(dst []byte) []byte {
			return AppendRegistrationRequest(dst, &RegistrationRequest{NetBIOSName: gClient, FQDN: gFQDN, TimeStamp: gTime})
		}},
		{"policy_request", pol, func(dst []byte) []byte {
			return AppendRequestAssignments(dst, &AssignmentRequest{ClientID: gSMSID, FQDN: gFQDN, NetBIOSName: gClient, PolicySource: "SMS:PS1"})
		}},
		{"policy_reply", polReply, func(dst []byte) []byte {
			return AppendReplyAssignments(dst, &AssignmentReply{ClientID: gSMSID, NetBIOSName: gClient, FQDN: gFQDN, PolicySource: "SMS:PS1", Policies: policies})
		}},
	}
}

// BenchmarkEncode: build the payload document, encode it (UTF-16, zlib) and write the
// whole body, per message.
func BenchmarkEncode(b *testing.B) {
	for _, m := range benchMessages() {
		b.Run(m.name, func(b *testing.B) {
			var enc Encoder
			var xml, out []byte
			b.ReportAllocs()
			for b.Loop() {
				xml = m.xml(xml[:0])
				h := m.hdr
				var err error
				if out, err = enc.Message(out[:0], &h, xml, true); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(out)))
		})
	}
}

// BenchmarkEncodeStatic: an MP's static reply, encoded once, written per message.
func BenchmarkEncodeStatic(b *testing.B) {
	pol := gRequestHeader(EndpointPolicy, true)
	p, err := EncodePayload(AppendReplyAssignments(nil, &AssignmentReply{PolicySource: "SMS:PS1", Policies: MachinePolicies()}), true)
	if err != nil {
		b.Fatal(err)
	}
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		h := ReplyHeader(&pol, gReplyID, "MP1", gTime)
		out = AppendMessage(out[:0], &h, p)
	}
	b.SetBytes(int64(len(out)))
}

// BenchmarkDecode: read the body and parse its payload document, per message.
func BenchmarkDecode(b *testing.B) {
	cases := goldenCases(b)
	parse := map[string]func([]byte) error{
		"registration":   func(x []byte) error { _, err := ParseRegistrationRequest(x); return err },
		"policy_request": func(x []byte) error { _, err := ParseRequestAssignments(x); return err },
		"policy_reply": func(x []byte) error {
			_, err := AppendPolicies(benchPolicies[:0], x)
			return err
		},
	}
	for _, name := range []string{"registration", "policy_request", "policy_reply"} {
		file := name
		if name == "registration" {
			file = "registration_request"
		}
		body := cases[file]
		b.Run(name, func(b *testing.B) {
			var dec Decoder
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, p, err := dec.Decode(ContentTypeCCM, body, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if err := parse[name](p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchPolicies = make([]Policy, 0, 16)

// BenchmarkCompressor runs the pooled compressor and a naive zlib.NewWriter per message
// side by side on the same policy request payload.
func BenchmarkCompressor(b *testing.B) {
	xml := AppendRequestAssignments(nil, &AssignmentRequest{ClientID: gSMSID, FQDN: gFQDN, NetBIOSName: gClient, PolicySource: "SMS:PS1"})
	b.Run("pooled", func(b *testing.B) {
		var enc Encoder
		b.ReportAllocs()
		for b.Loop() {
			if _, err := enc.Payload(xml, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("naive", func(b *testing.B) {
		var plain []byte
		var out bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			plain = append(appendUTF16Bytes(plain[:0], xml), 0, 0)
			out.Reset()
			zw := zlib.NewWriter(&out)
			zw.Write(plain)
			zw.Close()
		}
	})
}

// TestNoCompressorAllocation: encoding a compressed message allocates nothing once an
// Encoder's buffers have grown (the compressor comes from the pool and is Reset).
func TestNoCompressorAllocation(t *testing.T) {
	m := benchMessages()[1]
	var enc Encoder
	var xml, out []byte
	run := func() {
		xml = m.xml(xml[:0])
		h := m.hdr
		out, _ = enc.Message(out[:0], &h, xml, true)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%.1f allocations per encoded message, want 0", n)
	}
}
