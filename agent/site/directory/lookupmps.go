package directory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// LookupMPs is the light lookup a simulated client runs at every service location: an
// anonymous bind and one search for the site's MP objects (their ports included), two
// round trips instead of Lookup's four, on one goroutine with a small hand-written
// LDAP codec (RFC 4511's BER for exactly these messages) instead of go-ldap's: a fleet
// of 25,000 clients refreshing every 30 s runs more than 800 of them a second, and
// go-ldap's connection (two goroutines, a packet tree per message) costs several times
// more. It does not check the directory's domain (the client knows it) nor read the
// site object; Lookup, built on go-ldap, does both and serves as its reference in the
// tests. Errors and bounds are Lookup's; ErrProtocol marks an answer it cannot read.
func LookupMPs(ctx context.Context, conn net.Conn, domain, siteCode string) (Result, error) {
	ctx, domainDN, code, done, err := startLookup(ctx, conn, domain, siteCode)
	defer done()
	if err != nil {
		return Result{}, err
	}
	dl, _ := ctx.Deadline()
	fail := func(step string, err error) (Result, error) {
		if ctx.Err() != nil || !time.Now().Before(dl) {
			return Result{}, fmt.Errorf("ldap lookup %s: %w (%v)", step, context.DeadlineExceeded, err)
		}
		return Result{}, fmt.Errorf("ldap lookup %s: %w", step, err)
	}
	sm := SystemManagementDN(domainDN)
	w := make([]byte, 0, 512)
	w = appendBindRequest(w, 1)
	if _, err := conn.Write(w); err != nil {
		return fail("bind", err)
	}
	r := &answerReader{r: bufio.NewReaderSize(&limitedConn{Conn: conn, left: MaxLookupBytes}, 2048)}
	if err := r.bindResponse(1); err != nil {
		return fail("bind", err)
	}
	w = appendMPSearch(w[:0], 2, sm, code)
	if _, err := conn.Write(w); err != nil {
		return fail("mp", err)
	}
	res := Result{DomainDN: domainDN, SiteCode: code}
	if err := r.mpSearch(2, sm, &res); err != nil {
		return fail("mp", err)
	}
	_, _ = conn.Write(appendUnbind(w[:0], 3))
	return res, nil
}

// ErrProtocol is wrapped when the directory's answer is not the LDAP message expected.
var ErrProtocol = errors.New("bad LDAP answer")

// BER tags of the messages LookupMPs sends and reads (RFC 4511).
const (
	berInteger    = 0x02
	berOctets     = 0x04
	berEnumerated = 0x0a
	berBoolean    = 0x01
	berSequence   = 0x30
	berSet        = 0x31

	tagBindRequest  = 0x60 // [APPLICATION 0] constructed
	tagBindResponse = 0x61
	tagUnbind       = 0x42 // [APPLICATION 2] primitive
	tagSearch       = 0x63
	tagEntry        = 0x64
	tagDone         = 0x65
	tagReference    = 0x73
	tagFilterAnd    = 0xa0
	tagFilterEqual  = 0xa3
	tagSimpleAuth   = 0x80
)

// appendTLV appends one BER element with a definite length.
func appendTLV(b []byte, tag byte, val []byte) []byte {
	b = append(b, tag)
	b = appendLen(b, len(val))
	return append(b, val...)
}

func appendLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

// appendInt appends a small non-negative INTEGER or ENUMERATED.
func appendInt(b []byte, tag byte, v int) []byte {
	switch {
	case v < 0x80:
		return append(b, tag, 1, byte(v))
	case v < 0x8000:
		return append(b, tag, 2, byte(v>>8), byte(v))
	}
	return append(b, tag, 4, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendMessage wraps op (already encoded) in an LDAPMessage with id.
func appendMessage(b []byte, id int, op []byte) []byte {
	body := appendInt(nil, berInteger, id)
	body = append(body, op...)
	return appendTLV(b, berSequence, body)
}

// appendBindRequest: version 3, empty name, empty simple password (anonymous).
func appendBindRequest(b []byte, id int) []byte {
	op := appendInt(nil, berInteger, 3)
	op = append(op, berOctets, 0, tagSimpleAuth, 0)
	return appendMessage(b, id, appendTLV(nil, tagBindRequest, op))
}

func appendUnbind(b []byte, id int) []byte {
	return appendMessage(b, id, []byte{tagUnbind, 0})
}

// appendMPSearch: the subtree search Lookup runs for the site's MP objects,
// (&(objectClass=mSSMSManagementPoint)(mSSMSSiteCode=<code>)), with lookupAttrs.
func appendMPSearch(b []byte, id int, base, code string) []byte {
	eq := func(b []byte, attr, val string) []byte {
		v := appendTLV(nil, berOctets, []byte(attr))
		v = appendTLV(v, berOctets, []byte(val))
		return appendTLV(b, tagFilterEqual, v)
	}
	filter := eq(nil, "objectClass", "mSSMSManagementPoint")
	filter = eq(filter, "mSSMSSiteCode", code)
	var attrs []byte
	for _, a := range lookupAttrs {
		attrs = appendTLV(attrs, berOctets, []byte(a))
	}
	op := appendTLV(nil, berOctets, []byte(base))
	op = appendInt(op, berEnumerated, 2) // wholeSubtree
	op = appendInt(op, berEnumerated, 0) // neverDerefAliases
	op = appendInt(op, berInteger, 0)    // no size limit
	op = appendInt(op, berInteger, 0)    // no time limit
	op = append(op, berBoolean, 1, 0)    // typesOnly false
	op = appendTLV(op, tagFilterAnd, filter)
	op = appendTLV(op, berSequence, attrs)
	return appendMessage(b, id, appendTLV(nil, tagSearch, op))
}

// answerReader reads the directory's LDAP messages, one at a time, into one buffer.
type answerReader struct {
	r   *bufio.Reader
	buf []byte
}

// maxMessage bounds one LDAP message (MaxLookupBytes bounds the whole answer too).
const maxMessage = 256 << 10

// next reads one LDAPMessage and returns its ID, its protocolOp's tag and content.
// The content is valid until the next call.
func (a *answerReader) next() (id int, tag byte, op []byte, err error) {
	t, err := a.r.ReadByte()
	if err != nil {
		return 0, 0, nil, err
	}
	if t != berSequence {
		return 0, 0, nil, fmt.Errorf("message tag 0x%02x: %w", t, ErrProtocol)
	}
	n, err := readLen(a.r)
	if err != nil {
		return 0, 0, nil, err
	}
	if n > maxMessage {
		return 0, 0, nil, fmt.Errorf("message of %d bytes: %w", n, ErrProtocol)
	}
	if cap(a.buf) < n {
		a.buf = make([]byte, n)
	}
	a.buf = a.buf[:n]
	if _, err := io.ReadFull(a.r, a.buf); err != nil {
		return 0, 0, nil, err
	}
	itag, ival, rest, err := tlv(a.buf)
	if err != nil || itag != berInteger {
		return 0, 0, nil, fmt.Errorf("message ID: %w", ErrProtocol)
	}
	if id, err = berInt(ival); err != nil {
		return 0, 0, nil, err
	}
	tag, op, _, err = tlv(rest) // controls, if any, follow: ignored
	if err != nil {
		return 0, 0, nil, err
	}
	return id, tag, op, nil
}

func readLen(r *bufio.Reader) (int, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b < 0x80 {
		return int(b), nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 3 {
		return 0, fmt.Errorf("length of %d bytes: %w", k, ErrProtocol)
	}
	n := 0
	for range k {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n = n<<8 | int(c)
	}
	return n, nil
}

// tlv splits one BER element off b: its tag, its content and what follows.
func tlv(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("element cut short: %w", ErrProtocol)
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, fmt.Errorf("multi-byte tag: %w", ErrProtocol)
	}
	n, i := int(b[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return 0, nil, nil, fmt.Errorf("element length: %w", ErrProtocol)
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i += k
	}
	if n > len(b)-i {
		return 0, nil, nil, fmt.Errorf("element of %d bytes in %d: %w", n, len(b)-i, ErrProtocol)
	}
	return tag, b[i : i+n], b[i+n:], nil
}

// berInt reads a non-negative INTEGER or ENUMERATED of at most four bytes.
func berInt(v []byte) (int, error) {
	if len(v) == 0 || len(v) > 4 || v[0]&0x80 != 0 {
		return 0, fmt.Errorf("integer of %d bytes: %w", len(v), ErrProtocol)
	}
	n := 0
	for _, c := range v {
		n = n<<8 | int(c)
	}
	return n, nil
}

// ldapResult reads an LDAPResult's result code and diagnostic message.
func ldapResult(op []byte) (code int, diag string, err error) {
	t, v, rest, err := tlv(op)
	if err != nil || t != berEnumerated {
		return 0, "", fmt.Errorf("result code: %w", ErrProtocol)
	}
	if code, err = berInt(v); err != nil {
		return 0, "", err
	}
	if _, _, rest, err = tlv(rest); err == nil { // matchedDN
		if t, v, _, err := tlv(rest); err == nil && t == berOctets {
			diag = string(v)
		}
	}
	return code, diag, nil
}

func (a *answerReader) bindResponse(id int) error {
	got, tag, op, err := a.next()
	if err != nil {
		return err
	}
	if got != id || tag != tagBindResponse {
		return fmt.Errorf("message %d tag 0x%02x, want the bind response %d: %w", got, tag, id, ErrProtocol)
	}
	code, diag, err := ldapResult(op)
	if err != nil {
		return err
	}
	if code != resultSuccess {
		return fmt.Errorf("bind: result code %d %s: %w", code, diag, ErrProtocol)
	}
	return nil
}

// mpSearch reads the answers of search id into res, as Lookup does.
func (a *answerReader) mpSearch(id int, base string, res *Result) error {
	var firstErr error
	var attrs []attrValue
	for {
		got, tag, op, err := a.next()
		if err != nil {
			return err
		}
		if got != id {
			return fmt.Errorf("message %d, want %d: %w", got, id, ErrProtocol)
		}
		switch tag {
		case tagReference:
			continue
		case tagEntry:
			dn, as, err := entryAttrs(op, attrs[:0])
			if err != nil {
				return err
			}
			attrs = as
			m, err := decodeMP(func(name string) string {
				for _, a := range attrs {
					if strings.EqualFold(a.name, name) {
						return a.value
					}
				}
				return ""
			})
			if err != nil {
				res.Skipped++
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", dn, err)
				}
				continue
			}
			res.MPs = append(res.MPs, m)
		case tagDone:
			code, diag, err := ldapResult(op)
			if err != nil {
				return err
			}
			switch code {
			case resultSuccess:
			case resultNoSuchObject:
				return fmt.Errorf("%s: %w", base, ErrNotPublished)
			default:
				return fmt.Errorf("search: result code %d %s: %w", code, diag, ErrProtocol)
			}
			if len(res.MPs) == 0 {
				if firstErr != nil {
					return fmt.Errorf("%s: %w: %w", res.SiteCode, ErrNoMP, firstErr)
				}
				return fmt.Errorf("%s: %w", res.SiteCode, ErrNoMP)
			}
			res.Ports = sitePorts(res.MPs)
			return nil
		default:
			return fmt.Errorf("message tag 0x%02x in a search: %w", tag, ErrProtocol)
		}
	}
}

// attrValue is an attribute's first value.
type attrValue struct{ name, value string }

// entryAttrs reads a SearchResultEntry: its DN and each attribute's first value.
func entryAttrs(op []byte, out []attrValue) (string, []attrValue, error) {
	t, dn, rest, err := tlv(op)
	if err != nil || t != berOctets {
		return "", nil, fmt.Errorf("entry name: %w", ErrProtocol)
	}
	t, list, _, err := tlv(rest)
	if err != nil || t != berSequence {
		return "", nil, fmt.Errorf("entry attributes: %w", ErrProtocol)
	}
	for len(list) > 0 {
		var pa []byte
		if t, pa, list, err = tlv(list); err != nil || t != berSequence {
			return "", nil, fmt.Errorf("attribute: %w", ErrProtocol)
		}
		t, name, vals, err := tlv(pa)
		if err != nil || t != berOctets {
			return "", nil, fmt.Errorf("attribute type: %w", ErrProtocol)
		}
		t, set, _, err := tlv(vals)
		if err != nil || t != berSet {
			return "", nil, fmt.Errorf("attribute values: %w", ErrProtocol)
		}
		if len(set) == 0 {
			continue
		}
		t, v, _, err := tlv(set)
		if err != nil || t != berOctets {
			return "", nil, fmt.Errorf("attribute value: %w", ErrProtocol)
		}
		out = append(out, attrValue{string(name), string(v)})
	}
	return string(dn), out, nil
}
