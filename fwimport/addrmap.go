package fwimport

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Mapping says that the addresses of Prefix, on the real network, are segment Segment
// of the scenario. A rule's source or destination becomes `from:`/`to:` a segment only
// through a mapping: the prefix the rule matches must equal, or lie inside, exactly one
// mapped prefix.
//
// A portlab rule `from: lan` matches all of lan (its subnet and its client range), so a
// rule about part of a mapped prefix becomes a rule about the whole segment; the
// output says so next to the rule. A rule about more than a mapped prefix (or about an
// address nothing maps) is refused: portlab would have to invent the rest.
type Mapping struct {
	Prefix  netip.Prefix
	Segment string
	// Where the mapping came from, for messages: "--map" or "FILE:LINE".
	From string
}

func (m Mapping) String() string { return m.Prefix.String() + " = " + m.Segment }

// segmentRE is the scenario format's segment name pattern.
var segmentRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// ParseMapping reads one --map value: CIDR=SEGMENT (an address without /N is a /32).
func ParseMapping(s string) (Mapping, error) {
	cidr, seg, ok := strings.Cut(s, "=")
	if !ok {
		return Mapping{}, fmt.Errorf("%w: --map %q: want CIDR=SEGMENT, such as 10.1.0.0/16=lan", ErrInput, s)
	}
	m, err := mapping(strings.TrimSpace(cidr), strings.TrimSpace(seg))
	if err != nil {
		return Mapping{}, fmt.Errorf("%w: --map %q: %s", ErrInput, s, err)
	}
	m.From = "--map"
	return m, nil
}

// ParseMapFile reads a map file: one `CIDR SEGMENT` per line; blank lines and lines
// starting with # are ignored, as is anything after a # on a line.
func ParseMapFile(name string, data []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxInputSize)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: %s:%d: want `CIDR SEGMENT`, got %d fields", ErrInput, name, n, len(f))
		}
		m, err := mapping(f[0], f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrInput, name, n, err)
		}
		m.From = fmt.Sprintf("%s:%d", name, n)
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, name, err)
	}
	return out, nil
}

func mapping(cidr, seg string) (Mapping, error) {
	var p netip.Prefix
	if strings.Contains(cidr, "/") {
		var err error
		if p, err = netip.ParsePrefix(cidr); err != nil {
			return Mapping{}, fmt.Errorf("%q is not a prefix such as 10.1.0.0/16", cidr)
		}
	} else {
		a, err := netip.ParseAddr(cidr)
		if err != nil {
			return Mapping{}, fmt.Errorf("%q is not an address or prefix", cidr)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() {
		return Mapping{}, fmt.Errorf("%s is not IPv4: portlab's lab is IPv4 only", p)
	}
	if p.Masked() != p {
		return Mapping{}, fmt.Errorf("%s has host bits set; did you mean %s?", p, p.Masked())
	}
	if !segmentRE.MatchString(seg) {
		return Mapping{}, fmt.Errorf("%q is not a segment name (lower case letters, digits and dashes)", seg)
	}
	return Mapping{Prefix: p, Segment: seg}, nil
}

// checkMappings refuses the same prefix mapped to two segments: which one a rule means
// would be a guess.
func checkMappings(ms []Mapping) error {
	seen := map[netip.Prefix]Mapping{}
	for _, m := range ms {
		if o, ok := seen[m.Prefix]; ok && o.Segment != m.Segment {
			return fmt.Errorf("%w: %s is mapped to %s (%s) and to %s (%s)", ErrInput, m.Prefix, o.Segment, o.From, m.Segment, m.From)
		}
		seen[m.Prefix] = m
	}
	return nil
}

// segmentFor maps the prefix a rule matches to a segment. ok false: refused, with why.
// An exact match needs no note; a prefix strictly inside a mapping gets one, since the
// portlab rule then covers the whole segment.
func segmentFor(ms []Mapping, p netip.Prefix, what string) (seg, note, refusal string) {
	var inside []Mapping
	var larger []Mapping
	for _, m := range ms {
		switch {
		case m.Prefix.Bits() <= p.Bits() && m.Prefix.Contains(p.Addr()):
			inside = append(inside, m)
		case p.Bits() < m.Prefix.Bits() && p.Contains(m.Prefix.Addr()):
			larger = append(larger, m)
		}
	}
	uniq := map[string]bool{}
	for _, m := range inside {
		uniq[m.Prefix.String()] = true
	}
	switch {
	case len(uniq) == 1:
		m := inside[0]
		if m.Prefix != p {
			note = fmt.Sprintf("%s %s lies inside %s: the rule applies to all of segment %s", what, p, m, m.Segment)
		}
		return m.Segment, note, ""
	case len(uniq) > 1:
		var l []string
		for _, m := range inside {
			l = append(l, m.String())
		}
		return "", "", fmt.Sprintf("%s %s lies inside %d mapped prefixes (%s): which segment it means is ambiguous", what, p, len(l), strings.Join(l, ", "))
	case len(larger) > 0:
		var l []string
		for _, m := range larger {
			l = append(l, m.String())
		}
		return "", "", fmt.Sprintf("%s %s is larger than the mapped %s: portlab rules match whole segments, so the rest of %s has no segment to stand for it", what, p, strings.Join(l, ", "), p)
	}
	return "", "", fmt.Sprintf("%s %s is not mapped to a segment: add --map %s=SEGMENT (or a line `%s SEGMENT` to the --map-file)", what, p, p, p)
}
