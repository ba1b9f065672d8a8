// Package reports holds the result model (versioned JSON) and its renderings.
package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// WriteFileAtomic writes data to path so that a reader (or a crash) never sees a
// partial file: to a temporary file beside path, synced and renamed into place. Only a
// regular file, or a path that does not exist yet, is replaced so. Anything else is
// written in place, as a shell's `>` would: a character device (/dev/null, a terminal),
// a FIFO or pipe (/dev/stdout in a pipeline; refused at once when no process reads it,
// rather than waiting), and a symbolic link, written through to what it points at (a
// rename would replace the link itself, and /dev/stdout is one). Renaming a regular
// file over a device node is what `portlab report -o /dev/null` did as root. Block
// devices and directories are refused. On any error the temporary file is removed.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case st.Mode().IsDir():
		return fmt.Errorf("%s: is a directory", path)
	case !st.Mode().IsRegular():
		return writeInPlace(path, data)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeInPlace writes data to an existing file that is not a regular one.
func writeInPlace(path string, data []byte) error {
	st, err := os.Stat(path) // through a symbolic link
	if err == nil {
		switch m := st.Mode(); {
		case m.IsDir():
			return fmt.Errorf("%s: is a directory", path)
		case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
			return fmt.Errorf("%s: is a block device; portlab writes no report there", path)
		}
	}
	// O_NONBLOCK: opening a FIFO nobody reads fails (ENXIO) instead of blocking for
	// ever; the writes themselves still wait for the reader (a FIFO is pollable).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return fmt.Errorf("%s: a FIFO that no process reads", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MaxResultSize bounds what Read reads. A 30-second run's result.json is 50 to 80 KiB;
// an hour-long one with hundreds of request keys is a few MiB (histograms in base64,
// one series point per second, cost samples per process).
const MaxResultSize = 32 << 20

// StreamTimeout bounds how long Read waits for a FIFO, a pipe or a character device.
const StreamTimeout = 10 * time.Second

// ErrNotReadable is matched (errors.Is) by readFile's refusals: a directory, a block
// device, too much data, a stream that stalls.
var ErrNotReadable = errors.New("cannot be read as a result file")

// readFile reads a whole input file of at most limit bytes: a regular file through the
// limit (stat's size is not trusted: it is 0 for /dev/zero), a FIFO, pipe or character
// device through the limit within StreamTimeout (opened without blocking, so a FIFO
// with no writer ends at once). Directories and block devices are refused.
//
// It is scenarios.ReadFile again: the dependency rule keeps the two packages apart.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mode := st.Mode()
	switch {
	case mode.IsDir():
		return nil, fmt.Errorf("%s: %w: it is a directory", path, ErrNotReadable)
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0:
		return nil, fmt.Errorf("%s: %w: it is a block device", path, ErrNotReadable)
	}
	stream := !mode.IsRegular()
	var b []byte
	var tooBig bool
	if stream {
		b, tooBig, err = readStream(f, limit)
	} else {
		b, tooBig, err = readUpTo(f, limit)
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("%s: %w: no end of data within %v (a FIFO or device that stalls)", path, ErrNotReadable, StreamTimeout)
	case errors.Is(err, syscall.EAGAIN):
		return nil, fmt.Errorf("%s: %w: it gives no data (%v)", path, ErrNotReadable, err)
	case err != nil:
		return nil, err
	case tooBig:
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrNotReadable, limit)
	case stream && len(b) == 0 && mode&os.ModeNamedPipe != 0:
		return nil, fmt.Errorf("%s: %w: a FIFO with nothing written to it (no writer)", path, ErrNotReadable)
	}
	return b, nil
}

// readStream reads at most limit bytes within StreamTimeout: pollable files honour a read
// deadline; for a device that does not, the read is abandoned, still blocked, on its own
// goroutine when the time is up (the command ends soon after).
func readStream(f *os.File, limit int64) ([]byte, bool, error) {
	_ = f.SetReadDeadline(time.Now().Add(StreamTimeout))
	type result struct {
		b      []byte
		tooBig bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		b, tooBig, err := readUpTo(f, limit)
		done <- result{b, tooBig, err}
	}()
	t := time.NewTimer(StreamTimeout + time.Second)
	defer t.Stop()
	select {
	case r := <-done:
		return r.b, r.tooBig, r.err
	case <-t.C:
		return nil, false, os.ErrDeadlineExceeded
	}
}

// readUpTo reads r to its end, or until more than limit bytes have come: then tooBig,
// and none of the data. It reads in chunks (64 KiB, doubling up to 4 MiB) joined once
// at the end, so a source that never ends (/dev/zero) costs about limit bytes, not the
// multiples a growing buffer would.
func readUpTo(r io.Reader, limit int64) (b []byte, tooBig bool, err error) {
	var chunks [][]byte
	var total int64
	for size := 64 << 10; ; size = min(2*size, 4<<20) {
		c := make([]byte, size)
		n, err := io.ReadFull(r, c)
		if total += int64(n); total > limit {
			return nil, true, nil
		}
		chunks = append(chunks, c[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], false, nil
	}
	return bytes.Join(chunks, nil), false, nil
}
