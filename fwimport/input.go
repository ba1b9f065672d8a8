package fwimport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxInputSize bounds every file the importer reads (a ruleset, an iptables-save dump, a
// map file, a scenario): a real edge firewall's listing is kilobytes to a few megabytes,
// and a wrong path to something huge fails fast instead of filling memory.
const MaxInputSize = 8 << 20

// ErrInput marks input the importer cannot read at all: a missing, unreadable, oversized
// or non-regular file, JSON that is not an `nft -j list ruleset` listing, a line that is
// not iptables-save syntax, a chain that does not exist, a bad --map. The CLI exits 2.
var ErrInput = errors.New("invalid input")

// ReadInput reads path through the MaxInputSize limit. Only regular files are read (a
// directory, device or FIFO is refused by name), except "-", which reads standard input
// (through the same limit) so a listing can be piped in: `nft -j list ruleset | portlab
// import nft -`.
func ReadInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		if stdin == nil {
			return nil, fmt.Errorf("%w: -: no standard input", ErrInput)
		}
		return readLimited("standard input", stdin)
	}
	// O_NONBLOCK: opening a FIFO must not hang waiting for a writer before the type
	// check below can refuse it. It changes nothing for regular files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: not a regular file (%s)", ErrInput, path, fileKind(st.Mode()))
	}
	if st.Size() > MaxInputSize {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d MiB limit", ErrInput, path, st.Size(), MaxInputSize>>20)
	}
	return readLimited(path, f)
}

func readLimited(name string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrInput, name, err)
	}
	if len(b) > MaxInputSize {
		return nil, fmt.Errorf("%w: %s: more than the %d MiB limit", ErrInput, name, MaxInputSize>>20)
	}
	return b, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
