package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Bounds of command-line overrides (`--set`, `--vary`): a path into a scenario is a
// handful of steps and a value a port or a short flow mapping, so these only keep a
// pasted file or a runaway script from costing anything.
const (
	MaxOverrideLen = 4096 // bytes of one PATH=VALUE
	MaxOverrides   = 100  // --set flags of one command
	maxPathSteps   = 32   // keys and [selectors] of one path
	MaxVaryValues  = 64   // values of one --vary
)

// Override is one `--set PATH=VALUE`: VALUE, read as YAML (a scalar or a flow value such
// as {default: 8443} or [lan, dc]), replaces what the file has at PATH, or adds it.
//
// PATH is keys joined by dots, as the YAML nests them (site.ports.https.default); an
// item of a list is named in brackets, by its name (clients[internet], network.routers
// [edge].firewall.rules[no-8443], a rule without a name by its counter name rule<N>,
// a string list item by its value) or by its 0-based position (timeline[0]).
// Overrides apply to the document before it is decoded, so the value gets the same
// types, defaults and validation as the file, and errors name the flag.
type Override struct {
	// Flag names the flag in errors: "--set #2".
	Flag string
	// Path and Value as written.
	Path, Value string
	steps       []pathStep
}

// pathStep is one key (site) or selector ([internet], [0]).
type pathStep struct {
	key      string
	sel      string
	selector bool
}

func (o Override) String() string { return o.Path + "=" + o.Value }

// ParseOverride reads one PATH=VALUE; flag names it in errors ("--set #2"). The error
// is an ErrorList (errors.Is ErrInvalid) naming the flag.
func ParseOverride(flag, arg string) (Override, error) {
	bad := func(path, msg, hint string) (Override, error) {
		return Override{}, ErrorList{{File: flag, Path: clipMiddle(path, maxTextLen), Msg: msg, Hint: hint}}
	}
	if len(arg) > MaxOverrideLen {
		return bad("", fmt.Sprintf("%d bytes; at most %d", len(arg), MaxOverrideLen), "")
	}
	path, value, ok := strings.Cut(arg, "=")
	if !ok {
		return bad("", fmt.Sprintf("want PATH=VALUE, got %q", clipMiddle(arg, 80)), "for example --set site.ports.https.default=8443")
	}
	steps, err := parsePath(path)
	if err != "" {
		return bad(path, err, "a path is keys joined by dots, list items in brackets: clients[internet].count, timeline[0].at")
	}
	return Override{Flag: flag, Path: path, Value: value, steps: steps}, nil
}

// ParseOverrides reads the arguments of repeated --set flags, numbering them from 1.
func ParseOverrides(args []string) ([]Override, error) {
	if len(args) > MaxOverrides {
		return nil, ErrorList{{File: "--set", Msg: fmt.Sprintf("%d --set flags; at most %d", len(args), MaxOverrides)}}
	}
	var out []Override
	var errs ErrorList
	for i, a := range args {
		o, err := ParseOverride(fmt.Sprintf("--set #%d", i+1), a)
		if err != nil {
			errs = append(errs, err.(ErrorList)...)
			continue
		}
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// parsePath splits a path into steps; the message says what is wrong, "" when nothing.
func parsePath(p string) ([]pathStep, string) {
	if p == "" {
		return nil, "empty path"
	}
	var steps []pathStep
	i := 0
	expectKey := true
	for i < len(p) {
		if len(steps) >= maxPathSteps {
			return nil, fmt.Sprintf("more than %d steps", maxPathSteps)
		}
		switch c := p[i]; {
		case c == '[':
			j := strings.IndexByte(p[i+1:], ']')
			if j < 0 {
				return nil, fmt.Sprintf("unclosed [ at character %d", i+1)
			}
			sel := p[i+1 : i+1+j]
			if sel == "" {
				return nil, fmt.Sprintf("empty [] at character %d: name the item or give its index", i+1)
			}
			if k := strings.IndexFunc(sel, func(r rune) bool { return !isSelectorRune(r) }); k >= 0 {
				return nil, fmt.Sprintf("character \"%s\" in [%s]: names hold letters, digits, dashes, underscores and dots", Printable(string([]rune(sel[k:])[0])), Printable(sel))
			}
			if len(steps) == 0 {
				return nil, "a path starts with a key, not [" + Printable(sel) + "]"
			}
			steps = append(steps, pathStep{sel: sel, selector: true})
			i += j + 2
			expectKey = false
		case c == '.':
			if expectKey {
				return nil, fmt.Sprintf("empty key at character %d", i+1)
			}
			i++
			expectKey = true
			if i == len(p) {
				return nil, "the path ends with a dot"
			}
		default:
			if !expectKey {
				return nil, fmt.Sprintf("want . or [ after ] at character %d", i+1)
			}
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				if !isKeyByte(p[j]) {
					r := []rune(p[j:])[0]
					return nil, fmt.Sprintf("character \"%s\" in a key: keys hold lower-case letters, digits and underscores", Printable(string(r)))
				}
				j++
			}
			steps = append(steps, pathStep{key: p[i:j]})
			i = j
			expectKey = false
		}
	}
	return steps, ""
}

func isKeyByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' }

func isSelectorRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// ---------------------------------------------------------------------------------
// Applying overrides to the document.

// applied is one override applied: the path as the decoder names it (clients[1].count).
type applied struct {
	o     Override
	canon string
}

// itemKeys names the key that names a list item, by item type, and what an item is
// called in messages. Lists of other types (timeline, gates) are addressed by index.
var itemKeys = map[reflect.Type]struct{ key, what string }{
	reflect.TypeFor[Segment]():         {"name", "segment"},
	reflect.TypeFor[Router]():          {"name", "router"},
	reflect.TypeFor[ManagementPoint](): {"name", "management point"},
	reflect.TypeFor[ClientGroup]():     {"group", "client group"},
	reflect.TypeFor[Rule]():            {"name", "rule"},
}

// applyOverrides sets every override in the document body, in order (a later one wins
// over an earlier one for the same path), and returns the new body. Problems go to
// d.errs, naming the flag.
func (d *decoder) applyOverrides(body ast.Node, ovs []Override) ast.Node {
	for _, o := range ovs {
		val, err := valueNode(o.Value)
		if err != "" {
			d.errs = append(d.errs, &Error{File: o.Flag, Path: clipMiddle(o.Path, maxTextLen), Msg: clipMiddle("the value is not YAML: "+err, maxTextLen),
				Hint: "give a number, a string, or a flow value such as {default: 8443} or [lan, dc]; quote it for the shell"})
			continue
		}
		a := &applier{o: o, val: val}
		nb, canon, e := a.set(body, reflect.TypeFor[Scenario](), o.steps, "", "")
		if e != nil {
			d.errs = append(d.errs, e)
			continue
		}
		body = nb
		d.applied = append(d.applied, applied{o: o, canon: canon})
	}
	return body
}

// valueNode parses an override's value as one YAML value. Its tokens get line 0: an
// error about it names the flag, never a line of the file.
func valueNode(v string) (ast.Node, string) {
	if e := prescan("--set", []byte(v)); e != nil {
		return nil, e.Msg
	}
	tokens := lexer.Tokenize(v)
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, strings.TrimSpace(msg)
	}
	for _, tk := range tokens {
		if tk.Position != nil {
			tk.Position.Line, tk.Position.Column = 0, 0
		}
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, "more than one document"
		}
		body = doc.Body
	}
	if body == nil {
		// An empty value: the field is absent, so its default applies.
		return ast.Null(synthToken("null")), ""
	}
	return body, ""
}

// synthToken is a token for a node an override adds; line 0, as it is in no file.
func synthToken(value string) *token.Token {
	return &token.Token{Type: token.StringType, Value: value, Origin: value, Position: &token.Position{}}
}

type applier struct {
	o   Override
	val ast.Node
}

func (a *applier) fail(at, msg, hint string) *Error {
	return &Error{File: a.o.Flag, Path: clipMiddle(at, maxTextLen), Msg: clipMiddle(msg, maxTextLen), Hint: clipMiddle(hint, maxTextLen)}
}

// set returns node n (nil: absent) of Go type t with steps set to the value, the
// decoder's path of what was set, or an error. user and canon are the path so far as
// the user wrote it and as the decoder names it.
func (a *applier) set(n ast.Node, t reflect.Type, steps []pathStep, user, canon string) (ast.Node, string, *Error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(steps) == 0 {
		return a.val, canon, nil
	}
	// Through anchors and tags to the node that holds the value.
	switch w := n.(type) {
	case *ast.AnchorNode:
		v, c, err := a.set(w.Value, t, steps, user, canon)
		if err == nil {
			w.Value = v
		}
		return w, c, err
	case *ast.TagNode:
		v, c, err := a.set(w.Value, t, steps, user, canon)
		if err == nil {
			w.Value = v
		}
		return w, c, err
	case *ast.AliasNode:
		return nil, "", a.fail(user, "the file has an alias (*"+w.Value.String()+") here", "--set cannot change the anchored value through an alias; set the path where the anchor (&) is")
	case *ast.NullNode:
		n = nil
	}
	st := steps[0]
	if st.selector {
		return a.setItem(n, t, st.sel, steps[1:], user, canon)
	}
	here := joinPath(user, st.key)
	if !navigable(t) {
		what := "a single value"
		if t.Kind() == reflect.Slice {
			return nil, "", a.fail(here, fmt.Sprintf("%s is a list: address one item, as %s[NAME] or %s[0]", user, user, user), "")
		}
		return nil, "", a.fail(here, fmt.Sprintf("%s is %s; it has no field `%s`", user, what, st.key), "set "+user+" itself")
	}
	fields := yamlFields(t)
	idx, ok := fields[st.key]
	if !ok {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		where := "at the top level"
		if user != "" {
			where = "in " + user
		}
		hint := "known fields " + where + ": " + strings.Join(sortedCopy(names), ", ")
		if c := closest(st.key, names); c != "" {
			hint = fmt.Sprintf("did you mean `%s`?", c)
		}
		return nil, "", a.fail(here, fmt.Sprintf("unknown field `%s` %s", st.key, where), hint)
	}
	ft := t.FieldByIndex(idx).Type
	var m *ast.MappingNode
	switch x := n.(type) {
	case nil:
		m = ast.Mapping(synthToken("{"), false)
	case *ast.MappingNode:
		m = x
	case *ast.MappingValueNode:
		m = ast.Mapping(x.GetToken(), false, x)
	default:
		return nil, "", a.fail(here, fmt.Sprintf("the file has %s at %s, not a mapping", describe(n), orTop(user)), "set "+orTop(user)+" itself, or fix the file")
	}
	ckey := joinPath(canon, st.key)
	for _, kv := range m.Values {
		if kv.Key == nil {
			continue
		}
		if _, isMerge := kv.Key.(*ast.MergeKeyNode); isMerge {
			continue
		}
		if scalarText(kv.Key) == st.key {
			v, c, err := a.set(kv.Value, ft, steps[1:], here, ckey)
			if err != nil {
				return nil, "", err
			}
			kv.Value = v
			return m, c, nil
		}
	}
	v, c, err := a.set(nil, ft, steps[1:], here, ckey)
	if err != nil {
		return nil, "", err
	}
	m.Values = append(m.Values, ast.MappingValue(synthToken(":"), ast.String(synthToken(st.key)), v))
	return m, c, nil
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// navigable reports a type whose fields a path can name: a struct written as a mapping.
func navigable(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return hasYAMLFields(t) // a scalar, or a mapping too (service_time)
	}
	return true
}

// setItem sets steps inside the item sel of list n (Go type t).
func (a *applier) setItem(n ast.Node, t reflect.Type, sel string, steps []pathStep, user, canon string) (ast.Node, string, *Error) {
	here := user + "[" + sel + "]"
	if t.Kind() != reflect.Slice {
		return nil, "", a.fail(here, user+" is not a list", "")
	}
	et := t.Elem()
	ik, named := itemKeys[et]
	what := "item"
	if named {
		what = ik.what
	}
	var items []ast.Node
	switch x := n.(type) {
	case nil:
		return nil, "", a.fail(here, fmt.Sprintf("%s has no items in the file, so no %s %q", user, what, sel), "set the whole list: --set '"+user+"=[...]'")
	case *ast.SequenceNode:
		items = x.Values
	default:
		return nil, "", a.fail(here, fmt.Sprintf("the file has %s at %s, not a list", describe(n), user), "")
	}
	// By name first (a name could look like a number), then by position.
	var names []string
	at := -1
	for i, it := range items {
		name, ok := itemName(it, et, ik.key, named, i)
		if !ok {
			continue
		}
		names = append(names, name)
		if at < 0 && name == sel {
			at = i
		}
	}
	if at < 0 {
		if k, err := strconv.Atoi(sel); err == nil && sel == strconv.Itoa(k) {
			if k < 0 || k >= len(items) {
				return nil, "", a.fail(here, fmt.Sprintf("index %d out of range: %s has %d item(s), 0 to %d", k, user, len(items), len(items)-1), "")
			}
			at = k
		}
	}
	if at < 0 {
		if !named && et.Kind() != reflect.String {
			return nil, "", a.fail(here, fmt.Sprintf("the items of %s have no names: give an index, 0 to %d", user, len(items)-1), "")
		}
		hint := ""
		if c := closest(sel, names); c != "" {
			hint = fmt.Sprintf("did you mean `%s`? ", c)
		}
		if len(names) > 0 {
			hint += user + " holds: " + strings.Join(names, ", ")
		}
		return nil, "", a.fail(here, fmt.Sprintf("no %s named %q in %s", what, sel, user), hint)
	}
	seq := n.(*ast.SequenceNode)
	v, c, err := a.set(seq.Values[at], et, steps, here, fmt.Sprintf("%s[%d]", canon, at))
	if err != nil {
		return nil, "", err
	}
	seq.Values[at] = v
	return seq, c, nil
}

// itemName is the name a list item is addressed by: its name key (a rule without one
// by its counter name, rule<N>), or a string item's value.
func itemName(it ast.Node, et reflect.Type, key string, named bool, i int) (string, bool) {
	for range maxDepth {
		switch w := it.(type) {
		case *ast.AnchorNode:
			it = w.Value
			continue
		case *ast.TagNode:
			it = w.Value
			continue
		}
		break
	}
	if et.Kind() == reflect.String {
		if isScalar(it) {
			return scalarText(it), true
		}
		return "", false
	}
	if !named {
		return "", false
	}
	var pairs []*ast.MappingValueNode
	switch m := it.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	}
	for _, kv := range pairs {
		if kv.Key != nil && scalarText(kv.Key) == key && isScalar(kv.Value) {
			return scalarText(kv.Value), true
		}
	}
	if et == reflect.TypeFor[Rule]() {
		return fmt.Sprintf("rule%d", i+1), true // the default name
	}
	return "", false
}

// ---------------------------------------------------------------------------------
// Errors of an overridden scenario, attributed to the flags.

// attribute rewrites the errors of a scenario loaded with overrides so that each one
// an override caused names its flag: errors at or under an override's path carry the
// flag and the path as the user wrote it (no file line: the value is not in the file);
// an error elsewhere that the file alone does not have names the flags that cause it
// and keeps the file's place in its hint.
func attribute(file string, data []byte, ovs []Override, done []applied, errs ErrorList) ErrorList {
	var base map[string]bool
	solo := map[int]map[string]bool{}
	key := func(e *Error) string { return e.Path + "\x00" + e.Msg }
	keys := func(l ErrorList) map[string]bool {
		m := map[string]bool{}
		for _, e := range l {
			m[key(e)] = true
		}
		return m
	}
	flags := map[string]bool{}
	for _, o := range ovs {
		flags[o.Flag] = true
	}
	for _, e := range errs {
		if flags[e.File] {
			continue // a path that does not resolve, or a value that is not YAML: named already
		}
		if i := owner(e.Path, done); i >= 0 {
			a := done[i]
			e.File, e.Line, e.Col, e.Source, e.srcCol, e.cutLeft, e.cutRight = a.o.Flag, 0, 0, "", 0, false, false
			e.Path = clipMiddle(a.o.Path+strings.TrimPrefix(e.Path, a.canon), maxTextLen)
			continue
		}
		if base == nil {
			_, bl, _ := parse(file, data, nil)
			base = keys(bl)
		}
		if base[key(e)] {
			continue // the file has it without any override
		}
		var culprits []applied
		for i, a := range done {
			if solo[i] == nil {
				_, l, _ := parse(file, data, []Override{a.o})
				solo[i] = keys(l)
			}
			if solo[i][key(e)] {
				culprits = append(culprits, a)
			}
		}
		if len(culprits) == 0 {
			culprits = done // only together
		}
		var flags, what []string
		for _, c := range culprits {
			flags = append(flags, c.o.Flag)
			what = append(what, fmt.Sprintf("%s (%s)", c.o.Flag, clipMiddle(c.o.String(), 120)))
		}
		place := ""
		if e.Line > 0 {
			place = fmt.Sprintf("; the other value is the file's, %s:%d", file, e.Line)
		}
		hint := "this follows from " + strings.Join(what, " and ") + place
		if e.Hint != "" {
			hint += "; " + e.Hint
		}
		e.File, e.Line, e.Col, e.Source, e.srcCol, e.cutLeft, e.cutRight = strings.Join(flags, ", "), 0, 0, "", 0, false, false
		e.Hint = clipMiddle(hint, maxTextLen)
	}
	// The flags' errors first, in flag order; then the file's, in file order.
	order := map[string]int{}
	for i, o := range ovs {
		order[o.Flag] = i + 1
	}
	rank := func(e *Error) int {
		flag, _, _ := strings.Cut(e.File, ",")
		if n, ok := order[flag]; ok {
			return n
		}
		return len(ovs) + 1
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if ri, rj := rank(errs[i]), rank(errs[j]); ri != rj {
			return ri < rj
		}
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Col < errs[j].Col
	})
	return errs
}

// owner is the override whose path path is, or lies under (the longest such path;
// between equal ones, the later flag, which won).
func owner(path string, done []applied) int {
	best := -1
	for i, a := range done {
		if path == a.canon || isUnder(path, a.canon) {
			if best < 0 || len(a.canon) >= len(done[best].canon) {
				best = i
			}
		}
	}
	return best
}

// OverrideStrings are the overrides as PATH=VALUE, for a result.
func OverrideStrings(ovs []Override) []string {
	var s []string
	for _, o := range ovs {
		s = append(s, o.String())
	}
	return slices.Clip(s)
}

// Vary is one `--vary PATH=V1,V2,...` of a sweep: the values tried at PATH, one run
// each. Values are split at commas outside brackets, braces and quotes, so a value may
// be a flow mapping: --vary 'site.ports.https={default: 8443},{default: 10443}'.
type Vary struct {
	Flag   string // "--vary #1"
	Path   string
	Values []string
	steps  []pathStep
}

// ParseVary reads one PATH=V1,V2,...; flag names it in errors.
func ParseVary(flag, arg string) (Vary, error) {
	o, err := ParseOverride(flag, arg)
	if err != nil {
		return Vary{}, err
	}
	bad := func(msg string) (Vary, error) {
		return Vary{}, ErrorList{{File: flag, Path: clipMiddle(o.Path, maxTextLen), Msg: msg, Hint: "for example --vary site.ports.https.default=443,8443,10443"}}
	}
	vals, msg := splitValues(o.Value)
	if msg != "" {
		return bad(msg)
	}
	if len(vals) > MaxVaryValues {
		return bad(fmt.Sprintf("%d values; at most %d", len(vals), MaxVaryValues))
	}
	seen := map[string]int{}
	for i, v := range vals {
		if v == "" {
			return bad(fmt.Sprintf("value %d is empty", i+1))
		}
		if j, dup := seen[v]; dup {
			return bad(fmt.Sprintf("value %q is given twice (values %d and %d)", clipMiddle(v, 80), j+1, i+1))
		}
		seen[v] = i
	}
	if len(vals) < 2 {
		return bad("a sweep needs at least two values, separated by commas")
	}
	return Vary{Flag: flag, Path: o.Path, Values: vals, steps: o.steps}, nil
}

// Override is the override that sets value i.
func (v Vary) Override(i int) Override {
	return Override{Flag: fmt.Sprintf("%s value %d", v.Flag, i+1), Path: v.Path, Value: v.Values[i], steps: v.steps}
}

// splitValues splits s at commas outside [], {} and quotes, trimming spaces.
func splitValues(s string) ([]string, string) {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth == 0 {
				return nil, fmt.Sprintf("unbalanced %q at character %d", c, i+1)
			}
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, "unclosed quote"
	}
	if depth != 0 {
		return nil, "unclosed [ or {"
	}
	return append(out, strings.TrimSpace(s[start:])), ""
}
