package scenarios

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
)

// MaxFileSize bounds what Load reads and Parse accepts. A scenario is a few kilobytes
// (the largest built-in is under 4 KiB; a thousand timeline events fit in about 100 KiB),
// and the YAML library spends about 500 bytes of memory per byte of input, so 1 MiB
// keeps a wrong path to a huge file, or a hostile one, fast and small.
const MaxFileSize = 1 << 20

// Load reads, decodes, defaults and validates a scenario file. A file that cannot be read
// returns the os error, or one matching ErrNotReadable (a directory, a device, a FIFO
// without a writer, more than MaxFileSize bytes); a wrong scenario returns an ErrorList
// (errors.Is ErrInvalid) with every problem found.
func Load(path string) (*Scenario, error) {
	data, err := ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// utf8BOM is what some Windows editors write at the start of a UTF-8 file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse decodes, defaults and validates scenario text; file names it in errors.
func Parse(file string, data []byte) (*Scenario, error) { return ParseWith(file, data, nil) }

// LoadWith is Load with command-line overrides (--set) applied to the document before
// it is decoded.
func LoadWith(path string, ovs []Override) (*Scenario, error) {
	data, err := ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return ParseWith(path, data, ovs)
}

// ParseWith is Parse with command-line overrides (--set) applied to the document before
// it is decoded, so their values get the file's types, defaults and validation. An
// error an override causes names its flag ("--set #2: site.ports.https.default: ...")
// rather than a line of the file.
func ParseWith(file string, data []byte, ovs []Override) (*Scenario, error) {
	s, errs, done := parse(file, data, ovs)
	if errs == nil {
		return s, nil
	}
	if len(ovs) > 0 {
		errs = attribute(file, data, ovs, done, errs)
	}
	return nil, errs
}

// parse is ParseWith without the attribution of errors to flags.
func parse(file string, data []byte, ovs []Override) (*Scenario, ErrorList, []applied) {
	if len(data) > MaxFileSize {
		return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: fmt.Sprintf("scenario is %d bytes; at most %d", len(data), MaxFileSize)}}, nil
	}
	data = bytes.TrimPrefix(data, utf8BOM) // positions then count as the editor shows them
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: "this is not a text file (it contains NUL bytes)"}}, nil
	}
	// Before the YAML library: its parser's cost grows with the square of the nesting.
	if e := prescan(file, data); e != nil {
		e.Source = sourceLine(data, e.Line)
		return nil, ErrorList{e}, nil
	}
	d := newDecoder(file, data)
	d.overrides = ovs
	var s Scenario
	if !d.parse(data, &s) {
		return nil, d.errs.sorted(), d.applied // a syntax error: nothing more can be said
	}
	structural, droppedStructural := d.errs, d.dropped
	d.errs, d.dropped = nil, 0
	s.ApplyDefaults()
	v := &validator{s: &s, d: d, structural: len(structural) > 0}
	v.validate()
	// Semantic checks also run on a file with structural errors, so the author sees
	// everything at once; but a field that failed to decode is zero, and whatever the
	// checks say about it (or about what contains it) would only mislead.
	all := structural
	for _, e := range d.errs {
		if !nearAny(e.Path, structural) {
			all = append(all, e)
		}
	}
	if len(all) > 0 {
		return nil, all.sorted().bounded(droppedStructural + d.dropped), d.applied
	}
	return &s, nil, d.applied
}

// Marshal writes the scenario as YAML (with whatever defaults it holds).
func (s *Scenario) Marshal() ([]byte, error) {
	return yaml.MarshalWithOptions(s, yaml.Indent(2), yaml.IndentSequence(true), yaml.UseJSONMarshaler())
}

// nearAny reports whether path is, contains or lies inside a path with a structural error.
func nearAny(path string, errs ErrorList) bool {
	for _, e := range errs {
		if e.Path == "" || path == e.Path || isUnder(path, e.Path) || isUnder(e.Path, path) {
			return true
		}
	}
	return false
}

func isUnder(path, parent string) bool {
	return parent == "" || strings.HasPrefix(path, parent+".") || strings.HasPrefix(path, parent+"[")
}

// Validate re-checks a scenario built or changed in code (defaults already applied),
// such as one rescaled with `portlab run --clients`. Errors carry YAML paths but no
// positions.
func (s *Scenario) Validate() error {
	d := newDecoder("<"+s.Name+">", nil)
	v := &validator{s: s, d: d, sitePortsOK: true}
	v.validate()
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

// sourceLine is line n (1-based) of data, without its line break.
func sourceLine(data []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return strings.TrimRight(string(data), "\r")
}
