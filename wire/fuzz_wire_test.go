package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Fuzz targets for every reader of the real wire format. Each bounds its input; each
// checks that errors wrap the package's sentinel and, where a reader has a writer,
// that what it read survives being written and read again.

func wrapHeader(hdr []byte) []byte {
	return cat([]byte("--"+Boundary+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), hdr,
		[]byte("\r\n--"+Boundary+"\r\ncontent-type: application/octet-stream\r\n\r\n"), u16le("<x/>\x00"), []byte("\r\n--"+Boundary+"--\r\n"))
}

// FuzzHeader: the header part, in any encoding.
func FuzzHeader(f *testing.F) {
	h := gRequestHeader(EndpointPolicy, true)
	var e Encoder
	body, _ := e.Message(nil, &h, []byte("<x/>"), false)
	i := bytes.Index(body, []byte{0xFF, 0xFE})
	j := bytes.Index(body, []byte("\r\n--"+Boundary+"\r\ncontent-type: application"))
	f.Add(body[i:j])
	f.Add([]byte(variantHeader))
	f.Add(u16be(variantHeader))
	f.Add([]byte(`<Msg><ID>&#x41;&amp;</ID><Hooks><Hook2 Name="clientauth"><Property Name="Token"><![CDATA[a]]></Property></Hook2></Hooks></Msg>`))
	f.Add([]byte(`<?xml version="1.0"?><!-- c --><Msg SchemaVersion='1.1'/>`))
	const bound = 16 << 10
	f.Fuzz(func(t *testing.T, hdr []byte) {
		if len(hdr) > bound {
			return
		}
		got, _, err := ReadMessage(ContentTypeCCM, wrapHeader(hdr), Limits{HeaderBytes: bound})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Written and read again, the header is the same (Body and the hook follow the
		// payload, SentTime compares as an instant).
		p, _ := EncodePayload([]byte("<x/>"), got.Compressed)
		again := got
		back, _, err := ReadMessage(ContentTypeCCM, AppendMessage(nil, &again, p), Limits{})
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !back.SentTime.Equal(got.SentTime) {
			t.Fatalf("SentTime %v → %v", got.SentTime, back.SentTime)
		}
		back.SentTime, again.SentTime = got.SentTime, got.SentTime
		again.SchemaVersion = "1.1"
		if back != again {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, again)
		}
	})
}

// FuzzPayload: the payload part, compressed or plain, with and without the hook.
func FuzzPayload(f *testing.F) {
	plain := cat(u16le(variantXML), []byte{0, 0})
	f.Add(zlibStd(f, plain), true)
	f.Add(zlibStd(f, plain), false)
	f.Add(plain, false)
	f.Add(plain, true)
	f.Add([]byte{0x78, 0x9c, 0x03, 0x00}, true)
	small, _ := zlibBomb(f, 1)
	f.Add(small, true)
	const bound, plainLimit = 64 << 10, 256 << 10
	hooked := []byte(variantHeader)
	unhooked := bytes.Replace(hooked, []byte(`<Hook3 Name="zlib-compress" />`), nil, 1)
	f.Fuzz(func(t *testing.T, payload []byte, hook bool) {
		if len(payload) > bound {
			return
		}
		hdr := unhooked
		if hook {
			hdr = hooked
		}
		body := cat([]byte("--"+Boundary+"\r\n\r\n"), hdr, []byte("\r\n--"+Boundary+"\r\n\r\n"), payload, []byte("\r\n--"+Boundary+"--"))
		_, text, err := ReadMessage(ContentTypeCCM, body, Limits{PlainBytes: plainLimit})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// UTF-8 of at most plainLimit UTF-16 bytes: 3 bytes per 2.
		if len(text) > plainLimit*3/2 {
			t.Fatalf("%d bytes of text from a %d-byte limit", len(text), plainLimit)
		}
	})
}

// FuzzReadMessage: a whole body and its Content-Type.
func FuzzReadMessage(f *testing.F) {
	for _, name := range []string{"registration_request", "policy_reply", "siteinfo_request"} {
		f.Add(ContentTypeCCM, goldenCases(f)[name])
	}
	f.Add("multipart/mixed; boundary=x", []byte("--x\n\n<Msg/>\n--x\n\n<a/>\n--x--"))
	f.Add("multipart/form-data; boundary=\"q\"", []byte("pre\r\n--q\r\nA: b\r\n\r\n\r\n--q\r\n\r\nx\r\n--q--"))
	const bound = 64 << 10
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		if len(body) > bound || len(ct) > 256 {
			return
		}
		_, p, err := ReadMessage(ct, body, Limits{HeaderBytes: 8 << 10, PayloadBytes: bound, PlainBytes: 128 << 10})
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		if len(p) > 192<<10 {
			t.Fatalf("%d bytes of payload", len(p))
		}
	})
}

// FuzzParseAutQuery: the raw query of a .sms_aut request.
func FuzzParseAutQuery(f *testing.F) {
	for _, s := range []string{"MPLIST", "mplist1&ps1", "MPLIST2&PS1", "MPCERT", "SITESIGNCERT", "MPKEYINFORMATIONMEDIA",
		"GETCLIENTAFFINITY&GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10", "x&y&z", "MPLIST&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 1024 {
			return
		}
		q, err := ParseAutQuery(raw)
		if err != nil {
			if !errors.Is(err, ErrUnknownQuery) {
				t.Fatalf("error does not wrap ErrUnknownQuery: %v", err)
			}
			return
		}
		// The canonical form of the query parses to the same query.
		canon := q.Kind.String()
		if q.Site != "" {
			canon += "&" + q.Site
		}
		if q.SMSID != "" {
			canon += "&" + q.SMSID
		}
		if q2, err := ParseAutQuery(canon); err != nil || q2 != q {
			t.Fatalf("%q → %+v; canonical %q → %+v %v", raw, q, canon, q2, err)
		}
	})
}

// FuzzAuthHeader: an Authorization header value (NTLM, Negotiate, SPNEGO).
func FuzzAuthHeader(f *testing.F) {
	acct := ComputerAccount{Domain: "CORP", User: "CLIENT1$"}
	neg, _ := acct.NegotiateToken()
	f.Add(AuthHeaderValue("NTLM", neg))
	f.Add(AuthHeaderValue("Negotiate", SPNEGOInit(neg)))
	f.Add(AuthHeaderValue("Negotiate", SPNEGOResponse(neg, SPNEGOAcceptIncomplete)))
	f.Add(AuthHeaderValue("Negotiate", derTLV(nil, 0x60, append(append([]byte{}, oidKerberos...), 1, 0))))
	f.Add("Basic x")
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 8<<10 {
			return
		}
		tok, err := ParseAuthHeader(v)
		if err != nil {
			if !errors.Is(err, ErrNTLM) && !errors.Is(err, ErrKerberos) {
				t.Fatalf("error wraps neither ErrNTLM nor ErrKerberos: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(tok.NTLM, ntlmSignature) {
			t.Fatalf("accepted a token without the NTLMSSP signature: % x", tok.NTLM)
		}
		ParseNegotiate(tok.NTLM)
		ParseAuthenticate(tok.NTLM)
	})
}

// FuzzNTLMNegotiate: a NEGOTIATE message, and the CHALLENGE made for it.
func FuzzNTLMNegotiate(f *testing.F) {
	acct := ComputerAccount{Domain: "CORP", User: "CLIENT1$"}
	neg, _ := acct.NegotiateToken()
	f.Add(neg)
	f.Add(append([]byte("NTLMSSP\x00\x01\x00\x00\x00"), 0x07, 0x32, 0, 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 4<<10 {
			return
		}
		n, err := ParseNegotiate(msg)
		if err != nil {
			if !errors.Is(err, ErrNTLM) {
				t.Fatalf("error does not wrap ErrNTLM: %v", err)
			}
			return
		}
		if len(n.Domain) > 2*len(msg) || len(n.Workstation) > 2*len(msg) {
			t.Fatal("names longer than the message")
		}
		ch, err := NewChallenge(&n, &testChallengeConfig)
		if err != nil || ch.Flags&NTLMFlagNTLM == 0 || (ch.Flags&NTLMFlagUnicode != 0) == (ch.Flags&NTLMFlagOEM != 0) {
			t.Fatalf("challenge flags %08x: %v", ch.Flags, err)
		}
	})
}

// FuzzNTLMAuthenticate: an AUTHENTICATE message.
func FuzzNTLMAuthenticate(f *testing.F) {
	acct := ComputerAccount{Domain: "CORP", User: "CLIENT1$", Password: "pw"}
	neg, _ := acct.NegotiateToken()
	n, _ := ParseNegotiate(neg)
	ch, _ := NewChallenge(&n, &testChallengeConfig)
	auth, _ := acct.AuthenticateToken(ch.Message)
	f.Add(auth)
	f.Add(auth[:64])
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 4<<10 {
			return
		}
		a, err := ParseAuthenticate(msg)
		if err != nil {
			if !errors.Is(err, ErrNTLM) {
				t.Fatalf("error does not wrap ErrNTLM: %v", err)
			}
			return
		}
		if len(a.Domain)+len(a.User)+len(a.Workstation) > 3*len(msg) {
			t.Fatal("names longer than the message")
		}
		VerifyNTLMv2(&a, ch.ServerChallenge, "pw")
	})
}

// FuzzRegistrationReply: the client's reading of the MP's registration reply.
func FuzzRegistrationReply(f *testing.F) {
	f.Add(AppendRegistrationReply(nil, &RegistrationReply{SMSID: gSMSID, TimeStamp: gTime, ApprovalStatus: 1}))
	f.Add([]byte(`<ClientRegistrationResponse ResponseType="Registration" Status="1" SMSID="GUID:&#x31;"/>`))
	f.Add(cat([]byte{0xFF, 0xFE}, u16le(`<R SMSID="GUID:x"/>`)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 8<<10 {
			return
		}
		r, err := ParseRegistrationReply(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		r2, err := ParseRegistrationReply(AppendRegistrationReply(nil, &r))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !r.TimeStamp.Equal(r2.TimeStamp) {
			t.Fatalf("TimeStamp %v → %v", r.TimeStamp, r2.TimeStamp)
		}
		r.TimeStamp = r2.TimeStamp
		if r.ResponseType == "" {
			r.ResponseType = "Registration"
		}
		if r.ApprovalStatus < 0 {
			r.ApprovalStatus = 0
		}
		if r2 != r {
			t.Fatalf("round trip: %+v → %+v", r, r2)
		}
	})
}

// FuzzReplyAssignments: the client's reading of <ReplyAssignments>.
func FuzzReplyAssignments(f *testing.F) {
	f.Add(AppendReplyAssignments(nil, &AssignmentReply{PolicySource: "SMS:PS1", Policies: MachinePolicies()}))
	f.Add([]byte(`<ReplyAssignments><PolicyAssignment><Policy PolicyID="a" PolicyFlags="4"><PolicyLocation>http://&lt;mp&gt;/x</PolicyLocation></Policy></PolicyAssignment></ReplyAssignments>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 32<<10 {
			return
		}
		ps, err := AppendPolicies(nil, doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// One write-read normalises (defaults, trimmed locations); a second changes nothing.
		p1, err := AppendPolicies(nil, AppendReplyAssignments(nil, &AssignmentReply{Policies: ps}))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		p2, err := AppendPolicies(nil, AppendReplyAssignments(nil, &AssignmentReply{Policies: p1}))
		if err != nil || !reflect.DeepEqual(p1, p2) {
			t.Fatalf("not stable: %+v → %+v (%v)", p1, p2, err)
		}
	})
}

// FuzzMPList: the client's reading of an MPLIST document.
func FuzzMPList(f *testing.F) {
	f.Add(goldenCases(f)["mplist"])
	f.Add([]byte(`<MPList><MP Name="a"><Version>x</Version></MP></MPList>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 16<<10 {
			return
		}
		mps, err := ParseMPList(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := ParseMPList(AppendMPList(nil, mps))
		if err != nil || len(again) != len(mps) || (len(mps) > 0 && !reflect.DeepEqual(again, mps)) {
			t.Fatalf("round trip: %+v → %+v (%v)", mps, again, err)
		}
	})
}
