package scenarios

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// decoder turns a goccy/go-yaml AST into Go values by reflection. It exists, rather than
// yaml.Unmarshal with Strict(), because Unmarshal stops at the first problem and a
// scenario author wants every problem of the file at once, each with its place.
type decoder struct {
	file  string
	lines []string
	errs  ErrorList
	// pos records where each YAML path's value was written, for semantic errors later.
	pos map[string]*token.Position
	// zeros records paths written with a zero value (0, 0.0, 0s), which defaults would
	// otherwise silently replace.
	zeros map[string]bool
	// anchors resolves aliases (*name) to the anchored node.
	anchors map[string]ast.Node
	depth   int
	nodes   int
	// dropped counts errors past maxErrors, reported by number only.
	dropped int
	// overrides are set in the document before it is decoded (--set); applied records
	// where each one went.
	overrides []Override
	applied   []applied
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

const (
	maxDepth = 64
	maxNodes = 200_000
	// maxErrors bounds the report; past it one line says so.
	maxErrors = 200
)

func newDecoder(file string, src []byte) *decoder {
	return &decoder{
		file:    file,
		lines:   strings.Split(string(src), "\n"),
		pos:     map[string]*token.Position{},
		zeros:   map[string]bool{},
		anchors: map[string]ast.Node{},
	}
}

// parse decodes src into s; syntax errors end decoding (false), all others are collected.
func (d *decoder) parse(src []byte, s *Scenario) bool {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		d.syntaxError(err)
		return false
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			d.errorAt(doc.Body.GetToken().Position, "", "a scenario file holds one YAML document; found another here", "remove the `---` separator and what follows, or split the file")
			return false
		}
		body = doc.Body
	}
	if body == nil {
		d.errs = append(d.errs, &Error{File: d.file, Line: 1, Col: 1, Msg: "the file is empty", Hint: "run `portlab init` for a starter scenario"})
		return false
	}
	if len(d.overrides) > 0 {
		// One that does not resolve is reported and left out; the others still apply,
		// so every problem shows at once.
		body = d.applyOverrides(body, d.overrides)
	}
	d.decode(body, reflect.ValueOf(s).Elem(), "")
	return true
}

func (d *decoder) syntaxError(err error) {
	var te interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &te) && te.GetToken() != nil {
		d.errorAt(te.GetToken().Position, "", "YAML syntax: "+te.GetMessage(), "")
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Msg: "YAML syntax: " + err.Error()})
}

func (d *decoder) errorAt(p *token.Position, path, msg, hint string) {
	if len(d.errs) >= maxErrors {
		d.dropped++ // ErrorList.bounded says how many
		return
	}
	// Messages quote what the author wrote (keys, names, values): keep them short.
	e := &Error{File: d.file, Path: clipMiddle(path, maxTextLen), Msg: clipMiddle(msg, maxTextLen), Hint: clipMiddle(hint, maxTextLen)}
	if p != nil {
		e.Line, e.Col = p.Line, p.Column
		if p.Line >= 1 && p.Line <= len(d.lines) {
			e.setSource(strings.TrimRight(d.lines[p.Line-1], "\r"))
		}
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) errorNode(n ast.Node, path, msg, hint string) {
	var p *token.Position
	if n != nil && n.GetToken() != nil {
		p = n.GetToken().Position
	}
	d.errorAt(p, path, msg, hint)
}

// unwrap follows anchors, aliases and tags to the node that holds the value.
func (d *decoder) unwrap(n ast.Node, path string) ast.Node {
	for range maxDepth {
		switch t := n.(type) {
		case *ast.AnchorNode:
			if t.Name != nil {
				d.anchors[t.Name.String()] = t.Value
			}
			n = t.Value
		case *ast.AliasNode:
			name := ""
			if t.Value != nil {
				name = t.Value.String()
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errorNode(t, path, fmt.Sprintf("alias *%s refers to no earlier anchor", name), "")
				return nil
			}
			n = target
		case *ast.TagNode:
			n = t.Value
		default:
			return n
		}
	}
	d.errorNode(n, path, "aliases nest too deeply", "")
	return nil
}

func describe(n ast.Node) string {
	switch t := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return fmt.Sprintf("the string %q", t.Value)
	case *ast.LiteralNode:
		return "a block string"
	case *ast.IntegerNode:
		return "the integer " + t.GetToken().Value
	case *ast.FloatNode:
		return "the number " + t.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + t.GetToken().Value
	case *ast.NullNode:
		return "null"
	}
	return "a " + n.Type().String()
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode,
		*ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// scalarText is the scalar as the author wrote it (without quotes).
func scalarText(n ast.Node) string {
	switch t := n.(type) {
	case *ast.StringNode:
		return t.Value
	case *ast.LiteralNode:
		return t.Value.Value
	}
	return n.GetToken().Value
}

func (d *decoder) decode(n ast.Node, v reflect.Value, path string) {
	// Aliases can expand a small file exponentially ("billion laughs"): bound the work.
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorNode(n, path, fmt.Sprintf("the document expands to more than %d values (aliases?)", maxNodes), "")
		}
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		d.errorNode(n, path, "the document nests too deeply", "")
		return
	}
	if n = d.unwrap(n, path); n == nil {
		return
	}
	if n.GetToken() != nil {
		d.pos[path] = n.GetToken().Position
	}
	if _, ok := n.(*ast.NullNode); ok {
		return // absent: the zero value, defaults and validation decide
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if isScalar(n) {
			u := v.Addr().Interface().(encoding.TextUnmarshaler)
			if err := u.UnmarshalText([]byte(scalarText(n))); err != nil {
				d.errorNode(n, path, err.Error(), "")
			} else if v.IsZero() {
				d.zeros[path] = true
			}
			return
		}
		if !hasYAMLFields(v.Type()) {
			d.errorNode(n, path, "want a single value, got "+describe(n), "")
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.errorNode(n, path, "want a list, got "+describe(n), "write one item per line starting with `- `")
			return
		}
		out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			d.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(out)
	case reflect.String:
		switch n.(type) {
		case *ast.StringNode, *ast.LiteralNode:
			v.SetString(scalarText(n))
		default:
			hint := ""
			if isScalar(n) {
				hint = fmt.Sprintf("quote it if you mean the text: %q", scalarText(n))
			}
			d.errorNode(n, path, "want a string, got "+describe(n), hint)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		in, ok := n.(*ast.IntegerNode)
		if !ok {
			hint := ""
			if s, isStr := n.(*ast.StringNode); isStr {
				if _, err := strconv.Atoi(s.Value); err == nil {
					hint = "remove the quotes"
				}
			}
			d.errorNode(n, path, "want an integer, got "+describe(n), hint)
			return
		}
		i, err := toInt64(in.Value)
		if err != nil || v.OverflowInt(i) {
			d.errorNode(n, path, "integer "+in.GetToken().Value+" is out of range", "")
			return
		}
		v.SetInt(i)
		if i == 0 {
			d.zeros[path] = true
		}
	case reflect.Float64:
		switch t := n.(type) {
		case *ast.IntegerNode:
			i, err := toInt64(t.Value)
			if err != nil {
				d.errorNode(n, path, "number "+t.GetToken().Value+" is out of range", "")
				return
			}
			v.SetFloat(float64(i))
			if i == 0 {
				d.zeros[path] = true
			}
		case *ast.FloatNode:
			if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
				d.errorNode(n, path, "want a finite number", "")
				return
			}
			v.SetFloat(t.Value)
			if t.Value == 0 {
				d.zeros[path] = true
			}
		default:
			hint := ""
			if s, isStr := n.(*ast.StringNode); isStr && strings.HasSuffix(s.Value, "%") {
				hint = "write a fraction: 0.25 rather than 25%"
			}
			d.errorNode(n, path, "want a number, got "+describe(n), hint)
		}
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.errorNode(n, path, "want true or false, got "+describe(n), "")
			return
		}
		v.SetBool(b.Value)
	default:
		d.errorNode(n, path, "unsupported field type "+v.Type().String(), "")
	}
}

func toInt64(x any) (int64, error) {
	switch t := x.(type) {
	case int64:
		return t, nil
	case uint64:
		if t > math.MaxInt64 {
			return 0, fmt.Errorf("overflow")
		}
		return int64(t), nil
	case int:
		return int64(t), nil
	}
	return 0, fmt.Errorf("not an integer: %T", x)
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		d.errorNode(n, path, "want a mapping (key: value), got "+describe(n), "")
		return
	}
	fields := yamlFields(v.Type())
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	seen := map[string]int{}
	for _, kv := range pairs {
		if kv.Key == nil {
			continue
		}
		if _, isMerge := kv.Key.(*ast.MergeKeyNode); isMerge {
			d.errorNode(kv.Key, path, "merge keys (<<) are not supported", "repeat the fields, or use an alias for the whole value")
			continue
		}
		key := scalarText(kv.Key)
		keyPath := joinPath(path, key)
		line := kv.Key.GetToken().Position.Line
		if first, dup := seen[key]; dup {
			d.errorNode(kv.Key, keyPath, fmt.Sprintf("duplicate key %q (first at line %d)", key, first), "remove one of them")
			continue
		}
		seen[key] = line
		idx, ok := fields[key]
		if !ok {
			hint := ""
			if c := closest(key, names); c != "" {
				hint = fmt.Sprintf("did you mean `%s`?", c)
			} else {
				hint = "known fields here: " + strings.Join(sortedCopy(names), ", ")
			}
			d.errorNode(kv.Key, keyPath, fmt.Sprintf("unknown field `%s`", key), hint)
			continue
		}
		d.decode(kv.Value, v.FieldByIndex(idx), keyPath)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps yaml tag names to field indexes.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Index
	}
	return out
}

// hasYAMLFields reports a struct that may also be written as a mapping.
func hasYAMLFields(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			return true
		}
	}
	return false
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
