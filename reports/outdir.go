package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrOutDir is matched (errors.Is) when a results directory cannot take a run's
// results: it cannot be created, is a file, is read-only or full. For `portlab run` this
// is bad input, found before anything is built.
var ErrOutDir = errors.New("results directory unusable")

// Probe sizes: a run's files are a few MiB (report.html carries its charts), so a
// directory that cannot take probeBytes, or has less than minFreeBytes free, would fail
// at the end of the run, after all the work.
const (
	probeBytes   = 1 << 20
	minFreeBytes = 16 << 20
)

// PrepareDir makes dir ready for a run's results, before the run: CheckDir, then it
// removes portlab's own files left there by an earlier run (OwnFile), result.json
// first, so a reused directory never mixes two runs' files. Other files are left alone.
func PrepareDir(dir string) error {
	if err := CheckDir(dir); err != nil {
		return err
	}
	return clearOwn(dir)
}

// CheckDir creates dir (and its parents) and checks that it is a directory where a file
// can be created and written (a probe of probeBytes, synced, then removed) with
// minFreeBytes free: a read-only, full or mistyped directory is found before a run, not
// after it.
func CheckDir(dir string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrOutDir, dir, fmt.Sprintf(format, a...))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("cannot create it: %v", unwrapPath(err))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fail("%v", unwrapPath(err))
	}
	if !st.IsDir() {
		return fail("not a directory")
	}
	f, err := os.CreateTemp(dir, ".portlab-probe-*")
	if err != nil {
		return fail("cannot create a file in it: %v", unwrapPath(err))
	}
	_, werr := f.Write(make([]byte, probeBytes))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	os.Remove(f.Name())
	if err := errors.Join(werr, cerr); err != nil {
		return fail("cannot write %d KiB to it: %v", probeBytes>>10, unwrapPath(err))
	}
	var fsst syscall.Statfs_t
	if err := syscall.Statfs(dir, &fsst); err == nil {
		if free := int64(fsst.Bavail) * int64(fsst.Bsize); free < minFreeBytes {
			return fail("only %d KiB free; a run's results take a few MiB", free>>10)
		}
	}
	return nil
}

// clearOwn removes portlab's files from dir, result.json first.
func clearOwn(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrOutDir, dir, unwrapPath(err))
	}
	var own []string
	for _, e := range ents {
		if e.Type().IsRegular() && OwnFile(e.Name()) {
			own = append(own, e.Name())
		}
	}
	first := func(n string) bool { return n == "result.json" }
	for _, pass := range []bool{true, false} {
		for _, n := range own {
			if first(n) != pass {
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %s: remove the earlier run's %s: %v", ErrOutDir, dir, n, unwrapPath(err))
			}
		}
	}
	return nil
}

// ownFiles are the fixed names a run writes into its results directory.
var ownFiles = map[string]bool{
	"result.json": true, "summary.md": true, "junit.xml": true, "report.html": true,
	"latency.hlog": true, "debug.log": true,
}

// OwnFile reports whether name is one portlab writes into a results directory: the
// fixed files, the .hgrm of a histogram series (KIND.….hgrm, KIND a histogram kind), or
// the temporary file WriteFileAtomic left behind when a run was killed mid-write.
func OwnFile(name string) bool {
	if base, ok := strings.CutPrefix(name, "."); ok {
		if i := strings.Index(base, ".tmp-"); i > 0 {
			return OwnFile(base[:i])
		}
		return false
	}
	if ownFiles[name] {
		return true
	}
	if tag, ok := strings.CutSuffix(name, ".hgrm"); ok {
		kind, _, _ := strings.Cut(tag, ".")
		switch kind {
		case KindLatency, KindServiceTime, KindFallbackDelay, KindPushLatency, KindTimeToManaged, KindFollowTime:
			return true
		}
	}
	return false
}

// DefaultDir is where results go without --out.
const DefaultDir = "portlab-results"

// NewRunDir creates a new results directory for a run of scenario under parent,
// named <scenario>-<UTC time to the second>-<run ID>, and returns it with the run ID.
// The directory is created exclusively (os.Mkdir, not MkdirAll): when the name exists
// already it tries again with a new ID from newID, so runs started in the same second
// never share a directory, and the ID in the name is the run's own. parent is created
// if needed.
func NewRunDir(parent, scenario string, now time.Time, newID func() string) (dir, id string, err error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", fmt.Errorf("%w: %s: %v", ErrOutDir, parent, unwrapPath(err))
	}
	stamp := now.UTC().Format("20060102T150405Z")
	for range 20 {
		id = newID()
		dir = filepath.Join(parent, scenario+"-"+stamp+"-"+id)
		err = os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, id, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", "", fmt.Errorf("%w: %s: %v", ErrOutDir, dir, unwrapPath(err))
		}
	}
	return "", "", fmt.Errorf("%w: %s: every name tried exists already", ErrOutDir, parent)
}

// unwrapPath drops the path an *fs.PathError repeats, for messages that name it already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
