package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// allocated runs f and returns the bytes it allocated (TotalAlloc grows with every
// allocation and never shrinks, so a memory bomb shows even if the GC frees it at once)
// and how long it took.
func allocated(f func()) (uint64, time.Duration) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	t0 := time.Now()
	f()
	took := time.Since(t0)
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc, took
}

const memoryBound = 64 << 20

// Deep nesting is refused before goccy/go-yaml parses it: without the pre-scan, 100 KB
// of `[` cost 3.9 GB in the parser. Each bomb is refused with a position, fast and within
// 64 MiB of allocations (measured: about 3 MiB for 1 MB, most of it the input's lines).
func TestDeepNestingRefusedBeforeParse(t *testing.T) {
	for _, size := range []int{100_000, 1_000_000} {
		for name, bomb := range map[string]string{
			"flow sequences": strings.Repeat("[", size),
			"flow mappings":  "a: " + strings.Repeat("{a: ", size/4),
			"compact dashes": strings.Repeat("- ", size/2) + "x\n",
			"anchored":       "a: &x !t " + strings.Repeat("[", size),
			"quoted key":     `"k": ` + strings.Repeat("[", size),
			"next line":      "a:\n  " + strings.Repeat("[", size),
			"mixed":          "a:\n" + strings.Repeat("- {b: [", size/8),
		} {
			var err error
			alloc, took := allocated(func() { _, err = Parse("bomb.yaml", []byte(bomb)) })
			var el ErrorList
			if !errors.As(err, &el) || len(el) != 1 || !strings.Contains(el[0].Msg, "nests more than 64 levels") {
				t.Fatalf("%s, %d bytes: want one nesting error, got %v", name, len(bomb), err)
			}
			if el[0].Line < 1 || el[0].Col < 1 {
				t.Errorf("%s: error without a position: %v", name, el[0])
			}
			if alloc > memoryBound || took > time.Second {
				t.Errorf("%s, %d bytes: %d MiB allocated in %v; want < %d MiB and < 1s", name, len(bomb), alloc>>20, took, memoryBound>>20)
			}
			if v := el.Verbose(); len(v) > 1000 {
				t.Errorf("%s: the report is %d bytes long", name, len(v))
			}
			t.Logf("%-15s %8d bytes: refused at %d:%d, %5.1f MiB allocated, %v", name, len(bomb), el[0].Line, el[0].Col, float64(alloc)/(1<<20), took)
		}
	}
}

// What looks like nesting but is text is not counted: the pre-scan must never refuse a
// scenario the parser would read.
func TestPrescanIgnoresText(t *testing.T) {
	deep := strings.Repeat("[", 200)
	for name, src := range map[string]string{
		"block scalar":        "description: |\n  " + deep + "\n  more " + deep + "\nversion: 1\n",
		"folded block scalar": "- >-\n    " + deep + "\n",
		"double quoted":       `description: "` + deep + `\" ` + deep + `"` + "\n",
		"single quoted":       "description: '" + deep + "'' " + deep + "'\n",
		"quoted over lines":   "description: \"" + deep + "\n  " + deep + "\"\n",
		"comment":             "# " + deep + "\nversion: 1 # " + deep + "\n",
		"plain scalar":        "description: a" + deep + "\n",
		"nesting 60":          "a: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n",
		"block nesting 60":    nestedBlock(60),
	} {
		if e := prescan("x.yaml", []byte(src)); e != nil {
			t.Errorf("%s: refused: %v", name, e)
		}
	}
	if e := prescan("x.yaml", []byte(nestedBlock(70))); e == nil || e.Line != 65 {
		t.Errorf("70 levels of block mappings: want a refusal at line 65, got %v", e)
	}
	files, _ := filepath.Glob("builtin/*.yaml")
	files = append(files, "testdata/base.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if e := prescan(f, b); e != nil {
			t.Errorf("%s: refused: %v", f, e)
		}
	}
}

func nestedBlock(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return b.String()
}

// Every input is read through the size limit: /dev/zero (whose size stat says is 0)
// stops at MaxFileSize, a FIFO nobody writes to is refused at once instead of hanging,
// a directory is refused.
func TestLoadBoundedReads(t *testing.T) {
	var err error
	alloc, took := allocated(func() { _, err = Load("/dev/zero") })
	if !errors.Is(err, ErrNotReadable) || !strings.Contains(err.Error(), "more than 1048576 bytes") {
		t.Errorf("/dev/zero: %v", err)
	}
	if alloc > memoryBound || took > 2*time.Second {
		t.Errorf("/dev/zero: %d MiB allocated in %v", alloc>>20, took)
	}
	t.Logf("/dev/zero refused after %v, %.1f MiB allocated", took, float64(alloc)/(1<<20))

	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err = Load(fifo)
	if took := time.Since(t0); !errors.Is(err, ErrNotReadable) || took > 3*time.Second {
		t.Errorf("FIFO without a writer: %v after %v; want a refusal within 3s", err, took)
	} else {
		t.Logf("FIFO without a writer refused after %v: %v", took, err)
	}

	// A FIFO whose writer is there (as a shell's pipe is) is read like a file, to the
	// writer's close. O_RDWR opens the writer's end without waiting for a reader.
	base, _ := os.ReadFile("testdata/base.yaml")
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(base); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // Load has opened it by now
		w.Close()
	}()
	if _, err = Load(fifo); err != nil {
		t.Errorf("FIFO with a writer: %v", err)
	}

	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotReadable) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrNotReadable) {
		t.Errorf("a file over the limit: %v", err)
	}
	if _, err := Load("/dev/null"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("/dev/null: %v, want the empty-file error", err)
	}
}

// A one-line file full of mistakes prints a bounded report: at most maxErrors errors
// plus one line saying how many more there were, each quoting at most 80 characters of
// the line around its column, with messages clipped. Unclipped, a 4 MB line printed
// 818 MB of errors.
func TestErrorOutputBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; b.Len() < MaxFileSize-1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(fmt.Sprintf("unknown_%d_%s: 1", i, strings.Repeat("k", i%500)))
	}
	b.WriteString("}")
	src := b.String()
	var err error
	alloc, took := allocated(func() { _, err = Parse("long.yaml", []byte(src)) })
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	if len(el) != maxErrors+1 || !strings.Contains(el[len(el)-1].Msg, "more than 200 errors") {
		t.Fatalf("%d errors, last %v; want %d and a note", len(el), el[len(el)-1], maxErrors+1)
	}
	out := el.Verbose()
	if len(out) > 2000*len(el) {
		t.Errorf("%d errors printed as %d bytes", len(el), len(out))
	}
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 8+excerptWidth+2 && !strings.Contains(line, "hint: ") && !strings.HasPrefix(line, "long.yaml:") {
			t.Fatalf("a source line of %d characters: %q", n, line)
		}
	}
	t.Logf("%d bytes on one line: %d errors in %d bytes of output; %.0f MiB allocated in %v", len(src), len(el), len(out), float64(alloc)/(1<<20), took)

	// Both phases (structural and semantic) count towards one bound.
	var many strings.Builder
	many.WriteString(string(mustRead(t, "testdata/base.yaml")))
	for i := range 150 {
		many.WriteString("x" + strings.Repeat("y", i) + ": 1\n")
	}
	many.WriteString("gates:\n")
	_, err = Parse("many.yaml", []byte(strings.Replace(many.String(), "gates:\n  - {metric: unmanaged_fraction", "gates:\n"+strings.Repeat("  - {metric: nope, op: \"<\", value: 1}\n", 150)+"  - {metric: unmanaged_fraction", 1)))
	if !errors.As(err, &el) || len(el) > maxErrors+1 {
		t.Errorf("structural and semantic errors: %d reported, want at most %d", len(el), maxErrors+1)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, tabs\tand all": `plain text, tabs\x09and all`,
		"esc\x1b[2Jhere":            `esc\x1b[2Jhere`,
		"cr\rbell\a":                `cr\x0dbell\x07`,
		"bidi \u202eevil":           `bidi \u202eevil`,
		"c1 \u009b31m":              `c1 \u009b31m`,
		"bad utf-8 \xff":            `bad utf-8 \xff`,
		"ünïcödé is fine, 日本語 too":  "ünïcödé is fine, 日本語 too",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	e := &Error{File: "f\x1b.yaml", Line: 1, Col: 3, Msg: "bad \x1b[31m", Hint: "h\x1b"}
	e.setSource("a:\x1b[31m\tb")
	if v := e.Verbose(); strings.ContainsAny(v, "\x1b\r") {
		t.Errorf("Verbose leaks control characters: %q", v)
	}
}
