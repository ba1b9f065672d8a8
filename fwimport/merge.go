package fwimport

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/portlab/portlab/scenarios"
)

// MergeError is a merge whose result (or whose input scenario) is not a valid scenario;
// Errors holds the scenario package's errors, with file:line:col.
type MergeError struct {
	Msg    string
	Errors error
}

func (e *MergeError) Error() string { return e.Msg + ": " + e.Errors.Error() }
func (e *MergeError) Unwrap() []error {
	return []error{ErrInput, e.Errors}
}

// Merge puts the import's firewall block into router im.Options.Router of the scenario
// src (file names it in messages) and returns the whole scenario. The router must exist.
//
// The scenario's text is edited, not re-encoded: goccy/go-yaml's AST locates the
// router's mapping and its `firewall` key, and only the lines of that key's block are
// replaced (or the block is inserted after the router's last key). Everything else —
// comments, key order, flow or block style, quoting, blank lines — stays byte for byte.
// Re-encoding (scenarios.Scenario.Marshal, or printing the AST) would drop the
// comments or reformat the file, and would write every default out. A router written
// in flow style on one line ({name: edge, links: [a, b]}) is rewritten in block style,
// since a commented rule list needs lines of its own.
//
// The result is checked with scenarios.Parse, and its router's firewall must equal
// the import's; either failing is an error, and nothing half-merged is returned.
func Merge(file string, src []byte, im *Import) ([]byte, error) {
	router := im.Options.Router
	orig, err := scenarios.Parse(file, src)
	if err != nil {
		return nil, &MergeError{Msg: fmt.Sprintf("%s is not a valid scenario", file), Errors: err}
	}
	var names []string
	found := false
	for _, r := range orig.Network.Routers {
		names = append(names, r.Name)
		found = found || r.Name == router
	}
	if !found {
		return nil, fmt.Errorf("%w: %s has no router %q (routers: %s); name one with --router", ErrInput, file, router, strings.Join(names, ", "))
	}
	// Positions come from the text with LF line endings: the YAML library counts a
	// comment's CRLF as two lines.
	f, err := parser.ParseBytes(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n")), parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, file, err)
	}
	item, err := findRouter(f, router)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, file, err)
	}
	doc := newLines(src)
	if item.IsFlowStyle {
		err = doc.spliceFlow(item, im)
	} else {
		err = doc.spliceBlock(item, im)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: router %s: %w", ErrInput, file, router, err)
	}
	out := doc.bytes()
	s, err := scenarios.Parse(file+" (merged)", out)
	if err != nil {
		return nil, &MergeError{Msg: fmt.Sprintf("%s with the imported firewall of router %s is not a valid scenario", file, router), Errors: err}
	}
	for _, r := range s.Network.Routers {
		if r.Name == router && (r.Firewall == nil || !sameFirewall(*r.Firewall, im.Firewall)) {
			return nil, fmt.Errorf("merge into %s: router %s does not read back the imported firewall (a bug in portlab import)", file, router)
		}
	}
	return out, nil
}

func sameFirewall(a, b scenarios.Firewall) bool {
	return a.Default == b.Default && len(a.Rules) == len(b.Rules) && (len(a.Rules) == 0 || reflect.DeepEqual(a.Rules, b.Rules))
}

// findRouter returns the mapping of network.routers[name == router].
func findRouter(f *ast.File, router string) (*ast.MappingNode, error) {
	if len(f.Docs) != 1 {
		return nil, fmt.Errorf("want one YAML document")
	}
	root, ok := f.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil, fmt.Errorf("the scenario is not a mapping")
	}
	network, ok := mapValue(root, "network").(*ast.MappingNode)
	if !ok {
		return nil, fmt.Errorf("network is not a mapping")
	}
	seq, ok := mapValue(network, "routers").(*ast.SequenceNode)
	if !ok {
		return nil, fmt.Errorf("network.routers is not a list")
	}
	if seq.IsFlowStyle {
		return nil, fmt.Errorf("network.routers is written in flow style ([...]); write it as a block list (- name: ...) to merge into it")
	}
	for _, it := range seq.Values {
		m, ok := it.(*ast.MappingNode)
		if !ok {
			if _, anchor := it.(*ast.AnchorNode); anchor {
				return nil, fmt.Errorf("a router uses a YAML anchor or alias; merge by hand")
			}
			continue
		}
		if v, ok := mapValue(m, "name").(*ast.StringNode); ok && v.Value == router {
			for _, kv := range m.Values {
				if _, ok := kv.Key.(*ast.MergeKeyNode); ok {
					return nil, fmt.Errorf("router %s uses a YAML merge key (<<); merge by hand", router)
				}
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("router %s not found in network.routers", router)
}

func mapValue(m *ast.MappingNode, key string) ast.Node {
	for _, kv := range m.Values {
		if kv.Key.GetToken().Value == key {
			return kv.Value
		}
	}
	return nil
}

// lines is the scenario's text, line by line, edited in place.
type lines struct {
	l    []string // without line endings
	eol  string   // "\n" or "\r\n", as the file writes them
	last bool     // the file ends with a line ending
}

func newLines(src []byte) *lines {
	s := string(src)
	d := &lines{eol: "\n", last: strings.HasSuffix(s, "\n")}
	if strings.Contains(s, "\r\n") {
		d.eol = "\r\n"
	}
	s = strings.TrimSuffix(s, "\n")
	for _, l := range strings.Split(s, "\n") {
		d.l = append(d.l, strings.TrimSuffix(l, "\r"))
	}
	return d
}

func (d *lines) bytes() []byte {
	s := strings.Join(d.l, d.eol)
	if d.last {
		s += d.eol
	}
	return []byte(s)
}

// byteCol turns a 1-based rune column of line (1-based) into a byte offset.
func (d *lines) byteCol(line, col int) int {
	s := d.l[line-1]
	off := 0
	for i := 1; i < col && off < len(s); i++ {
		_, n := utf8.DecodeRuneInString(s[off:])
		off += n
	}
	return off
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func comment(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "#") }

// blockEnd is the index (0-based, exclusive) of the first line after the block of the
// key on line (1-based) whose keys sit at indentation ind: the lines that follow it
// blank or indented deeper. Trailing blank lines are left outside.
func (d *lines) blockEnd(line, ind int) int {
	end := line // 0-based index of the line after the key's line
	for i := line; i < len(d.l); i++ {
		if blank(d.l[i]) {
			continue
		}
		if indentOf(d.l[i]) <= ind {
			break
		}
		end = i + 1
	}
	return end
}

// spliceBlock replaces or inserts the firewall key of a block-style router mapping.
func (d *lines) spliceBlock(m *ast.MappingNode, im *Import) error {
	first := m.Values[0].Key.GetToken().Position
	col := first.Column // every key of the mapping sits in this column
	ind := strings.Repeat(" ", col-1)
	block := im.lines(ind)
	header, body := splitHeader(block)
	body[0] = strings.TrimPrefix(body[0], ind) // "firewall:" goes where the key was
	for _, kv := range m.Values {
		if kv.Key.GetToken().Value != "firewall" {
			continue
		}
		p := kv.Key.GetToken().Position
		if p.Column != col {
			return fmt.Errorf("its keys are not aligned; merge by hand")
		}
		start := p.Line - 1
		end := d.blockEnd(p.Line, col-1)
		// A block imported before has its header comments just above the key, at the
		// key's indentation: they go with the block they describe.
		top := start
		for i := start - 1; i >= 0 && comment(d.l[i]) && indentOf(d.l[i]) == col-1; i-- {
			if strings.HasPrefix(strings.TrimSpace(d.l[i]), importHeader) {
				top = i
				break
			}
		}
		prefix := d.l[start][:d.byteCol(p.Line, p.Column)]
		repl := append(slices.Clone(header), prefix+body[0])
		repl = append(repl, body[1:]...)
		d.l = slices.Concat(d.l[:top], repl, d.l[end:])
		return nil
	}
	// No firewall yet: after the router's last key, before trailing comments.
	lastKey := m.Values[len(m.Values)-1].Key.GetToken().Position
	end := d.blockEnd(lastKey.Line, col-1)
	for end > lastKey.Line && (blank(d.l[end-1]) || comment(d.l[end-1])) {
		end--
	}
	body[0] = ind + body[0]
	d.l = slices.Concat(d.l[:end], header, body, d.l[end:])
	return nil
}

// spliceFlow rewrites a one-line flow-style router mapping as a block mapping with the
// firewall block, keeping every other key's text as written.
func (d *lines) spliceFlow(m *ast.MappingNode, im *Import) error {
	sp, ep := m.Start.Position, m.End.Position
	if sp.Line != ep.Line {
		return fmt.Errorf("written in flow style over several lines; write it in block style (name: ... on its own line) to merge into it")
	}
	line := d.l[sp.Line-1]
	open, close := d.byteCol(sp.Line, sp.Column), d.byteCol(ep.Line, ep.Column)
	rest := strings.TrimSpace(line[close+1:])
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return fmt.Errorf("unexpected text after its flow mapping: %q", rest)
	}
	var kvs []string
	for i, kv := range m.Values {
		kp := kv.Key.GetToken().Position
		vp := kv.Value.GetToken().Position
		ks, cs := d.byteCol(kp.Line, kp.Column), d.byteCol(kv.Start.Position.Line, kv.Start.Position.Column)
		vs := d.byteCol(vp.Line, vp.Column)
		ve := close
		if i+1 < len(m.Values) {
			np := m.Values[i+1].Key.GetToken().Position
			ve = d.byteCol(np.Line, np.Column)
		}
		if kp.Line != sp.Line || vp.Line != sp.Line || vs < cs || ve < vs {
			return fmt.Errorf("cannot read its flow mapping; write it in block style to merge into it")
		}
		key := strings.TrimSpace(line[ks:cs])
		val := strings.TrimSuffix(strings.TrimSpace(line[vs:ve]), ",")
		if kv.Key.GetToken().Value == "firewall" {
			continue
		}
		kvs = append(kvs, key+": "+strings.TrimSpace(val))
	}
	if len(kvs) == 0 {
		return fmt.Errorf("empty mapping")
	}
	ind := strings.Repeat(" ", sp.Column-1)
	first := line[:open] + kvs[0]
	if rest != "" {
		first += "  " + rest
	}
	repl := []string{first}
	for _, kv := range kvs[1:] {
		repl = append(repl, ind+kv)
	}
	repl = append(repl, im.lines(ind)...)
	d.l = slices.Concat(d.l[:sp.Line-1], repl, d.l[sp.Line:])
	return nil
}

// splitHeader separates the block's leading comment lines from `firewall:` onward.
func splitHeader(block []string) (header, body []string) {
	for i, l := range block {
		if strings.TrimSpace(l) == "firewall:" {
			return block[:i], block[i:]
		}
	}
	return nil, block
}
