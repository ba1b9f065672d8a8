package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, whatever it
// rejects must be reported as an invalid scenario with positions inside the input, and
// the report must hold no control character a terminal would act on. Inputs are capped
// at 16 KiB: a scenario is a few KiB, and bigger inputs only slow the fuzzer down (the
// size and nesting bounds have tests of their own).
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
	f.Add([]byte("a: " + strings.Repeat("[", 100)))
	f.Add([]byte("\xef\xbb\xbfversion: 1\nname: \"\\e[31m\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16<<10 {
			return
		}
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
			if i := strings.IndexFunc(el.Verbose(), func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
				t.Fatalf("the report holds a control character at %d: %q", i, el.Verbose())
			}
		}
	})
}
