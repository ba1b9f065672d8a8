package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// JSON renders the result as indented JSON.
func JSON(r *Result) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write renders every file into dir (created if needed), each atomically, result.json
// last, so a reader that finds result.json finds the rest too.
func Write(dir string, r *Result, extra map[string]Renderer) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory %s: %w", dir, err)
	}
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
	var written []string
	var errs []error
	for _, name := range names {
		b, err := files[name](r)
		if err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", name, err))
			continue
		}
		p := filepath.Join(dir, name)
		if err := WriteFileAtomic(p, b, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", p, err))
			continue
		}
		written = append(written, p)
	}
	return written, errors.Join(errs...)
}

// Read loads a result.json, refusing other schema versions.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var probe struct {
		V *int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a portlab result: %w", path, err)
	}
	if probe.V == nil {
		return nil, fmt.Errorf("%s: not a portlab result (no schema_version)", path)
	}
	if *probe.V != SchemaVersion {
		return nil, fmt.Errorf("%s: result schema version %d; this portlab reads %d", path, *probe.V, SchemaVersion)
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
