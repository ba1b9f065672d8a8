package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Renderer writes one rendering of a result.
type Renderer func(r *Result) ([]byte, error)

// Files are the renderings every run writes, by file name.
func Files() map[string]Renderer {
	return map[string]Renderer{
		"result.json": JSON,
		"summary.md":  Markdown,
		"junit.xml":   JUnit,
	}
}

// JSON renders the result as indented JSON. JSON has no NaN or infinity: a result
// holding one (a measurement that divided by zero) is written with 0 in its place and
// a note naming the field, rather than not at all.
func JSON(r *Result) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	var uv *json.UnsupportedValueError
	if errors.As(err, &uv) {
		b, err = json.MarshalIndent(Finite(r), "", "  ")
	}
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Finite returns r itself when every number in it is finite, else a copy with each NaN
// or infinity replaced by 0 and one note saying which fields were (JSON cannot hold
// them, and a chart cannot draw them).
func Finite(r *Result) *Result {
	var bad []string
	c := finiteCopy(reflect.ValueOf(r).Elem(), "", &bad).Interface().(Result)
	if len(bad) == 0 {
		return r
	}
	more := ""
	if len(bad) > 10 {
		more = fmt.Sprintf(" and %d more", len(bad)-10)
		bad = bad[:10]
	}
	c.Notes = append(slices.Clip(c.Notes), fmt.Sprintf("not a finite number (NaN or infinity), written as 0: %s%s", strings.Join(bad, ", "), more))
	return &c
}

// finiteCopy deep-copies v, replacing non-finite floats with 0 and recording their
// paths in bad. Structs with unexported fields (time.Time) are copied whole.
func finiteCopy(v reflect.Value, path string, bad *[]string) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			*bad = append(*bad, path)
			return out
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				out.Set(v)
				return out
			}
		}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = t.Field(i).Name
			}
			out.Field(i).Set(finiteCopy(v.Field(i), joinField(path, name), bad))
		}
		return out
	case reflect.Slice:
		if v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8 {
			break // nil, or bytes (json.RawMessage): nothing to fix
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(finiteCopy(v.Index(i), path+"["+strconv.Itoa(i)+"]", bad))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			break
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), finiteCopy(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), bad))
		}
		return m
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			break
		}
		if v.Kind() == reflect.Pointer {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(finiteCopy(v.Elem(), path, bad))
			return p
		}
		out.Set(finiteCopy(v.Elem(), path, bad))
		return out
	}
	out.Set(v)
	return out
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Write renders every file of the result into dir (created if needed), each written
// atomically, and result.json last and only when every other file was written: a
// reader that finds result.json finds the rest, and a failure (a full disk) leaves
// complete files or none, never a partial one. Every rendering is made before the first
// file is written, so a rendering that fails writes nothing. Non-finite numbers are
// written as 0 with a note (see Finite), in every file alike. It returns the paths
// written.
func Write(dir string, r *Result, extra map[string]Renderer) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory %s: %w", dir, err)
	}
	r = Finite(r)
	files := Files()
	for k, v := range extra {
		files[k] = v
	}
	var names []string
	for name := range files {
		if name != "result.json" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append(names, "result.json")
	rendered := make([][]byte, len(names))
	var errs []error
	for i, name := range names {
		b, err := files[name](r)
		if err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", name, err))
		}
		rendered[i] = b
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var written []string
	for i, name := range names {
		p := filepath.Join(dir, name)
		if err := WriteFileAtomic(p, rendered[i], 0o644); err != nil {
			return written, fmt.Errorf("write %s: %w (result.json not written: the results are incomplete)", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}

// Read loads a result.json (at most MaxResultSize bytes; a FIFO or a device is read
// through the same bound within StreamTimeout), refusing other schema versions.
func Read(path string) (*Result, error) {
	b, err := readFile(path, MaxResultSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// ErrNotResult is matched (errors.Is) when the data is not a result this portlab reads.
var ErrNotResult = errors.New("not a portlab result")

// Parse decodes result.json text; name is what errors call it. Errors match
// ErrNotResult.
func Parse(name string, b []byte) (*Result, error) {
	var probe struct {
		V *int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrNotResult, err)
	}
	if probe.V == nil {
		return nil, fmt.Errorf("%s: %w (no schema_version)", name, ErrNotResult)
	}
	if *probe.V != SchemaVersion {
		return nil, fmt.Errorf("%s: %w: result schema version %d; this portlab reads %d", name, ErrNotResult, *probe.V, SchemaVersion)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrNotResult, err)
	}
	return &r, nil
}
