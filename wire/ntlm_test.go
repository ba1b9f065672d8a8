package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/go-ntlmssp"
)

var testChallengeConfig = ChallengeConfig{NetBIOSDomain: "CORP", NetBIOSComputer: "MP1", DNSDomain: "corp.example", DNSComputer: "mp1.corp.example", Time: gTime}

// TestNTLMRoundTrip: go-ntlmssp's client messages, through the portlab wrapper, parse
// with the server side and yield the computer account; the response verifies against
// the server challenge and the password.
func TestNTLMRoundTrip(t *testing.T) {
	for _, pw := range []string{"", "S3cret!"} {
		acct := ComputerAccount{Domain: "CORP", User: "CLIENT1$", Password: pw}
		neg, err := acct.NegotiateToken()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ParseAuthHeader(AuthHeaderValue("NTLM", neg))
		if err != nil || tok.SPNEGO || tok.Scheme != "NTLM" {
			t.Fatal(tok, err)
		}
		n, err := ParseNegotiate(tok.NTLM)
		if err != nil || n.Flags&NTLMFlagUnicode == 0 {
			t.Fatal(n, err)
		}
		ch, err := NewChallenge(&n, &testChallengeConfig)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := acct.AuthenticateToken(ch.Message)
		if err != nil {
			t.Fatal(err)
		}
		tok, err = ParseAuthHeader(AuthHeaderValue("NTLM", auth))
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthenticate(tok.NTLM)
		if err != nil {
			t.Fatal(err)
		}
		if a.Domain != "CORP" || a.User != "CLIENT1$" || a.Workstation != "CLIENT1" || !a.ComputerAccount() || a.Anonymous || a.Account() != `CORP\CLIENT1$` {
			t.Fatalf("%+v", a)
		}
		if !VerifyNTLMv2(&a, ch.ServerChallenge, pw) {
			t.Fatal("NTLMv2 response does not verify with the right password")
		}
		if VerifyNTLMv2(&a, ch.ServerChallenge, pw+"x") {
			t.Fatal("NTLMv2 response verifies with a wrong password")
		}
		var other [8]byte
		if VerifyNTLMv2(&a, other, pw) {
			t.Fatal("NTLMv2 response verifies against another challenge")
		}
	}
}

// TestNTLMUnderNegotiate: bare NTLMSSP and SPNEGO-wrapped tokens under "Negotiate".
func TestNTLMUnderNegotiate(t *testing.T) {
	acct := ComputerAccount{Domain: "CORP", User: "CLIENT2$"}
	neg, _ := acct.NegotiateToken()
	for _, wrapped := range []bool{false, true} {
		tok := neg
		if wrapped {
			tok = SPNEGOInit(neg)
		}
		at, err := ParseAuthHeader("negotiate " + base64.StdEncoding.EncodeToString(tok))
		if err != nil || at.SPNEGO != wrapped || !bytes.Equal(at.NTLM, neg) || at.Scheme != "Negotiate" {
			t.Fatalf("wrapped=%v: %+v %v", wrapped, at, err)
		}
		n, _ := ParseNegotiate(at.NTLM)
		ch, _ := NewChallenge(&n, &testChallengeConfig)
		resp := SPNEGOResponse(ch.Message, SPNEGOAcceptIncomplete)
		// The client side sees the challenge inside the negTokenResp.
		back, err := ParseAuthHeader(AuthHeaderValue("Negotiate", resp))
		if err != nil || !bytes.Equal(back.NTLM, ch.Message) {
			t.Fatalf("challenge unwrap: %v", err)
		}
		auth, err := acct.AuthenticateToken(back.NTLM)
		if err != nil {
			t.Fatal(err)
		}
		at, err = ParseAuthHeader(AuthHeaderValue("Negotiate", SPNEGOResponse(auth, SPNEGOAcceptIncomplete)))
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthenticate(at.NTLM)
		if err != nil || a.User != "CLIENT2$" {
			t.Fatal(a, err)
		}
	}
	if done := SPNEGOResponse(nil, SPNEGOAcceptCompleted); !bytes.Equal(done, []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00}) {
		t.Fatalf("% x", done)
	}
}

func TestNTLMKerberosRefused(t *testing.T) {
	// A bare Kerberos AP-REQ: GSS wrapper with the Kerberos OID.
	apreq := derTLV(nil, 0x60, append(append([]byte{}, oidKerberos...), 0x01, 0x00, 0x6e, 0x00))
	// SPNEGO offering Kerberos with an optimistic Kerberos token.
	var seq []byte
	seq = derTLV(seq, 0xa0, derTLV(nil, 0x30, append(append([]byte{}, oidMSKrb5...), oidKerberos...)))
	seq = derTLV(seq, 0xa2, derTLV(nil, 0x04, apreq))
	init := derTLV(nil, 0x60, append(append([]byte{}, oidSPNEGO...), derTLV(nil, 0xa0, derTLV(nil, 0x30, seq))...))
	// SPNEGO offering Kerberos only, no token.
	var seq2 []byte
	seq2 = derTLV(seq2, 0xa0, derTLV(nil, 0x30, oidKerberos))
	init2 := derTLV(nil, 0x60, append(append([]byte{}, oidSPNEGO...), derTLV(nil, 0xa0, derTLV(nil, 0x30, seq2))...))
	for name, tok := range map[string][]byte{"AP-REQ": apreq, "SPNEGO+krb token": init, "SPNEGO krb only": init2} {
		if _, err := ParseAuthHeader(AuthHeaderValue("Negotiate", tok)); !errors.Is(err, ErrKerberos) {
			t.Errorf("%s: %v, want ErrKerberos", name, err)
		}
	}
}

func TestNTLMMalformed(t *testing.T) {
	for _, v := range []string{"", "Basic dXNlcjpwYXNz", "NTLM", "NTLM !!!", "NTLM " + base64.StdEncoding.EncodeToString([]byte("hello")),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x30, 0x00}), "Negotiate " + strings.Repeat("A", 100000)} {
		if _, err := ParseAuthHeader(v); !errors.Is(err, ErrNTLM) {
			t.Errorf("%.40q: %v, want ErrNTLM", v, err)
		}
	}
	neg, _ := ntlmssp.NewNegotiateMessage("CORP", "WS1")
	n, err := ParseNegotiate(neg)
	if err != nil || n.Domain != "CORP" || n.Workstation != "WS1" {
		t.Fatalf("OEM names: %+v %v", n, err)
	}
	if _, err := ParseAuthenticate(neg); !errors.Is(err, ErrNTLM) {
		t.Fatal("type 1 accepted as type 3")
	}
	bad := append([]byte{}, neg...)
	binary.LittleEndian.PutUint32(bad[20:], 1<<30) // domain offset far outside
	if _, err := ParseNegotiate(bad); !errors.Is(err, ErrNTLM) {
		t.Fatalf("bad offset: %v", err)
	}
	if _, err := ParseNegotiate(neg[:10]); !errors.Is(err, ErrNTLM) {
		t.Fatal("short")
	}
}

// TestNTLMChallengeFlags: the challenge grants what was asked and the server supports.
func TestNTLMChallengeFlags(t *testing.T) {
	ch, err := NewChallenge(&Negotiate{Flags: NTLMFlagOEM | NTLMFlagLMKey | NTLMFlagRequestTarget}, &testChallengeConfig)
	if err != nil {
		t.Fatal(err)
	}
	f := binary.LittleEndian.Uint32(ch.Message[20:])
	if f != ch.Flags || f&NTLMFlagOEM == 0 || f&NTLMFlagUnicode != 0 || f&NTLMFlagLMKey == 0 || f&NTLMFlagTargetDomain == 0 || f&NTLMFlagTargetInfo == 0 {
		t.Fatalf("flags %08x", f)
	}
	if !bytes.Contains(ch.Message, []byte("CORP")) {
		t.Fatal("OEM target name missing")
	}
	ch, _ = NewChallenge(&Negotiate{Flags: NTLMFlagUnicode | NTLMFlagOEM | NTLMFlagESS | NTLMFlagLMKey | NTLMFlagDatagram}, &testChallengeConfig)
	if ch.Flags&NTLMFlagOEM != 0 || ch.Flags&NTLMFlagLMKey != 0 || ch.Flags&NTLMFlagDatagram != 0 || ch.Flags&NTLMFlagESS == 0 {
		t.Fatalf("flags %08x", ch.Flags)
	}
	ch2, _ := NewChallenge(&Negotiate{Flags: NTLMFlagUnicode}, &testChallengeConfig)
	if ch.ServerChallenge == ch2.ServerChallenge {
		t.Fatal("server challenge is not random")
	}
}

func TestMD4(t *testing.T) {
	// RFC 1320 test vectors.
	for in, want := range map[string]string{"": "31d6cfe0d16ae931b73c59d7e0c089c0", "abc": "a448017aaf21d8525fc10ae87aa6729d",
		"12345678901234567890123456789012345678901234567890123456789012345678901234567890": "e33b4ddc9c38f2199c3e7b164fcc0536"} {
		if got := md4([]byte(in)); base64.StdEncoding.EncodeToString(got[:]) != base64.StdEncoding.EncodeToString(mustHex(t, want)) {
			t.Errorf("md4(%q) = %x", in, got)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}
