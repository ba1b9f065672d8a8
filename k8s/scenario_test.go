package k8s

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/scenarios"
)

func TestReadScenarioBuiltins(t *testing.T) {
	bs, err := scenarios.Builtins()
	if err != nil || len(bs) == 0 {
		t.Fatalf("%d built-ins, %v", len(bs), err)
	}
	for _, b := range bs {
		s, err := ReadScenario(b.Name)
		if err != nil {
			t.Errorf("%s: %v", b.Name, err)
			continue
		}
		if s.Name != b.Name || !bytes.Equal(s.Source, b.Source) || s.Duration <= 0 || s.ManagementPoints < 1 {
			t.Errorf("%s: %+v", b.Name, s)
		}
	}
}

func TestReadScenarioFileIsVerbatim(t *testing.T) {
	src, err := scenarios.BuiltinSource("port-change")
	if err != nil {
		t.Fatal(err)
	}
	// A comment and odd spacing the shards must see exactly as written.
	src = append([]byte("# site-wide rehearsal, reviewed by the CAB\n\n\n"), src...)
	p := filepath.Join(t.TempDir(), "site-wide.yaml")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadScenario(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Source, src) || s.Name != "port-change" || s.Duration != 30*time.Second || s.ManagementPoints != 2 {
		t.Errorf("%+v", s)
	}
	if s.Key() != "port-change.yaml" {
		t.Errorf("key %s", s.Key())
	}
}

func TestReadScenarioRefusals(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(invalid, []byte("version: 1\nname: x\nduration: 1s\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadScenario(invalid); !errors.Is(err, scenarios.ErrInvalid) {
		t.Errorf("invalid scenario: %v, want scenarios.ErrInvalid", err)
	}
	if _, err := ReadScenario("port-chnage"); err == nil || !strings.Contains(err.Error(), `did you mean "port-change"`) {
		t.Errorf("unknown built-in: %v", err)
	}
	if _, err := ReadScenario(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadScenario(filepath.Join(dir, "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
