package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on every Linux
// architecture Go runs on (the kernel converts to it for user space whatever its HZ).
const userHZ = 100

// cpuTimes are a process's CPU times.
type cpuTimes struct{ User, Sys time.Duration }

// Total is user plus system.
func (c cpuTimes) Total() time.Duration { return c.User + c.Sys }

func (c cpuTimes) sub(d cpuTimes) cpuTimes { return cpuTimes{c.User - d.User, c.Sys - d.Sys} }

// procCPU returns a running process's CPU so far, from /proc/<pid>/stat (10 ms
// resolution). It is how the MP, which runs across every generator's turn, is measured
// window by window.
func procCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpuTimes{}, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may hold spaces or parentheses itself,
// so fields are counted from the last ')'.
func parseStatCPU(b []byte) (cpuTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, errors.New("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks [2]time.Duration
	for j, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return cpuTimes{}, fmt.Errorf("stat: cpu time %q", s)
		}
		ticks[j] = time.Duration(n) * time.Second / userHZ
	}
	return cpuTimes{User: ticks[0], Sys: ticks[1]}, nil
}

// tcpPassiveOpens is the host network namespace's count of accepted TCP connections
// (/proc/net/snmp, Tcp PassiveOpens). Its change over a run, divided by the requests
// made, is the connections per request the MP saw: the check that a generator kept the
// connection pattern. Other processes accepting connections in this namespace at the
// same time add to it, so it is approximate.
func tcpPassiveOpens() (int64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, fmt.Errorf("tcp counters: %w", err)
	}
	return parseSNMP(b, "Tcp", "PassiveOpens")
}

// parseSNMP finds one counter in /proc/net/snmp's pairs of lines ("Tcp: names..." then
// "Tcp: values...").
func parseSNMP(b []byte, proto, name string) (int64, error) {
	lines := strings.Split(string(b), "\n")
	prefix := proto + ":"
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], prefix) || !strings.HasPrefix(lines[i+1], prefix) {
			continue
		}
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j, n := range names {
			if n == name && j < len(values) {
				return strconv.ParseInt(values[j], 10, 64)
			}
		}
		return 0, fmt.Errorf("snmp: %s has no %s", proto, name)
	}
	return 0, fmt.Errorf("snmp: no %s counters", proto)
}

// tool is one generator process run to its end.
type tool struct {
	Stdout []byte
	CPU    cpuTimes // its own (rusage of the waited process)
	Wall   time.Duration
}

// runTool runs name to its end, for at most limit: its output and its own CPU. The
// process gets a process group of its own, so a Ctrl-C at the terminal reaches peers
// alone; peers then interrupts the tool (ctx), which stops and reports as on its own
// Ctrl-C, and kills it if it has not exited 5 s later.
func runTool(ctx context.Context, limit time.Duration, stdin io.Reader, name string, args ...string) (tool, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	errs := &tailBuffer{max: 4 << 10}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, errs
	start := time.Now()
	err := cmd.Run()
	t := tool{Stdout: out.Bytes(), Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		t.CPU = cpuTimes{cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()}
	}
	if err != nil {
		return t, fmt.Errorf("%s: %w%s", name, err, errs.suffix())
	}
	return t, nil
}

// tailBuffer keeps the last max bytes written to it (a tool's stderr, for its errors).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// suffix is ": <last stderr lines>" for an error message, or "".
func (t *tailBuffer) suffix() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	if lines := strings.Split(s, "\n"); len(lines) > 5 {
		s = strings.Join(lines[len(lines)-5:], "\n")
	}
	return ": " + s
}
