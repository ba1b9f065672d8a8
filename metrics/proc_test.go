package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS == 0 || s.RSSPeak < s.RSS {
		t.Fatalf("implausible memory: %+v", s)
	}
}

func TestReadProcParsesTrickyNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "42")
	os.MkdirAll(dir, 0o755)
	// A command name with spaces and a ')' must not shift the fields.
	stat := "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 10"
	os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644)
	os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n"), 0o644)
	s, err := ReadProc(root, 42)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUUser != 2.5 || s.CPUSystem != 0.75 || s.RSS != 1<<20 || s.RSSPeak != 2<<20 || s.Threads != 7 {
		t.Fatalf("got %+v", s)
	}
	if _, err := ReadProc(root, 43); err == nil {
		t.Fatal("missing process read without error")
	}
}
