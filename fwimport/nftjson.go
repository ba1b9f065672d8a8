package fwimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The typed subset of libnftables-json(5) an `nft -j list ruleset` listing is read
// into. Objects and statements are objects with exactly one property naming their kind;
// the kinds the importer understands decode into their own structs, every other kind
// keeps its name and raw JSON, so a rule that uses one is refused by name rather than
// read past.

// nftListing is the whole listing: {"nftables": [OBJECT, ...]}.
type nftListing struct {
	Nftables []nftObject `json:"nftables"`
}

// nftObject is one element of the nftables array.
type nftObject struct {
	Kind     string // metainfo, table, chain, rule, set, map, ... (the property name)
	Metainfo *nftMetainfo
	Table    *nftTable
	Chain    *nftChain
	Rule     *nftRule
}

type nftMetainfo struct {
	Version           string `json:"version"`
	JSONSchemaVersion int    `json:"json_schema_version"`
}

type nftTable struct {
	Family string `json:"family"`
	Name   string `json:"name"`
	Handle int64  `json:"handle"`
}

// nftChain is a chain; base chains have Type, Hook, Prio and Policy.
type nftChain struct {
	Family string          `json:"family"`
	Table  string          `json:"table"`
	Name   string          `json:"name"`
	Handle int64           `json:"handle"`
	Type   string          `json:"type"`
	Hook   string          `json:"hook"`
	Prio   json.RawMessage `json:"prio"` // a number in listings; kept raw, only shown
	Policy string          `json:"policy"`
	Dev    json.RawMessage `json:"dev"`
}

// nftRule is a rule: its statements in order.
type nftRule struct {
	Family  string    `json:"family"`
	Table   string    `json:"table"`
	Chain   string    `json:"chain"`
	Handle  int64     `json:"handle"`
	Expr    []nftStmt `json:"expr"`
	Comment string    `json:"comment"`
}

// nftCommands are the command wrappers of JSON input, which a listing never has.
var nftCommands = map[string]bool{"add": true, "replace": true, "create": true, "insert": true,
	"delete": true, "list": true, "reset": true, "flush": true, "rename": true, "destroy": true}

func (o *nftObject) UnmarshalJSON(b []byte) error {
	kind, body, err := oneKey(b, "an element of the nftables array")
	if err != nil {
		return err
	}
	o.Kind = kind
	switch {
	case kind == "metainfo":
		o.Metainfo = &nftMetainfo{}
		return decodeBody(body, o.Metainfo, kind)
	case kind == "table":
		o.Table = &nftTable{}
		return decodeBody(body, o.Table, kind)
	case kind == "chain":
		o.Chain = &nftChain{}
		return decodeBody(body, o.Chain, kind)
	case kind == "rule":
		o.Rule = &nftRule{}
		return decodeBody(body, o.Rule, kind)
	case nftCommands[kind]:
		return fmt.Errorf("%q is a command of nft's JSON input, not part of a listing: give the output of `nft -j list ruleset`", kind)
	}
	return nil // sets, maps, counters, flowtables, ...: not needed (a rule naming a set is refused)
}

// maxNesting bounds how deeply a listing's JSON may nest. Real listings nest a dozen
// levels; the decoder re-reads each level's text, so a deep document would cost its
// depth times its size.
const maxNesting = 64

// nesting is the deepest nesting of arrays and objects in JSON text (outside strings).
func nesting(b []byte) int {
	depth, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
			if depth > max {
				max = depth
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return max
}

// decodeBody decodes an object's body; unknown fields are fine (newer nft versions
// add some), wrong types are not.
func decodeBody(body json.RawMessage, v any, kind string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return nil
}

// oneKey splits {"kind": body}.
func oneKey(b []byte, what string) (string, json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "", nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(m) != 1 {
		return "", nil, fmt.Errorf("%s has %d properties, want exactly one naming its kind", what, len(m))
	}
	for k, v := range m {
		return k, v, nil
	}
	panic("unreachable")
}

// nftStmt is one statement of a rule's expr array: {"kind": body}.
type nftStmt struct {
	Kind string
	Body json.RawMessage
}

func (s *nftStmt) UnmarshalJSON(b []byte) error {
	kind, body, err := oneKey(b, "a statement")
	if err != nil {
		return err
	}
	s.Kind, s.Body = kind, body
	return nil
}

// nftMatch is {"match": {"op": ..., "left": ..., "right": ...}}.
type nftMatch struct {
	Op    string  `json:"op"`
	Left  nftExpr `json:"left"`
	Right nftExpr `json:"right"`
}

// nftReject is {"reject": {"type": ..., "expr": ...}} or {"reject": null}.
type nftReject struct {
	Type string `json:"type"`
	Expr string `json:"expr"`
}

// nftTarget is the body of jump and goto.
type nftTarget struct {
	Target string `json:"target"`
}

// nftVmap is {"vmap": {"key": EXPR, "data": EXPR}}: a verdict map.
type nftVmap struct {
	Key  nftExpr `json:"key"`
	Data nftExpr `json:"data"`
}

// nftMangle is {"mangle": {"key": EXPR, "value": EXPR}}.
type nftMangle struct {
	Key nftExpr `json:"key"`
}

// nftLog is {"log": {...}} or {"log": null}; only the prefix is shown.
type nftLog struct {
	Prefix string `json:"prefix"`
	Group  *int   `json:"group"`
	Level  string `json:"level"`
}

// nftExpr is an expression: an immediate (string, number, boolean), a list, or an
// object with one property naming its kind.
type nftExpr struct {
	Kind string // "string", "number", "bool", "null", "list", or the object's kind
	Str  string // string immediates; a number's text
	Num  int64  // integer immediates
	Int  bool   // Num holds the number (it is an integer)
	List []nftExpr
	// payload
	Protocol, Field, Base string
	Offset, Len           int64
	// meta, ct, rt, socket ...
	Key, Dir, Family string
	// prefix
	Addr *nftExpr
	// elem
	Val     *nftExpr
	Comment string
	Raw     json.RawMessage
}

func (e *nftExpr) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("empty expression")
	}
	e.Raw = append(json.RawMessage(nil), b...)
	switch b[0] {
	case '"':
		e.Kind = "string"
		return json.Unmarshal(b, &e.Str)
	case '[':
		e.Kind = "list"
		return json.Unmarshal(b, &e.List)
	case 't', 'f':
		e.Kind = "bool"
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		e.Str = strconv.FormatBool(v)
		return nil
	case 'n':
		e.Kind = "null"
		return nil
	case '{':
		kind, body, err := oneKey(b, "an expression")
		if err != nil {
			return err
		}
		e.Kind = kind
		return e.object(kind, body)
	}
	e.Kind, e.Str = "number", string(b)
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if v, err := n.Int64(); err == nil {
		e.Num, e.Int = v, true
	}
	return nil
}

func (e *nftExpr) object(kind string, body json.RawMessage) error {
	switch kind {
	case "payload":
		var p struct {
			Protocol string `json:"protocol"`
			Field    string `json:"field"`
			Base     string `json:"base"`
			Offset   int64  `json:"offset"`
			Len      int64  `json:"len"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		e.Protocol, e.Field, e.Base, e.Offset, e.Len = p.Protocol, p.Field, p.Base, p.Offset, p.Len
	case "meta", "ct", "rt", "socket", "osf", "ipsec", "fib":
		var k struct {
			Key    string `json:"key"`
			Dir    string `json:"dir"`
			Family string `json:"family"`
		}
		if err := json.Unmarshal(body, &k); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		e.Key, e.Dir, e.Family = k.Key, k.Dir, k.Family
	case "prefix":
		var p struct {
			Addr nftExpr `json:"addr"`
			Len  int64   `json:"len"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
		e.Addr, e.Len = &p.Addr, p.Len
	case "range", "concat":
		if err := json.Unmarshal(body, &e.List); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	case "set":
		// SET := EXPRESSION | [ EXPRESSION_LIST ]
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(t, &e.List); err != nil {
				return fmt.Errorf("set: %w", err)
			}
		} else {
			var one nftExpr
			if err := json.Unmarshal(t, &one); err != nil {
				return fmt.Errorf("set: %w", err)
			}
			e.List = []nftExpr{one}
		}
	case "elem":
		var el struct {
			Val     nftExpr `json:"val"`
			Comment string  `json:"comment"`
		}
		if err := json.Unmarshal(body, &el); err != nil {
			return fmt.Errorf("elem: %w", err)
		}
		e.Val, e.Comment = &el.Val, el.Comment
	default:
		// Verdicts inside maps ({"accept": null}), binary operations, hashes, ...: kept
		// raw; whatever uses them decides.
	}
	return nil
}

// text renders an expression in nft syntax, for the output's comments.
func (e *nftExpr) text() string {
	switch e.Kind {
	case "string":
		if strings.HasPrefix(e.Str, "@") || isBare(e.Str) {
			return e.Str
		}
		return strconv.Quote(e.Str)
	case "number", "bool":
		return e.Str
	case "null":
		return "null"
	case "list":
		return joinExprs(e.List, ",")
	case "payload":
		if e.Base != "" {
			return fmt.Sprintf("@%s,%d,%d", e.Base, e.Offset, e.Len)
		}
		return e.Protocol + " " + e.Field
	case "meta":
		switch e.Key {
		case "iifname", "oifname", "iif", "oif", "iiftype", "oiftype", "mark":
			if e.Key != "mark" {
				return e.Key
			}
		}
		return "meta " + e.Key
	case "ct":
		s := "ct"
		if e.Dir != "" {
			s += " " + e.Dir
		}
		if e.Family != "" {
			s += " " + e.Family
		}
		return s + " " + e.Key
	case "prefix":
		return fmt.Sprintf("%s/%d", e.Addr.text(), e.Len)
	case "range":
		return joinExprs(e.List, "-")
	case "concat":
		return joinExprs(e.List, " . ")
	case "set":
		return "{ " + joinExprs(e.List, ", ") + " }"
	case "elem":
		s := e.Val.text()
		if e.Comment != "" {
			s += " comment " + strconv.Quote(e.Comment)
		}
		return s
	case "accept", "drop", "continue", "return":
		return e.Kind
	case "jump", "goto":
		var t nftTarget
		_, body, _ := oneKey(e.Raw, "verdict")
		json.Unmarshal(body, &t)
		return e.Kind + " " + t.Target
	}
	return compact(e.Raw)
}

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".:/-_", r)) {
			return false
		}
	}
	return true
}

func joinExprs(l []nftExpr, sep string) string {
	var s []string
	for i := range l {
		s = append(s, l[i].text())
	}
	return strings.Join(s, sep)
}

func compact(b json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// stmtText renders a statement in nft syntax.
func stmtText(s nftStmt) string {
	switch s.Kind {
	case "match":
		var m nftMatch
		if json.Unmarshal(s.Body, &m) != nil {
			return "match " + compact(s.Body)
		}
		op := " "
		if m.Op != "==" && m.Op != "in" {
			op = " " + m.Op + " "
		}
		right := m.Right.text()
		if m.Left.Kind == "meta" && strings.HasSuffix(m.Left.Key, "name") && m.Right.Kind == "string" {
			right = strconv.Quote(m.Right.Str) // iifname "eth0", as nft prints it
		}
		return m.Left.text() + op + right
	case "counter":
		var name string
		if json.Unmarshal(s.Body, &name) == nil {
			return "counter name " + strconv.Quote(name)
		}
		return "counter"
	case "accept", "drop", "continue", "return", "notrack", "masquerade":
		if isNull(s.Body) {
			return s.Kind
		}
	case "jump", "goto":
		var t nftTarget
		if json.Unmarshal(s.Body, &t) == nil {
			return s.Kind + " " + t.Target
		}
	case "reject":
		var r nftReject
		if isNull(s.Body) || json.Unmarshal(s.Body, &r) != nil {
			return "reject"
		}
		switch {
		case r.Type == "tcp reset":
			return "reject with tcp reset"
		case r.Expr != "":
			return "reject with " + r.Type + " " + r.Expr
		case r.Type != "":
			return "reject with " + r.Type
		}
		return "reject"
	case "log":
		var l nftLog
		if isNull(s.Body) || json.Unmarshal(s.Body, &l) != nil || l.Prefix == "" {
			return "log"
		}
		return "log prefix " + strconv.Quote(l.Prefix)
	case "limit":
		var l struct {
			Rate  int64  `json:"rate"`
			Per   string `json:"per"`
			Unit  string `json:"rate_unit"`
			Burst int64  `json:"burst"`
			Inv   bool   `json:"inv"`
		}
		if json.Unmarshal(s.Body, &l) == nil && l.Per != "" {
			t := "limit rate "
			if l.Inv {
				t += "over "
			}
			t += strconv.FormatInt(l.Rate, 10)
			if l.Unit != "" && l.Unit != "packets" {
				t += " " + l.Unit
			}
			return t + "/" + l.Per
		}
	case "mangle":
		var m struct {
			Key   nftExpr `json:"key"`
			Value nftExpr `json:"value"`
		}
		if json.Unmarshal(s.Body, &m) == nil {
			return m.Key.text() + " set " + m.Value.text()
		}
	case "snat", "dnat":
		var n struct {
			Addr *nftExpr `json:"addr"`
			Port *nftExpr `json:"port"`
		}
		if json.Unmarshal(s.Body, &n) == nil && n.Addr != nil {
			t := s.Kind + " to " + n.Addr.text()
			if n.Port != nil {
				t += ":" + n.Port.text()
			}
			return t
		}
	case "quota":
		var q struct {
			Val  int64  `json:"val"`
			Unit string `json:"val_unit"`
			Inv  bool   `json:"inv"`
		}
		if json.Unmarshal(s.Body, &q) == nil {
			t := "quota "
			if q.Inv {
				t += "over "
			}
			return t + strconv.FormatInt(q.Val, 10) + " " + q.Unit
		}
	case "vmap":
		var v nftVmap
		if json.Unmarshal(s.Body, &v) == nil {
			return v.Key.text() + " vmap " + vmapText(&v.Data)
		}
	}
	if isNull(s.Body) {
		return s.Kind
	}
	return s.Kind + " " + compact(s.Body)
}

func vmapText(d *nftExpr) string {
	if d.Kind != "set" {
		return d.text()
	}
	var parts []string
	for _, el := range d.List {
		if el.Kind == "list" && len(el.List) == 2 {
			parts = append(parts, el.List[0].text()+" : "+el.List[1].text())
		} else {
			parts = append(parts, el.text())
		}
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func isNull(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || string(t) == "null"
}

// ruleText renders a whole rule, as `nft list ruleset` would print it (counters'
// values left out: they change with every listing).
func ruleText(r *nftRule) string {
	var parts []string
	for _, s := range r.Expr {
		parts = append(parts, stmtText(s))
	}
	t := strings.Join(parts, " ")
	if r.Comment != "" {
		t += " comment " + strconv.Quote(r.Comment)
	}
	return t
}
