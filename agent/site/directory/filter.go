package directory

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// gldap hands the server each search filter as RFC 4515 text (it decompiles the BER
// filter with go-ldap), so the server parses that text again here. The parser is
// bounded: a filter longer than MaxFilterLen bytes, nested deeper than MaxFilterDepth
// or with more than MaxFilterNodes parts is refused before any work on it.
const (
	MaxFilterLen   = 4096
	MaxFilterDepth = 32
	MaxFilterNodes = 256
)

var (
	// ErrFilterSyntax is wrapped by every error for a filter that is not RFC 4515 text.
	ErrFilterSyntax = errors.New("filter syntax")
	// ErrFilterTooLarge is wrapped when a filter is over one of the bounds.
	ErrFilterTooLarge = errors.New("filter too large")
)

type filterOp uint8

const (
	opAnd filterOp = iota
	opOr
	opNot
	opEqual
	opSubstring
	opGreaterOrEqual
	opLessOrEqual
	opPresent
	opApprox
	opExtensible
)

// filter is one node of a parsed filter. Attribute names and values are kept folded to
// lower case: every attribute portlab serves has a case-insensitive syntax (AD's
// String(Unicode), String(Teletex), Boolean, Integer, DN).
type filter struct {
	op       filterOp
	attr     string // folded attribute description, without options
	value    string // folded, unescaped assertion value
	initial  string // substrings
	any      []string
	final    string
	rule     string // extensible match: matching rule, folded
	dnAttrs  bool   // extensible match: :dn
	children []*filter
}

// parseFilter parses RFC 4515 filter text.
func parseFilter(s string) (*filter, error) {
	if len(s) > MaxFilterLen {
		return nil, fmt.Errorf("filter is %d bytes, more than %d: %w", len(s), MaxFilterLen, ErrFilterTooLarge)
	}
	p := filterParser{s: s}
	f, err := p.filter(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, p.errorf("text after the filter")
	}
	return f, nil
}

type filterParser struct {
	s     string
	i     int
	nodes int
}

func (p *filterParser) errorf(format string, args ...any) error {
	return fmt.Errorf("filter at byte %d: %s: %w", p.i, fmt.Sprintf(format, args...), ErrFilterSyntax)
}

func (p *filterParser) filter(depth int) (*filter, error) {
	if depth >= MaxFilterDepth {
		return nil, fmt.Errorf("filter nested deeper than %d: %w", MaxFilterDepth, ErrFilterTooLarge)
	}
	p.nodes++
	if p.nodes > MaxFilterNodes {
		return nil, fmt.Errorf("filter has more than %d parts: %w", MaxFilterNodes, ErrFilterTooLarge)
	}
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, p.errorf("want '('")
	}
	p.i++
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end")
	}
	var f *filter
	var err error
	switch p.s[p.i] {
	case '&', '|':
		op := opAnd
		if p.s[p.i] == '|' {
			op = opOr
		}
		p.i++
		f = &filter{op: op}
		// RFC 4526 absolute true (&) and false (|) have no children.
		for p.i < len(p.s) && p.s[p.i] == '(' {
			c, err := p.filter(depth + 1)
			if err != nil {
				return nil, err
			}
			f.children = append(f.children, c)
		}
	case '!':
		p.i++
		c, err := p.filter(depth + 1)
		if err != nil {
			return nil, err
		}
		f = &filter{op: opNot, children: []*filter{c}}
	default:
		if f, err = p.item(); err != nil {
			return nil, err
		}
	}
	if p.i >= len(p.s) || p.s[p.i] != ')' {
		return nil, p.errorf("want ')'")
	}
	p.i++
	return f, nil
}

// item parses simple, present, substring and extensible items up to the closing
// parenthesis (not consumed).
func (p *filterParser) item() (*filter, error) {
	end := strings.IndexByte(p.s[p.i:], ')')
	if end < 0 {
		return nil, p.errorf("unterminated item")
	}
	body := p.s[p.i : p.i+end]
	if strings.IndexByte(body, '(') >= 0 {
		return nil, p.errorf("'(' inside an item")
	}
	eq := strings.IndexByte(body, '=')
	if eq < 0 {
		return nil, p.errorf("item without '='")
	}
	lhs, rhs := body[:eq], body[eq+1:]
	f := &filter{}
	switch {
	case strings.HasSuffix(lhs, ":"):
		f.op = opExtensible
		if err := p.extensible(f, lhs[:len(lhs)-1]); err != nil {
			return nil, err
		}
	case strings.HasSuffix(lhs, "~"):
		f.op, lhs = opApprox, lhs[:len(lhs)-1]
	case strings.HasSuffix(lhs, ">"):
		f.op, lhs = opGreaterOrEqual, lhs[:len(lhs)-1]
	case strings.HasSuffix(lhs, "<"):
		f.op, lhs = opLessOrEqual, lhs[:len(lhs)-1]
	default:
		f.op = opEqual
	}
	if f.op != opExtensible {
		a, err := p.attrDesc(lhs)
		if err != nil {
			return nil, err
		}
		f.attr = a
	}
	if f.op == opEqual && strings.IndexByte(rhs, '*') >= 0 {
		if rhs == "*" {
			f.op = opPresent
		} else {
			f.op = opSubstring
			parts := strings.Split(rhs, "*")
			var err error
			if f.initial, err = p.value(parts[0]); err != nil {
				return nil, err
			}
			if f.final, err = p.value(parts[len(parts)-1]); err != nil {
				return nil, err
			}
			for _, a := range parts[1 : len(parts)-1] {
				if a == "" { // "**" is not RFC 4515; accept it as one "*"
					continue
				}
				v, err := p.value(a)
				if err != nil {
					return nil, err
				}
				f.any = append(f.any, v)
			}
		}
	} else {
		if strings.IndexByte(rhs, '*') >= 0 {
			return nil, p.errorf("'*' in a %s assertion", opName(f.op))
		}
		v, err := p.value(rhs)
		if err != nil {
			return nil, err
		}
		f.value = v
	}
	p.i += end
	return f, nil
}

// extensible parses "attr[:dn][:rule]" or "[:dn]:rule" (the trailing ':' of ":=" is
// already gone).
func (p *filterParser) extensible(f *filter, lhs string) error {
	parts := strings.Split(lhs, ":")
	if parts[0] != "" {
		a, err := p.attrDesc(parts[0])
		if err != nil {
			return err
		}
		f.attr = a
	}
	rest := parts[1:]
	if len(rest) > 0 && strings.EqualFold(rest[0], "dn") {
		f.dnAttrs = true
		rest = rest[1:]
	}
	switch len(rest) {
	case 0:
	case 1:
		if rest[0] == "" || !validOIDOrName(rest[0]) {
			return p.errorf("bad matching rule %q", rest[0])
		}
		f.rule = strings.ToLower(rest[0])
	default:
		return p.errorf("bad extensible match %q", lhs)
	}
	if f.attr == "" && f.rule == "" {
		return p.errorf("extensible match without attribute or rule")
	}
	return nil
}

// attrDesc checks an attribute description (a name or OID, with ";options") and
// returns the folded attribute type.
func (p *filterParser) attrDesc(s string) (string, error) {
	t, _, _ := strings.Cut(s, ";")
	if !validOIDOrName(t) {
		return "", p.errorf("bad attribute %q", s)
	}
	return strings.ToLower(t), nil
}

func validOIDOrName(s string) bool {
	if s == "" {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' { // numericoid
		for _, part := range strings.Split(s, ".") {
			if part == "" {
				return false
			}
			for i := 0; i < len(part); i++ {
				if part[i] < '0' || part[i] > '9' {
					return false
				}
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// value unescapes an assertion value (\XX hex escapes) and folds it.
func (p *filterParser) value(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return strings.ToLower(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", p.errorf("short escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", p.errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return strings.ToLower(b.String()), nil
}

func opName(op filterOp) string {
	switch op {
	case opApprox:
		return "approximate"
	case opGreaterOrEqual:
		return "greater-or-equal"
	case opLessOrEqual:
		return "less-or-equal"
	case opExtensible:
		return "extensible"
	default:
		return "equality"
	}
}

// AD's bitwise matching rules; every other rule matches as case-insensitive equality
// when it is an equality rule portlab knows, and never otherwise.
const (
	ruleBitAnd  = "1.2.840.113556.1.4.803"
	ruleBitOr   = "1.2.840.113556.1.4.804"
	ruleInChain = "1.2.840.113556.1.4.1941"
)

// match evaluates f on e. Undefined results (RFC 4511 §4.5.1.7) count as false, which
// only differs from three-valued logic under NOT of an unknown matching rule.
func (f *filter) match(e *entry) bool {
	switch f.op {
	case opAnd:
		for _, c := range f.children {
			if !c.match(e) {
				return false
			}
		}
		return true
	case opOr:
		for _, c := range f.children {
			if c.match(e) {
				return true
			}
		}
		return false
	case opNot:
		return !f.children[0].match(e)
	case opPresent:
		if f.attr == "objectclass" {
			return true
		}
		return e.attr(f.attr) != nil
	case opEqual, opApprox:
		if f.attr == "objectcategory" && strings.IndexByte(f.value, '=') < 0 {
			return e.category == f.value // AD takes a class name for objectCategory
		}
		return anyValue(e.attr(f.attr), func(v string) bool { return v == f.value })
	case opSubstring:
		return anyValue(e.attr(f.attr), f.matchSubstrings)
	case opGreaterOrEqual:
		return anyValue(e.attr(f.attr), func(v string) bool { return compareValues(v, f.value) >= 0 })
	case opLessOrEqual:
		return anyValue(e.attr(f.attr), func(v string) bool { return compareValues(v, f.value) <= 0 })
	case opExtensible:
		return f.matchExtensible(e)
	}
	return false
}

func anyValue(a *attr, ok func(string) bool) bool {
	if a == nil {
		return false
	}
	for _, v := range a.folded {
		if ok(v) {
			return true
		}
	}
	return false
}

func (f *filter) matchSubstrings(v string) bool {
	if !strings.HasPrefix(v, f.initial) {
		return false
	}
	v = v[len(f.initial):]
	for _, a := range f.any {
		i := strings.Index(v, a)
		if i < 0 {
			return false
		}
		v = v[i+len(a):]
	}
	return strings.HasSuffix(v, f.final)
}

// compareValues orders two folded values: as integers when both are, else as text.
func compareValues(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

func (f *filter) matchExtensible(e *entry) bool {
	var test func(string) bool
	switch f.rule {
	case "", "2.5.13.2", "caseignorematch", "2.5.13.5", "caseexactmatch", "2.5.13.1",
		"distinguishednamematch", ruleInChain:
		// Values are kept folded, so caseExactMatch is matched case-insensitively.
		test = func(v string) bool { return v == f.value }
	case ruleBitAnd, ruleBitOr:
		want, err := strconv.ParseInt(f.value, 10, 64)
		if err != nil {
			return false
		}
		test = func(v string) bool {
			have, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			if f.rule == ruleBitAnd {
				return have&want == want
			}
			return have&want != 0
		}
	default:
		return false
	}
	if f.attr != "" {
		if anyValue(e.attr(f.attr), test) {
			return true
		}
	} else {
		for i := range e.attrs {
			if anyValue(&e.attrs[i], test) {
				return true
			}
		}
	}
	if f.dnAttrs {
		for _, r := range e.rdns {
			if (f.attr == "" || r.typ == f.attr) && test(r.value) {
				return true
			}
		}
	}
	return false
}
