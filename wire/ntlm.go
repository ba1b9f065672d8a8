package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"
)

// The server side of NTLM (MS-NLMP) for /ccm_system_windowsauth/request. An anonymous
// caller gets 401 with "WWW-Authenticate: Negotiate" and "WWW-Authenticate: NTLM"; a
// caller with a computer account then completes, on one keep-alive connection,
//
//	client                                      MP
//	  | -- Authorization: NTLM <NEGOTIATE> ------> |  ParseAuthHeader, ParseNegotiate
//	  | <- 401 WWW-Authenticate: NTLM <CHALLENGE>  |  NewChallenge
//	  | -- Authorization: NTLM <AUTHENTICATE> ---> |  ParseAuthenticate → CORP\CLIENT1$
//	  | <- 200 (the CCM reply)                     |
//
// Under "Negotiate" the same NTLM messages may come bare or wrapped in SPNEGO; the
// wrapping is removed and the answer wrapped the same way (SPNEGOResponse). Kerberos
// tokens are refused with ErrKerberos. The MP learns the account (domain, user,
// workstation); it cannot check the password without the domain's secrets, so it does
// not (VerifyNTLMv2 can, given one). Every parser is bounded by the message length and
// MaxAuthToken; their errors wrap ErrNTLM.

// ErrNTLM: an Authorization header or NTLM message is malformed (answer 401 or 400).
var ErrNTLM = errors.New("malformed NTLM authentication")

// ErrKerberos: the client offered Kerberos, which the fake MP does not speak (answer 401
// with NTLM only).
var ErrKerberos = errors.New("kerberos token refused: only NTLM is supported")

// AuthOffers returns the WWW-Authenticate values an MP sends an anonymous caller of
// PathRequestWinAuth with its 401, one header each: Negotiate, then NTLM.
func AuthOffers() []string { return []string{"Negotiate", "NTLM"} }

// MaxAuthToken bounds a decoded authentication token (real NTLM messages are well
// under 2 KiB; a Kerberos ticket with a PAC can reach tens of KiB).
const MaxAuthToken = 64 << 10

// NTLM negotiate flags (MS-NLMP 2.2.2.5).
const (
	NTLMFlagUnicode       = 1 << 0  // A
	NTLMFlagOEM           = 1 << 1  // B
	NTLMFlagRequestTarget = 1 << 2  // C
	NTLMFlagSign          = 1 << 4  // D
	NTLMFlagSeal          = 1 << 5  // E
	NTLMFlagDatagram      = 1 << 6  // F
	NTLMFlagLMKey         = 1 << 7  // G
	NTLMFlagNTLM          = 1 << 9  // H
	NTLMFlagAnonymous     = 1 << 11 // J
	NTLMFlagOEMDomain     = 1 << 12 // K
	NTLMFlagOEMWorkstatn  = 1 << 13 // L
	NTLMFlagAlwaysSign    = 1 << 15 // M
	NTLMFlagTargetDomain  = 1 << 16 // N
	NTLMFlagTargetServer  = 1 << 17 // O
	NTLMFlagESS           = 1 << 19 // P: extended session security
	NTLMFlagIdentify      = 1 << 20 // Q
	NTLMFlagNonNTKey      = 1 << 22 // R
	NTLMFlagTargetInfo    = 1 << 23 // S
	NTLMFlagVersion       = 1 << 25 // T
	NTLMFlag128           = 1 << 29 // U
	NTLMFlagKeyExch       = 1 << 30 // V
	NTLMFlag56            = 1 << 31 // W
)

var ntlmSignature = []byte("NTLMSSP\x00")

// AuthToken is a decoded Authorization (or WWW-Authenticate) header value.
type AuthToken struct {
	Scheme string // NTLM or Negotiate, as the peer wrote it
	NTLM   []byte // the NTLMSSP message (unwrapped from SPNEGO when it was wrapped)
	SPNEGO bool   // the token was SPNEGO-wrapped: answer with SPNEGOResponse
}

// ParseAuthHeader decodes "NTLM <base64>" or "Negotiate <base64>" (scheme names are
// case-insensitive). Under Negotiate a bare NTLMSSP message or an SPNEGO negTokenInit /
// negTokenResp carrying one is accepted; a Kerberos token wraps ErrKerberos; anything
// else wraps ErrNTLM.
func ParseAuthHeader(value string) (AuthToken, error) {
	var t AuthToken
	scheme, b64, _ := strings.Cut(strings.TrimSpace(value), " ")
	b64 = strings.TrimSpace(b64)
	switch {
	case strings.EqualFold(scheme, "NTLM"):
		t.Scheme = "NTLM"
	case strings.EqualFold(scheme, "Negotiate"):
		t.Scheme = "Negotiate"
	default:
		return t, fmt.Errorf("%w: scheme %q is not NTLM or Negotiate", ErrNTLM, scheme)
	}
	if b64 == "" {
		return t, fmt.Errorf("%w: %s without a token", ErrNTLM, t.Scheme)
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > MaxAuthToken {
		return t, fmt.Errorf("%w: token longer than %d bytes", ErrNTLM, MaxAuthToken)
	}
	tok, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if tok, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return t, fmt.Errorf("%w: token is not base64", ErrNTLM)
		}
	}
	if bytes.HasPrefix(tok, ntlmSignature) {
		t.NTLM = tok
		return t, nil
	}
	if t.Scheme == "NTLM" {
		return t, fmt.Errorf("%w: NTLM token without the NTLMSSP signature", ErrNTLM)
	}
	t.SPNEGO = true
	t.NTLM, err = unwrapSPNEGO(tok)
	return t, err
}

// Object identifiers, DER-encoded with tag and length.
var (
	oidSPNEGO   = []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	oidNTLMSSP  = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	oidKerberos = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKrb5   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidKrbU2U   = []byte{0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x03}
)

// derNext reads one DER TLV (single-byte tags; definite lengths up to 4 bytes).
func derNext(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: SPNEGO: truncated", ErrNTLM)
	}
	tag, l := b[0], int(b[1])
	b = b[2:]
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < n {
			return 0, nil, nil, fmt.Errorf("%w: SPNEGO: bad length", ErrNTLM)
		}
		l = 0
		for i := 0; i < n; i++ {
			l = l<<8 | int(b[i])
		}
		b = b[n:]
	}
	if l < 0 || l > len(b) {
		return 0, nil, nil, fmt.Errorf("%w: SPNEGO: length beyond the token", ErrNTLM)
	}
	return tag, b[:l], b[l:], nil
}

func isKerberosOID(tlv []byte) bool {
	return bytes.Equal(tlv, oidKerberos) || bytes.Equal(tlv, oidMSKrb5) || bytes.Equal(tlv, oidKrbU2U)
}

// unwrapSPNEGO returns the NTLMSSP message inside an SPNEGO token.
func unwrapSPNEGO(tok []byte) ([]byte, error) {
	tag, body, _, err := derNext(tok)
	if err != nil {
		return nil, err
	}
	switch tag {
	case 0x60: // GSS-API InitialContextToken: thisMech OID, then the inner token
		if bytes.HasPrefix(body, oidKerberos) || bytes.HasPrefix(body, oidMSKrb5) {
			return nil, fmt.Errorf("%w (a bare Kerberos AP-REQ)", ErrKerberos)
		}
		if !bytes.HasPrefix(body, oidSPNEGO) {
			return nil, fmt.Errorf("%w: GSS token of an unknown mechanism", ErrNTLM)
		}
		tag, body, _, err = derNext(body[len(oidSPNEGO):])
		if err != nil {
			return nil, err
		}
		if tag != 0xa0 {
			return nil, fmt.Errorf("%w: SPNEGO: not a negTokenInit", ErrNTLM)
		}
		return negTokenField(body, 0xa2, true)
	case 0xa0: // negTokenInit without the GSS wrapper
		return negTokenField(body, 0xa2, true)
	case 0xa1: // negTokenResp: responseToken is [2]
		return negTokenField(body, 0xa2, false)
	}
	return nil, fmt.Errorf("%w: not an NTLMSSP or SPNEGO token", ErrNTLM)
}

// negTokenField reads the SEQUENCE of a negTokenInit/Resp and returns the OCTET STRING
// of the field with context tag want (mechToken / responseToken). For an init token it
// also checks the first offered mechanism is not Kerberos-only.
func negTokenField(b []byte, want byte, init bool) ([]byte, error) {
	tag, seq, _, err := derNext(b)
	if err != nil {
		return nil, err
	}
	if tag != 0x30 {
		return nil, fmt.Errorf("%w: SPNEGO: not a SEQUENCE", ErrNTLM)
	}
	var tok []byte
	offersNTLM, firstKerberos := false, false
	for len(seq) > 0 {
		var f []byte
		if tag, f, seq, err = derNext(seq); err != nil {
			return nil, err
		}
		switch {
		case init && tag == 0xa0: // mechTypes: SEQUENCE OF OID
			_, list, _, err := derNext(f)
			if err != nil {
				return nil, err
			}
			for first := true; len(list) > 0; first = false {
				start := list
				_, _, rest, err := derNext(list)
				if err != nil {
					return nil, err
				}
				oid := start[:len(start)-len(rest)]
				list = rest
				if bytes.Equal(oid, oidNTLMSSP) {
					offersNTLM = true
				} else if first && isKerberosOID(oid) {
					firstKerberos = true
				}
			}
		case tag == want:
			t, v, _, err := derNext(f)
			if err != nil {
				return nil, err
			}
			if t != 0x04 {
				return nil, fmt.Errorf("%w: SPNEGO: token is not an OCTET STRING", ErrNTLM)
			}
			tok = v
		}
	}
	if len(tok) == 0 {
		if init && !offersNTLM {
			return nil, fmt.Errorf("%w (no NTLMSSP mechanism offered)", ErrKerberos)
		}
		return nil, fmt.Errorf("%w: SPNEGO token carries no NTLMSSP message", ErrNTLM)
	}
	if !bytes.HasPrefix(tok, ntlmSignature) {
		if firstKerberos || bytes.HasPrefix(tok, []byte{0x60}) {
			return nil, fmt.Errorf("%w (the optimistic token is Kerberos)", ErrKerberos)
		}
		return nil, fmt.Errorf("%w: SPNEGO token is not NTLMSSP", ErrNTLM)
	}
	return tok, nil
}

// derTLV appends a DER TLV.
func derTLV(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	switch n := len(content); {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n < 0x100:
		dst = append(dst, 0x81, byte(n))
	case n < 0x10000:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}

// SPNEGO negotiation states (negState).
const (
	SPNEGOAcceptCompleted  = 0
	SPNEGOAcceptIncomplete = 1
	SPNEGOReject           = 2
)

// SPNEGOResponse wraps an NTLM message (nil for none) in a negTokenResp with negState
// state and supportedMech NTLMSSP: the MP's answer under Negotiate to a wrapped token
// (accept-incomplete with the CHALLENGE, then accept-completed with no token).
func SPNEGOResponse(ntlm []byte, state int) []byte {
	var seq []byte
	seq = derTLV(seq, 0xa0, derTLV(nil, 0x0a, []byte{byte(state)}))
	if state == SPNEGOAcceptIncomplete {
		seq = derTLV(seq, 0xa1, oidNTLMSSP)
	}
	if ntlm != nil {
		seq = derTLV(seq, 0xa2, derTLV(nil, 0x04, ntlm))
	}
	return derTLV(nil, 0xa1, derTLV(nil, 0x30, seq))
}

// SPNEGOInit wraps an NTLM NEGOTIATE message in a GSS-API SPNEGO negTokenInit offering
// NTLMSSP only (what a client sends under Negotiate when it cannot do Kerberos).
func SPNEGOInit(ntlm []byte) []byte {
	var seq []byte
	seq = derTLV(seq, 0xa0, derTLV(nil, 0x30, oidNTLMSSP))
	seq = derTLV(seq, 0xa2, derTLV(nil, 0x04, ntlm))
	inner := append(append([]byte{}, oidSPNEGO...), derTLV(nil, 0xa0, derTLV(nil, 0x30, seq))...)
	return derTLV(nil, 0x60, inner)
}

// AuthHeaderValue formats a WWW-Authenticate/Authorization value: "<scheme> <base64>".
func AuthHeaderValue(scheme string, token []byte) string {
	return scheme + " " + base64.StdEncoding.EncodeToString(token)
}

// Negotiate is an NTLM NEGOTIATE (type 1) message.
type Negotiate struct {
	Flags       uint32
	Domain      string // OEM, when the client supplied it
	Workstation string // OEM, when the client supplied it
}

// ntlmField reads an NTLM (len, maxlen, offset) field at off and returns its bytes.
func ntlmField(msg []byte, off int) ([]byte, error) {
	if off+8 > len(msg) {
		return nil, fmt.Errorf("%w: message too short for its fields", ErrNTLM)
	}
	l := int(binary.LittleEndian.Uint16(msg[off:]))
	o := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if l == 0 {
		return nil, nil
	}
	if o < 0 || o > len(msg) || l > len(msg)-o {
		return nil, fmt.Errorf("%w: field at %d points outside the message", ErrNTLM, off)
	}
	return msg[o : o+l], nil
}

func checkNTLM(msg []byte, typ uint32, min int) error {
	if len(msg) > MaxAuthToken {
		return fmt.Errorf("%w: message of %d bytes", ErrNTLM, len(msg))
	}
	if len(msg) < min || !bytes.HasPrefix(msg, ntlmSignature) {
		return fmt.Errorf("%w: not an NTLMSSP message", ErrNTLM)
	}
	if t := binary.LittleEndian.Uint32(msg[8:]); t != typ {
		return fmt.Errorf("%w: message type %d, want %d", ErrNTLM, t, typ)
	}
	return nil
}

// ParseNegotiate reads a NEGOTIATE message (16 bytes minimum: old clients omit the
// domain and workstation fields).
func ParseNegotiate(msg []byte) (Negotiate, error) {
	var n Negotiate
	if err := checkNTLM(msg, 1, 16); err != nil {
		return n, err
	}
	n.Flags = binary.LittleEndian.Uint32(msg[12:])
	if len(msg) >= 32 {
		if n.Flags&NTLMFlagOEMDomain != 0 {
			d, err := ntlmField(msg, 16)
			if err != nil {
				return n, err
			}
			n.Domain = oemString(d)
		}
		if n.Flags&NTLMFlagOEMWorkstatn != 0 {
			w, err := ntlmField(msg, 24)
			if err != nil {
				return n, err
			}
			n.Workstation = oemString(w)
		}
	}
	return n, nil
}

// ChallengeConfig names the server in a CHALLENGE's target information.
type ChallengeConfig struct {
	NetBIOSDomain   string    // CORP: the target name and MsvAvNbDomainName
	NetBIOSComputer string    // MP1
	DNSDomain       string    // corp.example
	DNSComputer     string    // mp1.corp.example
	Time            time.Time // MsvAvTimestamp; zero: now
	Rand            io.Reader // the server challenge's source; nil: crypto/rand
}

// Challenge is a CHALLENGE (type 2) message and the server challenge in it (keep it to
// verify the AUTHENTICATE).
type Challenge struct {
	Message         []byte
	ServerChallenge [8]byte
	Flags           uint32
}

// serverFlags are the flags the MP can grant when asked.
const serverFlags = NTLMFlagUnicode | NTLMFlagOEM | NTLMFlagRequestTarget | NTLMFlagSign | NTLMFlagSeal |
	NTLMFlagLMKey | NTLMFlagNTLM | NTLMFlagAlwaysSign | NTLMFlagESS | NTLMFlagIdentify | NTLMFlagNonNTKey |
	NTLMFlagVersion | NTLMFlag128 | NTLMFlagKeyExch | NTLMFlag56

// NewChallenge answers neg: a random server challenge, the target name (the NetBIOS
// domain), the target information (NetBIOS and DNS domain and computer names, a
// timestamp) and the flags neg asked for that the server supports (UNICODE rather
// than OEM when both are asked, LM_KEY dropped when extended session security is
// asked), with NTLM and TARGET_INFO always set.
func NewChallenge(neg *Negotiate, cfg *ChallengeConfig) (Challenge, error) {
	var c Challenge
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, c.ServerChallenge[:]); err != nil {
		return c, fmt.Errorf("ntlm challenge: %w", err)
	}
	f := neg.Flags&serverFlags | NTLMFlagNTLM | NTLMFlagTargetInfo
	if f&NTLMFlagUnicode != 0 {
		f &^= NTLMFlagOEM
	} else {
		f |= NTLMFlagOEM
	}
	if f&NTLMFlagESS != 0 {
		f &^= NTLMFlagLMKey
	}
	if f&NTLMFlagRequestTarget != 0 {
		f |= NTLMFlagTargetDomain
	}
	c.Flags = f
	var target []byte
	if f&NTLMFlagRequestTarget != 0 {
		if f&NTLMFlagUnicode != 0 {
			target = appendUTF16(nil, cfg.NetBIOSDomain)
		} else {
			target = []byte(cfg.NetBIOSDomain)
		}
	}
	ts := cfg.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	var info []byte
	info = avPair(info, 2, cfg.NetBIOSDomain)
	info = avPair(info, 1, cfg.NetBIOSComputer)
	info = avPair(info, 4, cfg.DNSDomain)
	info = avPair(info, 3, cfg.DNSComputer)
	if cfg.DNSDomain != "" {
		info = avPair(info, 5, cfg.DNSDomain) // the forest: the domain itself
	}
	info = binary.LittleEndian.AppendUint16(info, 7)
	info = binary.LittleEndian.AppendUint16(info, 8)
	info = binary.LittleEndian.AppendUint64(info, uint64(ts.UnixNano()/100+116444736000000000))
	info = append(info, 0, 0, 0, 0) // MsvAvEOL

	const fixed = 56
	m := make([]byte, fixed, fixed+len(target)+len(info))
	copy(m, ntlmSignature)
	binary.LittleEndian.PutUint32(m[8:], 2)
	putField(m[12:], len(target), fixed)
	binary.LittleEndian.PutUint32(m[20:], f)
	copy(m[24:], c.ServerChallenge[:])
	putField(m[40:], len(info), fixed+len(target))
	if f&NTLMFlagVersion != 0 {
		copy(m[48:], []byte{10, 0, 0x7c, 0x4f, 0, 0, 0, 15}) // 10.0.20348, NTLM revision 15
	}
	m = append(m, target...)
	c.Message = append(m, info...)
	return c, nil
}

func putField(b []byte, l, off int) {
	binary.LittleEndian.PutUint16(b, uint16(l))
	binary.LittleEndian.PutUint16(b[2:], uint16(l))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

func avPair(dst []byte, id uint16, s string) []byte {
	if s == "" {
		return dst
	}
	v := appendUTF16(nil, s)
	dst = binary.LittleEndian.AppendUint16(dst, id)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// Authenticate is an AUTHENTICATE (type 3) message. Its byte fields alias the message.
type Authenticate struct {
	Flags       uint32
	Domain      string
	User        string // a computer account is NAME$
	Workstation string
	LMResponse  []byte
	NTResponse  []byte // NTLMv2: 16-byte proof, then the client's blob
	SessionKey  []byte // EncryptedRandomSessionKey, when sent
	Anonymous   bool   // no user and no NT response
}

// Account returns DOMAIN\User.
func (a *Authenticate) Account() string { return a.Domain + `\` + a.User }

// ComputerAccount reports whether the user is a computer account (NAME$).
func (a *Authenticate) ComputerAccount() bool {
	return strings.HasSuffix(a.User, "$") && len(a.User) > 1
}

// maxNameBytes bounds each name of an AUTHENTICATE (256 UTF-16 characters).
const maxNameBytes = 512

// ParseAuthenticate reads an AUTHENTICATE message: the names are Unicode when the
// message's flags say so, OEM otherwise.
func ParseAuthenticate(msg []byte) (Authenticate, error) {
	var a Authenticate
	if err := checkNTLM(msg, 3, 64); err != nil {
		return a, err
	}
	a.Flags = binary.LittleEndian.Uint32(msg[60:])
	var err error
	if a.LMResponse, err = ntlmField(msg, 12); err != nil {
		return a, err
	}
	if a.NTResponse, err = ntlmField(msg, 20); err != nil {
		return a, err
	}
	var names [3]string
	for i, off := range [3]int{28, 36, 44} {
		b, err := ntlmField(msg, off)
		if err != nil {
			return a, err
		}
		if len(b) > maxNameBytes {
			return a, fmt.Errorf("%w: name of %d bytes", ErrNTLM, len(b))
		}
		if a.Flags&NTLMFlagUnicode != 0 {
			if len(b)%2 != 0 {
				return a, fmt.Errorf("%w: odd-length Unicode name", ErrNTLM)
			}
			names[i] = utf16String(b)
		} else {
			names[i] = oemString(b)
		}
	}
	a.Domain, a.User, a.Workstation = names[0], names[1], names[2]
	if a.SessionKey, err = ntlmField(msg, 52); err != nil {
		return a, err
	}
	a.Anonymous = a.User == "" && len(a.NTResponse) == 0
	if !a.Anonymous && len(a.NTResponse) < 24 {
		return a, fmt.Errorf("%w: NT response of %d bytes", ErrNTLM, len(a.NTResponse))
	}
	return a, nil
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// oemString reads an OEM string as Latin-1 (what an OEM code page is for ASCII names).
func oemString(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// VerifyNTLMv2 reports whether a's NTLMv2 response was made with password against the
// server challenge sc (NTOWFv2 = HMAC-MD5(MD4(password), upper(user)+domain);
// NTProofStr = HMAC-MD5(NTOWFv2, sc+blob)). The fake MP cannot know a domain computer's
// password; this is for tests and for scenarios that configure one.
func VerifyNTLMv2(a *Authenticate, sc [8]byte, password string) bool {
	if len(a.NTResponse) <= 24 {
		return false
	}
	nt := md4(appendUTF16(nil, password))
	key := hmacMD5(nt[:], appendUTF16(nil, strings.ToUpper(a.User)+a.Domain))
	proof := hmacMD5(key, sc[:], a.NTResponse[16:])
	return hmac.Equal(proof, a.NTResponse[:16])
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// md4 is RFC 1320 MD4, the NT hash's digest (the standard library has none).
func md4(msg []byte) [16]byte {
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	n := len(msg)
	msg = append(msg[:n:n], 0x80)
	for len(msg)%64 != 56 {
		msg = append(msg, 0)
	}
	msg = binary.LittleEndian.AppendUint64(msg, uint64(n)*8)
	rotl := func(x uint32, s uint) uint32 { return x<<s | x>>(32-s) }
	var x [16]uint32
	for off := 0; off < len(msg); off += 64 {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(msg[off+4*i:])
		}
		aa, bb, cc, dd := a, b, c, d
		f := func(x, y, z uint32) uint32 { return x&y | ^x&z }
		g := func(x, y, z uint32) uint32 { return x&y | x&z | y&z }
		h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
		for _, i := range [4]int{0, 4, 8, 12} {
			a = rotl(a+f(b, c, d)+x[i], 3)
			d = rotl(d+f(a, b, c)+x[i+1], 7)
			c = rotl(c+f(d, a, b)+x[i+2], 11)
			b = rotl(b+f(c, d, a)+x[i+3], 19)
		}
		for _, i := range [4]int{0, 1, 2, 3} {
			a = rotl(a+g(b, c, d)+x[i]+0x5a827999, 3)
			d = rotl(d+g(a, b, c)+x[i+4]+0x5a827999, 5)
			c = rotl(c+g(d, a, b)+x[i+8]+0x5a827999, 9)
			b = rotl(b+g(c, d, a)+x[i+12]+0x5a827999, 13)
		}
		for _, i := range [4]int{0, 2, 1, 3} {
			a = rotl(a+h(b, c, d)+x[i]+0x6ed9eba1, 3)
			d = rotl(d+h(a, b, c)+x[i+8]+0x6ed9eba1, 9)
			c = rotl(c+h(d, a, b)+x[i+4]+0x6ed9eba1, 11)
			b = rotl(b+h(c, d, a)+x[i+12]+0x6ed9eba1, 15)
		}
		a, b, c, d = a+aa, b+bb, c+cc, d+dd
	}
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a)
	binary.LittleEndian.PutUint32(out[4:], b)
	binary.LittleEndian.PutUint32(out[8:], c)
	binary.LittleEndian.PutUint32(out[12:], d)
	return out
}
