package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and whatever it
// rejects must be reported as an invalid scenario with positions inside the input.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	more, _ := filepath.Glob("builtin/*.yaml")
	seeds = append(seeds, more...)
	seeds = append(seeds, "testdata/base.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err == nil {
			if s == nil {
				t.Fatal("nil scenario without error")
			}
			if _, err := s.Marshal(); err != nil {
				t.Fatalf("valid scenario does not marshal: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error is not ErrInvalid: %v", err)
		}
		var el ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				if e.Line < 0 || e.Col < 0 {
					t.Fatalf("negative position: %v", e)
				}
			}
		}
	})
}
