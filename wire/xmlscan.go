package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A small pull scanner for the XML these messages carry. encoding/xml would do, but it
// reflects and allocates a token per element; every parser here reads a handful of
// elements and attributes out of a document of known shape, so a scanner over the
// bytes, returning sub-slices, is both cheaper and easier to bound. It checks what makes
// a document well formed (one root, matching tags, quoted attributes, known entities,
// nesting depth) and nothing of a DTD: a DOCTYPE is refused. Every error it returns
// wraps ErrMalformed.

const maxXMLDepth = 64

type xmlKind uint8

const (
	xmlEOF xmlKind = iota
	xmlStart
	xmlEnd
	xmlText
)

type xmlToken struct {
	kind  xmlKind
	name  []byte // start and end tags
	attrs []byte // start tags: the raw attribute region, checked by the scanner
	empty bool   // start tags: <x/>; no end token follows
	text  []byte // text (raw, escaped) or CDATA content (verbatim)
	cdata bool
}

type xmlScanner struct {
	b          []byte
	i          int
	depth      int
	stack      [maxXMLDepth][]byte
	rootSeen   bool
	pendingEnd bool   // an empty-element tag was returned; its end is implied
	scratch    []byte // for textString
}

func newScanner(b []byte) xmlScanner { return xmlScanner{b: b} }

func xmlErr(format string, a ...any) error {
	return fmt.Errorf("%w: xml: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// next returns the next token. Comments, processing instructions and the XML
// declaration are skipped.
func (s *xmlScanner) next() (xmlToken, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.depth--
	}
	for {
		if s.i >= len(s.b) {
			if s.depth > 0 {
				return xmlToken{}, xmlErr("unexpected end inside <%s>", s.stack[s.depth-1])
			}
			if !s.rootSeen {
				return xmlToken{}, xmlErr("no root element")
			}
			return xmlToken{kind: xmlEOF}, nil
		}
		if s.b[s.i] != '<' {
			j := bytes.IndexByte(s.b[s.i:], '<')
			if j < 0 {
				j = len(s.b) - s.i
			}
			text := s.b[s.i : s.i+j]
			s.i += j
			if s.depth == 0 {
				if !allSpace(text) {
					return xmlToken{}, xmlErr("text outside the root element")
				}
				continue
			}
			return xmlToken{kind: xmlText, text: text}, nil
		}
		rest := s.b[s.i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			j := bytes.Index(rest[4:], []byte("-->"))
			if j < 0 {
				return xmlToken{}, xmlErr("unterminated comment")
			}
			s.i += 4 + j + 3
			continue
		case bytes.HasPrefix(rest, []byte("<?")):
			j := bytes.Index(rest[2:], []byte("?>"))
			if j < 0 {
				return xmlToken{}, xmlErr("unterminated processing instruction")
			}
			s.i += 2 + j + 2
			continue
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			j := bytes.Index(rest[9:], []byte("]]>"))
			if j < 0 {
				return xmlToken{}, xmlErr("unterminated CDATA section")
			}
			if s.depth == 0 {
				return xmlToken{}, xmlErr("CDATA outside the root element")
			}
			text := rest[9 : 9+j]
			s.i += 9 + j + 3
			return xmlToken{kind: xmlText, text: text, cdata: true}, nil
		case bytes.HasPrefix(rest, []byte("<!")):
			return xmlToken{}, xmlErr("DOCTYPE and declarations are not accepted")
		case len(rest) > 1 && rest[1] == '/':
			n := scanName(rest[2:])
			if n == 0 {
				return xmlToken{}, xmlErr("bad end tag")
			}
			name := rest[2 : 2+n]
			k := 2 + n
			for k < len(rest) && isXMLSpace(rest[k]) {
				k++
			}
			if k >= len(rest) || rest[k] != '>' {
				return xmlToken{}, xmlErr("bad end tag </%s", name)
			}
			if s.depth == 0 || !bytes.Equal(s.stack[s.depth-1], name) {
				return xmlToken{}, xmlErr("unexpected end tag </%s>", name)
			}
			s.depth--
			s.i += k + 1
			return xmlToken{kind: xmlEnd, name: name}, nil
		default:
			n := scanName(rest[1:])
			if n == 0 {
				return xmlToken{}, xmlErr("bad start tag")
			}
			name := rest[1 : 1+n]
			end, empty, err := scanAttrs(rest, 1+n)
			if err != nil {
				return xmlToken{}, err
			}
			if s.depth == 0 {
				if s.rootSeen {
					return xmlToken{}, xmlErr("second root element <%s>", name)
				}
				s.rootSeen = true
			}
			if s.depth >= maxXMLDepth {
				return xmlToken{}, xmlErr("nested deeper than %d", maxXMLDepth)
			}
			attrs := rest[1+n : end]
			if empty {
				attrs = attrs[:len(attrs)-1] // the '/'
			}
			s.stack[s.depth] = name
			s.depth++
			s.pendingEnd = empty
			s.i += end + 1
			return xmlToken{kind: xmlStart, name: name, attrs: attrs, empty: empty}, nil
		}
	}
}

// eachChild calls fn for each child element of parent (a start tag just read) until
// parent's end, passing over text and comments between them; fn must consume the child
// it is given (read it to its end, or skip it).
func (s *xmlScanner) eachChild(parent xmlToken, fn func(xmlToken) error) error {
	if parent.empty {
		return nil
	}
	for {
		t, err := s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case xmlEnd:
			return nil
		case xmlStart:
			if err := fn(t); err != nil {
				return err
			}
		}
	}
}

// text returns the unescaped text content of the element whose start tag was just
// returned, appended to dst; child elements are skipped (their text ignored).
func (s *xmlScanner) text(dst []byte, start xmlToken) ([]byte, error) {
	if start.empty {
		return dst, nil
	}
	level := 0
	for {
		t, err := s.next()
		if err != nil {
			return dst, err
		}
		switch t.kind {
		case xmlText:
			if level > 0 {
				continue
			}
			if t.cdata {
				dst = append(dst, t.text...)
			} else if dst, err = unescape(dst, t.text); err != nil {
				return dst, err
			}
		case xmlStart:
			if !t.empty {
				level++
			}
		case xmlEnd:
			if level == 0 {
				return dst, nil
			}
			level--
		case xmlEOF:
			return dst, xmlErr("unexpected end")
		}
	}
}

// skip skips the rest of the element whose start tag was just returned.
func (s *xmlScanner) skip(start xmlToken) error {
	if start.empty {
		return nil
	}
	level := 0
	for {
		t, err := s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case xmlStart:
			if !t.empty {
				level++
			}
		case xmlEnd:
			if level == 0 {
				return nil
			}
			level--
		case xmlEOF:
			return xmlErr("unexpected end")
		}
	}
}

// rest checks the remainder of the document is well formed.
func (s *xmlScanner) rest() error {
	for {
		t, err := s.next()
		if err != nil || t.kind == xmlEOF {
			return err
		}
	}
}

func allSpace(b []byte) bool {
	for _, c := range b {
		if !isXMLSpace(c) {
			return false
		}
	}
	return true
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':', c >= utf8.RuneSelf:
		return true
	case c >= '0' && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

func scanName(b []byte) int {
	n := 0
	for n < len(b) && isNameByte(b[n], n == 0) {
		n++
	}
	return n
}

// scanAttrs checks the attributes of the tag in b starting at i and returns the index
// of its closing '>' and whether it is an empty-element tag.
func scanAttrs(b []byte, i int) (int, bool, error) {
	for {
		sp := i
		for i < len(b) && isXMLSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0, false, xmlErr("unterminated tag")
		}
		switch b[i] {
		case '>':
			return i, false, nil
		case '/':
			if i+1 < len(b) && b[i+1] == '>' {
				return i + 1, true, nil
			}
			return 0, false, xmlErr("stray '/' in tag")
		}
		if i == sp {
			return 0, false, xmlErr("attributes must be separated by space")
		}
		n := scanName(b[i:])
		if n == 0 {
			return 0, false, xmlErr("bad attribute name")
		}
		i += n
		for i < len(b) && isXMLSpace(b[i]) {
			i++
		}
		if i >= len(b) || b[i] != '=' {
			return 0, false, xmlErr("attribute without value")
		}
		i++
		for i < len(b) && isXMLSpace(b[i]) {
			i++
		}
		if i >= len(b) || (b[i] != '"' && b[i] != '\'') {
			return 0, false, xmlErr("unquoted attribute value")
		}
		q := b[i]
		j := bytes.IndexByte(b[i+1:], q)
		if j < 0 {
			return 0, false, xmlErr("unterminated attribute value")
		}
		if bytes.IndexByte(b[i+1:i+1+j], '<') >= 0 {
			return 0, false, xmlErr("'<' in attribute value")
		}
		i += 1 + j + 1
	}
}

// attr returns the raw (escaped) value of attribute name in a checked attribute region.
func attr(attrs []byte, name string) ([]byte, bool) {
	i := 0
	for i < len(attrs) {
		for i < len(attrs) && isXMLSpace(attrs[i]) {
			i++
		}
		if i >= len(attrs) {
			break
		}
		n := scanName(attrs[i:])
		key := attrs[i : i+n]
		i += n
		for i < len(attrs) && attrs[i] != '"' && attrs[i] != '\'' {
			i++
		}
		if i >= len(attrs) {
			break
		}
		q := attrs[i]
		j := bytes.IndexByte(attrs[i+1:], q)
		if j < 0 {
			break
		}
		val := attrs[i+1 : i+1+j]
		i += j + 2
		if string(key) == name {
			return val, true
		}
	}
	return nil, false
}

// attrString returns the unescaped value of an attribute ("" if absent).
func attrString(attrs []byte, name string) (string, error) {
	v, ok := attr(attrs, name)
	if !ok {
		return "", nil
	}
	if bytes.IndexByte(v, '&') < 0 {
		return intern(v), nil
	}
	u, err := unescape(nil, v)
	return intern(u), err
}

// unescape appends raw with entity and character references resolved.
func unescape(dst, raw []byte) ([]byte, error) {
	for {
		j := bytes.IndexByte(raw, '&')
		if j < 0 {
			return append(dst, raw...), nil
		}
		dst = append(dst, raw[:j]...)
		raw = raw[j:]
		k := bytes.IndexByte(raw, ';')
		if k < 0 || k > 12 {
			return dst, xmlErr("bad entity reference")
		}
		ent := raw[1:k]
		raw = raw[k+1:]
		switch string(ent) {
		case "amp":
			dst = append(dst, '&')
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return dst, xmlErr("unknown entity &%s;", ent)
			}
			var v uint64
			var err error
			if ent[1] == 'x' {
				v, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				v, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || !validXMLRune(rune(v)) {
				return dst, xmlErr("bad character reference &%s;", ent)
			}
			dst = utf8.AppendRune(dst, rune(v))
		}
	}
}

// intern returns a string for b, without allocating when b is one of the values the
// messages repeat (endpoint names, modes, protocols, hook names). Characters XML does
// not allow (control characters, invalid UTF-8, U+FFFE/U+FFFF) become U+FFFD, as the
// writers make them: what is read can be written and read back unchanged.
func intern(b []byte) string {
	b = cleanXMLText(b)
	// The clientauth placeholders portlab's clients send, kept without a copy.
	if len(b) == len(placeholderHex) && string(b) == placeholderHex {
		return placeholderHex
	}
	if len(b) == len(placeholderKey) && string(b) == placeholderKey {
		return placeholderKey
	}
	switch string(b) {
	case "":
		return ""
	case EndpointRegistration:
		return EndpointRegistration
	case EndpointPolicy:
		return EndpointPolicy
	case EndpointLocation:
		return EndpointLocation
	case EndpointDdrEndpoint:
		return EndpointDdrEndpoint
	case EndpointStatusReceiver:
		return EndpointStatusReceiver
	case EndpointDDR:
		return EndpointDDR
	case EndpointStatus:
		return EndpointStatus
	case "mp:[http]MP_ClientRegistration":
		return "mp:[http]MP_ClientRegistration"
	case "mp:[http]MP_PolicyManager":
		return "mp:[http]MP_PolicyManager"
	case "mp:[http]MP_LocationManager":
		return "mp:[http]MP_LocationManager"
	case "mp:[http]MP_DdrEndpoint":
		return "mp:[http]MP_DdrEndpoint"
	case "mp:[http]MP_StatusReceiver":
		return "mp:[http]MP_StatusReceiver"
	case "mp:MP_ClientRegistration":
		return "mp:MP_ClientRegistration"
	case "mp:MP_PolicyManager":
		return "mp:MP_PolicyManager"
	case "Sync":
		return "Sync"
	case "Async":
		return "Async"
	case "http":
		return "http"
	case "https":
		return "https"
	case "1.1":
		return "1.1"
	case "zlib":
		return "zlib"
	case "inline":
		return "inline"
	case "ByteRange":
		return "ByteRange"
	case HookClientAuth:
		return HookClientAuth
	case HookZlib:
		return HookZlib
	case "NonSSL":
		return "NonSSL"
	case hashSHA256:
		return hashSHA256
	case zeroGUID:
		return zeroGUID
	case "Machine":
		return "Machine"
	case "Registration":
		return "Registration"
	case "Always":
		return "Always"
	case "0":
		return "0"
	case "1":
		return "1"
	}
	return string(b)
}

// parseIntLoose parses a decimal integer, 0 when absent or malformed (the readers are
// liberal about numbers nobody branches on).
func parseIntLoose(b []byte) int {
	b = bytes.TrimSpace(b)
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0
	}
	return n
}

// cleanXMLText returns b, or a copy with characters XML does not allow replaced by U+FFFD.
func cleanXMLText(b []byte) []byte {
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			break
		}
	}
	if i == len(b) {
		return b
	}
	for j := i; j < len(b); {
		r, n := utf8.DecodeRune(b[j:])
		if (r == utf8.RuneError && n == 1) || !validXMLRune(r) {
			goto rebuild
		}
		j += n
	}
	return b
rebuild:
	out := append([]byte{}, b[:i]...)
	for j := i; j < len(b); {
		r, n := utf8.DecodeRune(b[j:])
		if (r == utf8.RuneError && n == 1) || !validXMLRune(r) {
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
		j += n
	}
	return out
}
