package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports (the kernel exports it as a fixed ABI value).
const clockTicks = 100

// ProcSample is one reading of a process's cost.
type ProcSample struct {
	CPUUser   float64 // seconds
	CPUSystem float64 // seconds
	RSS       uint64  // bytes, current
	RSSPeak   uint64  // bytes, VmHWM
	Threads   int
}

// ReadProc reads CPU and memory of pid from /proc (root is "/proc" normally). The
// orchestrator reads its agents with it, and the MP agent reads itself: one reader, so
// both see the same figures.
func ReadProc(root string, pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may contain spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': field 3 is f[0]; utime is field 14 -> f[11], stime field 15 -> f[12].
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	s.CPUUser = float64(ut) / clockTicks
	s.CPUSystem = float64(st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", root, pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.RSS = parseKB(v)
		case "VmHWM":
			s.RSSPeak = parseKB(v)
		case "Threads":
			s.Threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return s, nil
}

func parseKB(v string) uint64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(f[0], 10, 64)
	return n * 1024
}
