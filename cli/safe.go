package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// terminalSafe escapes every character of s a terminal would act on (escape sequences,
// carriage returns, bells, bidirectional overrides: see scenarios.Printable) but line
// breaks and tabs, so text that quotes user input (file names, names and statuses read
// from a result.json) cannot rewrite the screen. portlab's own multi-line messages keep
// their lines.
func terminalSafe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && scenarios.Printable(string(r)) != string(r) }) {
		return s
	}
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		for j, part := range strings.Split(line, "\t") {
			if j > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(scenarios.Printable(part))
		}
	}
	return b.String()
}

// errorsOK is a writer whose write errors are dropped: the console of a run writes
// through it, so a closed stderr (the reader of a pipe gone) can neither fail nor stop
// the run; the results are written to files either way.
type errorsOK struct{ w io.Writer }

func (e errorsOK) Write(p []byte) (int, error) {
	e.w.Write(p)
	return len(p), nil
}

// isFile reports whether path is (or, through a symbolic link, leads to) a regular file:
// what `init -o` refuses to overwrite without --force. Devices and FIFOs (/dev/null,
// /dev/stdout in a pipe) are written to, not replaced, so they are not "existing files".
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// writeOutput writes a command's -o file (reports.WriteFileAtomic) and picks the exit
// code of a failure: 2 when the path is wrong (a directory, no permission, a FIFO no
// one reads, a block device), 5 when the machine failed (no space, an I/O error).
func writeOutput(path string, data []byte) error {
	err := reports.WriteFileAtomic(path, data, 0o644)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EIO), errors.Is(err, syscall.EDQUOT):
		return WithCode(ExitRunFailed, fmt.Errorf("write %s: %w", path, err))
	}
	return WithCode(ExitInvalid, fmt.Errorf("write %s: %w", path, err))
}
