package netsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Command describes a process to start in a namespace with StartCommand.
type Command struct {
	// Path of the binary; empty: /proc/self/exe (portlab itself, for `portlab agent ...`).
	Path string
	// Arguments after argv[0].
	Args []string
	// Extra environment (KEY=value), appended to the orchestrator's.
	Env []string
	// Grace is how long the process may take to exit after its stdin is closed when
	// the context ends, before it is killed (default 5s).
	Grace time.Duration
	// Stderr, when set, receives a copy of everything the process writes to its
	// standard error (a debug log); the last 64 KiB are kept either way.
	Stderr io.Writer
}

// stderrLimit bounds what an agent's stderr keeps: its last this-many bytes.
const stderrLimit = 64 << 10

// Agent is a process running inside a node's namespace. It reads commands from Stdin
// and writes JSON lines to Stdout; by contract it exits when Stdin closes.
type Agent struct {
	// Stdin is the agent's standard input. Closing it asks the agent to finish.
	Stdin io.WriteCloser
	// Stdout is the agent's standard output; read it to EOF, then call Wait.
	Stdout io.ReadCloser

	node   string
	cmd    *exec.Cmd
	stderr *tailBuffer
	topo   *Topology

	waitOnce sync.Once
	waitErr  error
	done     chan struct{}
}

// Start runs portlab itself (/proc/self/exe) with args inside node's namespace; see
// StartCommand.
func (t *Topology) Start(ctx context.Context, node string, args []string) (*Agent, error) {
	return t.StartCommand(ctx, node, Command{Args: args})
}

// StartCommand starts a process inside node's namespace with pipes on stdin and stdout
// and stderr captured (Agent.Stderr). The process is forked from an OS thread that has
// entered the namespace, so it starts there with no helper in between.
//
// Lifetime: when ctx ends, the agent's stdin is closed and, Command.Grace later, the
// process is killed. Pdeathsig (SIGKILL) is set as well, but it fires when the forking
// *thread* exits, so the guarantee that an agent dies with the orchestrator is the
// stdin contract: a dead orchestrator's pipe closes. Topology.Close kills agents still
// running.
func (t *Topology) StartCommand(ctx context.Context, node string, c Command) (*Agent, error) {
	h, err := t.NS(node)
	if err != nil {
		return nil, err
	}
	path := c.Path
	if path == "" {
		path = "/proc/self/exe"
	}
	grace := c.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("agent %s: stdin pipe: %w", node, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("agent %s: stdout pipe: %w", node, err)
	}
	cmd := exec.CommandContext(ctx, path, c.Args...)
	cmd.Args[0] = "portlab-agent"
	if c.Path != "" {
		cmd.Args[0] = c.Path
	}
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin, cmd.Stdout = inR, outW
	a := &Agent{Stdin: inW, Stdout: outR, node: node, cmd: cmd, stderr: &tailBuffer{max: stderrLimit}, topo: t, done: make(chan struct{})}
	cmd.Stderr = a.stderr
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(a.stderr, c.Stderr)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { inW.Close(); return nil }
	cmd.WaitDelay = grace

	err = startIn(h, cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("agent %s: start %s: %w", node, path, err)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		a.Kill()
		a.Wait()
		return nil, ErrClosed
	}
	t.agents[a] = struct{}{}
	t.mu.Unlock()
	return a, nil
}

// startIn forks cmd from a thread inside ns. The thread must outlive the child's early
// life for Pdeathsig not to fire: it is unlocked (and kept) when switching back works.
func startIn(ns netns.NsHandle, cmd *exec.Cmd) error {
	return inNS(ns, cmd.Start)
}

// Node is the namespace the agent runs in.
func (a *Agent) Node() string { return a.node }

// Pid is the agent's process ID (for /proc/<pid>/stat sampling).
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// Stderr returns the last 64 KiB the agent wrote to its standard error.
func (a *Agent) Stderr() string { return a.stderr.String() }

// Wait waits for the agent to exit and returns its exit error. It may be called more
// than once and from several goroutines.
func (a *Agent) Wait() error {
	a.waitOnce.Do(func() {
		a.waitErr = a.cmd.Wait()
		a.Stdin.Close()
		close(a.done)
		a.topo.mu.Lock()
		delete(a.topo.agents, a)
		a.topo.mu.Unlock()
	})
	<-a.done
	return a.waitErr
}

// Kill sends SIGKILL to the agent. Call Wait afterwards to reap it.
func (a *Agent) Kill() error {
	select {
	case <-a.done:
		return nil
	default:
	}
	if err := a.cmd.Process.Kill(); err != nil && err != os.ErrProcessDone {
		return fmt.Errorf("agent %s: kill: %w", a.node, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	if over := b.buf.Len() + len(p) - b.max; over > 0 {
		b.buf.Next(over)
	}
	b.buf.Write(p)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
