package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidScenarios loads every file under testdata/invalid and compares the full
// error report (file:line:col: path: message, the quoted line, the caret and the hint)
// with the file's .golden twin. Rewrite goldens with -update, then read the diff.
func TestInvalidScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("only %d invalid scenarios; the corpus must hold at least 40", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			var el ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("want an ErrorList, got %T", err)
			}
			for _, e := range el {
				if e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a position: %v", e)
				}
				if e.File != f {
					t.Errorf("error names file %q, want %q", e.File, f)
				}
			}
			got := el.Verbose() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error report differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestAllErrorsReported checks that one file with several independent mistakes gets
// every one of them in a single report, structural and semantic alike.
func TestAllErrorsReported(t *testing.T) {
	_, err := Load("testdata/invalid/many-errors.yaml")
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("want ErrorList, got %v", err)
	}
	for _, want := range []string{"unknown field `alternat`", "want an integer", "invalid site code", `no segment named "dmz"`} {
		found := false
		for _, e := range el {
			if strings.Contains(e.Msg, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("report lacks %q:\n%s", want, el.Error())
		}
	}
}

func TestBaseIsValid(t *testing.T) {
	s, err := Load("testdata/base.yaml")
	if err != nil {
		t.Fatalf("the base of the invalid corpus must itself be valid: %v", err)
	}
	if s.Clients[0].HTTPPort != 80 || *s.Clients[0].KnowsAlternate != true || s.Network.Segments[0].Subnet.String() != "198.19.0.0/24" || s.Network.Segments[1].Subnet.String() != "198.19.1.0/24" {
		t.Fatalf("defaults not applied: %+v, dc subnet %s", s.Clients[0], s.Network.Segments[1].Subnet)
	}
}
