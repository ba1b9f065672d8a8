package scenarios

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
)

// MaxFileSize bounds what Load reads, so a wrong path to a huge file fails fast.
const MaxFileSize = 4 << 20

// Load reads, decodes, defaults and validates a scenario file. A file that cannot be read
// returns the os error; a wrong scenario returns an ErrorList (errors.Is ErrInvalid) with
// every problem found.
func Load(path string) (*Scenario, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a scenario file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes; a scenario is at most %d", st.Size(), MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates scenario text; file names it in errors.
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("scenario is %d bytes; at most %d", len(data), MaxFileSize)}}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: "this is not a text file (it contains NUL bytes)"}}
	}
	d := newDecoder(file, data)
	var s Scenario
	if !d.parse(data, &s) {
		return nil, d.errs.sorted() // a syntax error: nothing more can be said
	}
	structural := d.errs
	d.errs = nil
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
		return nil, all.sorted()
	}
	return &s, nil
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
