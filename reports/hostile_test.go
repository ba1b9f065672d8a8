package reports

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Writing to a device or a FIFO writes to it; it never renames a file over it (as root
// that replaced /dev/null with a regular file).
func TestWriteFileAtomicSpecialFiles(t *testing.T) {
	if err := WriteFileAtomic("/dev/null", []byte("report\n"), 0o644); err != nil {
		t.Fatalf("/dev/null: %v", err)
	}
	if st, err := os.Lstat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", st.Mode(), err)
	}

	dir := t.TempDir()
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Nobody reads it: refused at once, not a hang.
	t0 := time.Now()
	if err := WriteFileAtomic(fifo, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "no process reads") || time.Since(t0) > time.Second {
		t.Errorf("FIFO without a reader: %v after %v", err, time.Since(t0))
	}
	// Somebody reads it: they get the data, and the FIFO stays a FIFO.
	data := bytes.Repeat([]byte("0123456789"), 100_000) // more than a pipe holds
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	var err error
	for range 100 { // until the reader has opened it
		if err = WriteFileAtomic(fifo, data, 0o644); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("FIFO with a reader: %v", err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("the reader got %d bytes, want %d", len(b), len(data))
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", st.Mode(), err)
	}

	// A symbolic link is written through; the link stays.
	target := filepath.Join(dir, "target.md")
	os.WriteFile(target, []byte("old"), 0o644)
	link := filepath.Join(dir, "link.md")
	os.Symlink(target, link)
	if err := WriteFileAtomic(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("the link's target holds %q", b)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a %v", st.Mode())
	}
	if err := WriteFileAtomic(dir, []byte("x"), 0o644); err == nil {
		t.Error("writing over a directory succeeded")
	}
}

func TestReadBounded(t *testing.T) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	t0 := time.Now()
	_, err := Read("/dev/zero")
	took := time.Since(t0)
	runtime.ReadMemStats(&b)
	alloc := b.TotalAlloc - a.TotalAlloc
	if !errors.Is(err, ErrNotReadable) {
		t.Errorf("/dev/zero: %v", err)
	}
	// The bound is MaxResultSize (32 MiB), read in chunks: about that much is allocated.
	if alloc > MaxResultSize+8<<20 || took > 5*time.Second {
		t.Errorf("/dev/zero: %d MiB allocated in %v", alloc>>20, took)
	}
	t.Logf("/dev/zero refused after %v, %d MiB allocated", took, alloc>>20)

	fifo := filepath.Join(t.TempDir(), "result.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, err := Read(fifo); !errors.Is(err, ErrNotReadable) || time.Since(t0) > 3*time.Second {
		t.Errorf("FIFO without a writer: %v after %v", err, time.Since(t0))
	}
	if _, err := Read(t.TempDir()); !errors.Is(err, ErrNotReadable) {
		t.Errorf("a directory: %v", err)
	}
}

// A NaN measured in a run (a ratio of zero requests) must not lose the result:
// encoding/json refuses NaN, so the result is written with 0 and a note.
func TestNonFiniteNumbersWritten(t *testing.T) {
	r := sample()
	r.Gates[0].Measured = math.NaN()
	r.Cost[0].CPUPerRequestUS = math.Inf(1)
	r.Extra = map[string]any{"ratio": math.NaN(), "ok": 1.5}
	dir := t.TempDir()
	if _, err := Write(dir, r, ExtraFiles(r)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	back, err := Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Gates[0].Measured != 0 || back.Cost[0].CPUPerRequestUS != 0 || back.Extra["ok"] != 1.5 {
		t.Errorf("non-finite values not replaced: %+v %+v %v", back.Gates[0], back.Cost[0], back.Extra)
	}
	note := back.Notes[len(back.Notes)-1]
	for _, f := range []string{"gates[0].measured", "cost[0].cpu_us_per_request", "extra[ratio]"} {
		if !strings.Contains(note, f) {
			t.Errorf("note %q does not name %s", note, f)
		}
	}
	if !math.IsNaN(r.Gates[0].Measured) {
		t.Error("Write changed the caller's result")
	}
	if f := Finite(sample()); f.Notes != nil && len(f.Notes) != len(sample().Notes) {
		t.Error("Finite added a note to a finite result")
	}
}

// Write renders everything before it writes anything, and writes result.json only
// after every other file: a failure leaves no result.json beside missing files, and no
// temporary file.
func TestWriteResultJSONLast(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]Renderer{"broken.txt": func(*Result) ([]byte, error) { return nil, errors.New("boom") }}
	if _, err := Write(dir, sample(), bad); err == nil {
		t.Fatal("a failing renderer did not fail Write")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a failed rendering wrote files: %v", ents)
	}
	// A file that cannot be written (a directory in its place) stops the writing.
	os.Mkdir(filepath.Join(dir, "summary.md"), 0o755)
	if _, err := Write(dir, sample(), nil); err == nil {
		t.Fatal("an unwritable file did not fail Write")
	}
	if _, err := os.Stat(filepath.Join(dir, "result.json")); err == nil {
		t.Error("result.json written although summary.md was not")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// On a full disk the atomic write removes its temporary file and Write leaves no
// result.json. The disk is a 256 KiB tmpfs in a mount namespace of the test's own (the
// host's mounts are untouched), so it needs root.
func TestWriteFullDisk(t *testing.T) {
	if dir := os.Getenv("PORTLAB_TEST_FULL_DISK"); dir != "" {
		r := richSample(t)
		big := strings.Repeat("x", 512<<10)
		extra := ExtraFiles(r)
		extra["big.txt"] = func(*Result) ([]byte, error) { return []byte(big), nil }
		_, err := Write(dir, r, extra)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Write on a full disk: %v, want ENOSPC", err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() == "result.json" || strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("left on the full disk: %s", e.Name())
			}
		}
		if err := CheckDir(dir); !errors.Is(err, ErrOutDir) {
			t.Errorf("CheckDir on a full disk: %v, want ErrOutDir", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs in a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1)")
	}
	dir := t.TempDir()
	script := fmt.Sprintf("mount -t tmpfs -o size=256k portlab-test %s && PORTLAB_TEST_FULL_DISK=%s %s -test.run '^TestWriteFullDisk$' -test.v", dir, dir, os.Args[0])
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWriteFullDisk") {
		t.Fatalf("in a mount namespace with a full disk: %v\n%s", err, out)
	}
}

func TestPrepareDirClearsOwnFiles(t *testing.T) {
	dir := t.TempDir()
	own := []string{"result.json", "summary.md", "junit.xml", "report.html", "latency.hlog", "debug.log",
		"latency.policy.http.80.hgrm", "fallback_delay.stale.hgrm", ".result.json.tmp-123"}
	theirs := []string{"notes.txt", "mine.hgrm", "latency.hlog.bak", ".hidden"}
	for _, n := range append(slices.Clone(own), theirs...) {
		os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644)
	}
	if err := PrepareDir(dir); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	want := slices.Clone(theirs)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}

	file := filepath.Join(dir, "notes.txt")
	if err := PrepareDir(file); !errors.Is(err, ErrOutDir) {
		t.Errorf("a file as the directory: %v", err)
	}
	if err := PrepareDir(filepath.Join(file, "sub")); !errors.Is(err, ErrOutDir) {
		t.Errorf("under a file: %v", err)
	}
	if err := PrepareDir(filepath.Join(dir, strings.Repeat("n", 300))); !errors.Is(err, ErrOutDir) || !strings.Contains(err.Error(), "file name too long") {
		t.Errorf("a 300-character name: %v", err)
	}
}

// Ten runs started in the same second got three directories: now each gets its own,
// and its name ends in its run ID.
func TestNewRunDirDistinct(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "portlab-results")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	// IDs that collide on purpose: NewRunDir must try again.
	ids := []string{"aaaa0001", "aaaa0001", "aaaa0002", "aaaa0002", "aaaa0002"}
	n := 0
	newID := func() string {
		n++
		if n <= len(ids) {
			return ids[n-1]
		}
		return fmt.Sprintf("%08x", n)
	}
	for range 10 {
		dir, id, err := NewRunDir(parent, "port-change", now, newID)
		if err != nil {
			t.Fatal(err)
		}
		if seen[dir] {
			t.Fatalf("directory %s handed out twice", dir)
		}
		seen[dir] = true
		if want := "port-change-20261124T120000Z-" + id; filepath.Base(dir) != want {
			t.Errorf("directory %s, want %s", dir, want)
		}
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 10 {
		t.Errorf("%d directories, want 10", len(ents))
	}
}

func TestHgrmNameFits(t *testing.T) {
	short := "latency.policy.http.80"
	if HgrmName(short) != short+".hgrm" {
		t.Errorf("short tag renamed: %s", HgrmName(short))
	}
	a := "fallback_delay." + strings.Repeat("g", 300)
	b := "fallback_delay." + strings.Repeat("g", 299) + "h"
	na, nb := HgrmName(a), HgrmName(b)
	if len(na) > maxFileName || !strings.HasSuffix(na, ".hgrm") || !strings.HasPrefix(na, "fallback_delay.ggg") || na == nb {
		t.Errorf("long tags: %q (%d), %q", na, len(na), nb)
	}
	// A result with such a group writes every file (a 300-character group name failed the
	// run at the end with ENAMETOOLONG, after result.json said passed).
	r := richSample(t)
	for i := range r.Hists {
		r.Hists[i].Tags.Group = strings.Repeat("g", 300)
	}
	if _, err := Write(t.TempDir(), r, ExtraFiles(r)); err != nil {
		t.Errorf("a result with a 300-character group: %v", err)
	}
}

func TestSplitAndParseThresholds(t *testing.T) {
	arg := "latency_p99{operation=policy,transport=http}=5%,mp_rss=20%, p99 = 5ms"
	parts := SplitThresholds(arg)
	if len(parts) != 3 {
		t.Fatalf("split %q: %q", arg, parts)
	}
	want := []struct {
		name string
		t    Threshold
	}{
		{"latency_p99{operation=policy,transport=http}", Threshold{5, true}},
		{"mp_rss", Threshold{20, true}},
		{"p99", Threshold{Value: 0.005}},
	}
	for i, p := range parts {
		name, th, err := ParseThreshold(p)
		if err != nil || name != want[i].name || th != want[i].t {
			t.Errorf("ParseThreshold(%q) = %q %+v %v, want %q %+v", p, name, th, err, want[i].name, want[i].t)
		}
	}
	for _, bad := range []string{"latency_p99{operation=policy=5%", "latency_p99}=5%", "a{b}c=5%", "x{a}{b}=1", "=5%", "p99=", "p99=NaN", "p99=-1", "p99=Inf%"} {
		if _, _, err := ParseThreshold(bad); err == nil {
			t.Errorf("ParseThreshold(%q) accepted", bad)
		}
	}
	// The documented example compares: its name matches the metric of that key exactly.
	base, head := sample(), sample()
	head.Requests[0].Latency.P99 *= 1.08
	th := Thresholds{}
	name, t1, _ := ParseThreshold("latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}=5%")
	th[name] = t1
	c, err := Compare(base, head, th, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Regressions()) != 1 || len(c.UnusedLimits) != 0 {
		t.Errorf("labelled threshold: regressions %v, unused %v", c.Regressions(), c.UnusedLimits)
	}
}

// A head that ran nothing, or did not finish, fails the comparison whatever its
// metrics: "187 metrics only in the base" used to pass.
func TestCompareFailsBrokenHeads(t *testing.T) {
	empty := sample()
	empty.Requests, empty.Push, empty.Cost, empty.Groups = nil, nil, nil, nil
	for name, head := range map[string]*Result{
		"no metrics":  empty,
		"error":       withStatus(sample(), StatusError),
		"interrupted": withStatus(sample(), StatusInterrupted),
		"bogus":       withStatus(sample(), "\x1b[31mpassed"),
	} {
		c, err := Compare(sample(), head, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Failed() || len(c.Failures) == 0 || !strings.Contains(string(c.Text()), "FAILED") {
			t.Errorf("%s: not failed: %v\n%s", name, c.Failures, c.Text())
		}
	}
	c, _ := Compare(withStatus(sample(), StatusInterrupted), sample(), nil, false)
	if c.Failed() {
		t.Errorf("an interrupted base failed the head: %v", c.Failures)
	}
}

func withStatus(r *Result, s string) *Result {
	r.Status, r.Error = s, "an agent died"
	return r
}

// A histogram whose header asks for a huge geometry is refused before it is allocated
// (hdrhistogram.Decode would take 27 MiB for 1000..2^50 at 5 digits, from 100 bytes).
func TestHistogramGeometryBounded(t *testing.T) {
	for _, g := range []struct {
		lo, hi int64
		sig    int
		ok     bool
	}{{1, 3_600_000_000, 2, true}, {1, 1 << 40, 3, true}, {1000, 1 << 50, 5, false}, {1, math.MaxInt64 / 2, 5, false}} {
		h := hdrhistogram.New(g.lo, g.hi, g.sig)
		e, err := EncodeHist(KindLatency, HistTags{}, h)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.countsBytes()
		if (err == nil) != g.ok {
			t.Errorf("%+v: %v", g, err)
		}
		if err == nil && b != int64(len(h.Export().Counts))*8 {
			t.Errorf("%+v: %d bytes, the library holds %d counts", g, b, len(h.Export().Counts))
		}
		if _, err := e.Histogram(); (err == nil) != g.ok || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("%+v: Histogram: %v", g, err)
		}
	}
	// A forged header: valid zlib, absurd geometry.
	var hdr [40]byte
	binary.BigEndian.PutUint32(hdr[0:4], 0x1c849303)
	binary.BigEndian.PutUint32(hdr[12:16], 5)
	binary.BigEndian.PutUint64(hdr[16:24], 1)
	binary.BigEndian.PutUint64(hdr[24:32], math.MaxInt64)
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(hdr[:])
	w.Close()
	raw := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x1c849304), uint32(z.Len()))
	raw = append(raw, z.Bytes()...)
	r := sample()
	r.Hists = []EncodedHist{{Kind: KindLatency, Data: base64.StdEncoding.EncodeToString(raw)}}
	if _, err := Hlog(r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("forged geometry: %v", err)
	}
}
