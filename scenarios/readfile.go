package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// StreamTimeout bounds how long ReadFile waits for a FIFO, a pipe or a character device
// (such as /dev/stdin) to deliver its text.
const StreamTimeout = 10 * time.Second

// ErrNotReadable is matched (errors.Is) by ReadFile's refusals: a directory, a block
// device, too much data, a stream that stalls.
var ErrNotReadable = errors.New("cannot be read as a scenario file")

// ReadFile reads a whole input file of at most limit bytes. A regular file is read
// through the limit (its size as stat reports it is not trusted). A FIFO, a pipe or a
// character device (/dev/stdin, /dev/zero) is read through the same limit within
// StreamTimeout: /dev/zero stops at the limit, a writer that stalls times out, and a
// FIFO is opened without waiting for a writer, so one without a writer at that moment
// is refused at once (a shell's pipe, /dev/stdin or <(...), has its writer already).
// Directories and block devices are refused. Errors name the path and say why.
//
// reports.readFile is the same function: the dependency rule keeps the two packages
// apart.
func ReadFile(path string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
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
	if !stream {
		b, tooBig, err = readUpTo(f, limit)
	} else {
		b, tooBig, err = readStream(f, limit)
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("%s: %w: no end of data within %v (a FIFO or device that stalls)", path, ErrNotReadable, StreamTimeout)
	case errors.Is(err, syscall.EAGAIN):
		return nil, fmt.Errorf("%s: %w: it gives no data (%v)", path, ErrNotReadable, err)
	case err != nil:
		return nil, err
	case tooBig:
		what := "file"
		if stream {
			what = "stream"
		}
		return nil, fmt.Errorf("%s: %w: the %s holds more than %d bytes", path, ErrNotReadable, what, limit)
	case stream && len(b) == 0 && mode&os.ModeNamedPipe != 0:
		return nil, fmt.Errorf("%s: %w: a FIFO with nothing written to it (no writer)", path, ErrNotReadable)
	}
	return b, nil
}

// readStream reads at most limit bytes of a FIFO, pipe or character device within
// StreamTimeout. Pollable files (pipes, FIFOs, terminals) honour a read deadline; for a
// device that does not, the read runs on a goroutine of its own that is abandoned, still
// blocked, when the time is up (the command ends soon after).
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
