package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/netsim"
)

// errAgentGone: the agent's stdout ended (it exited or crashed).
var errAgentGone = errors.New("agent exited")

// agentConn speaks the agent protocol with one agent process: numbered calls answered by ack or
// error, and a stream of snapshots, events and the final message handed to onMsg.
type agentConn struct {
	role, name string
	proc       *netsim.Agent
	w          *agent.Writer
	next       atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan agent.Message
	final   *agent.Message
	gone    bool

	done chan struct{} // closed when stdout ends
}

func newAgentConn(role, name string, proc *netsim.Agent, onMsg func(agent.Message)) *agentConn {
	c := &agentConn{role: role, name: name, proc: proc, w: agent.NewWriter(proc.Stdin),
		pending: map[uint64]chan agent.Message{}, done: make(chan struct{})}
	go c.read(onMsg)
	return c
}

func (c *agentConn) String() string { return c.role + " " + c.name }

func (c *agentConn) read(onMsg func(agent.Message)) {
	defer close(c.done)
	r := agent.NewReader(c.proc.Stdout)
	for {
		var m agent.Message
		if err := r.Next(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				onMsg(agent.Message{Type: agent.TypeError, Error: "protocol: " + err.Error()})
				// Keep the pipe flowing so the agent never blocks writing, and can exit.
				go io.Copy(io.Discard, c.proc.Stdout)
			}
			break
		}
		if m.ID != 0 && (m.Type == agent.TypeAck || m.Type == agent.TypeError || m.Type == agent.TypeReady || m.Type == agent.TypeSnapshot) {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
				continue
			}
		}
		if m.Type == agent.TypeFinal {
			c.mu.Lock()
			mm := m
			c.final = &mm
			c.mu.Unlock()
		}
		onMsg(m)
	}
	c.mu.Lock()
	c.gone = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// call sends cmd and waits for its answer (ready, ack or snapshot) within timeout.
func (c *agentConn) call(ctx context.Context, cmd string, args any, timeout time.Duration) (agent.Message, error) {
	id := c.next.Add(1)
	ch := make(chan agent.Message, 1)
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return agent.Message{}, fmt.Errorf("%s: %s: %w", c, cmd, errAgentGone)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	raw, err := json.Marshal(args)
	if err != nil {
		forget()
		return agent.Message{}, fmt.Errorf("%s: %s: %w", c, cmd, err)
	}
	if err := c.w.Write(agent.Command{Cmd: cmd, ID: id, Args: raw}); err != nil {
		forget()
		return agent.Message{}, fmt.Errorf("%s: send %s: %w", c, cmd, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			return m, fmt.Errorf("%s: %s: %w%s", c, cmd, errAgentGone, c.stderrTail())
		}
		if m.Type == agent.TypeError {
			return m, fmt.Errorf("%s: %s: %s", c, cmd, m.Error)
		}
		return m, nil
	case <-t.C:
		forget()
		return agent.Message{}, fmt.Errorf("%s: %s: no answer within %s%s", c, cmd, timeout, c.stderrTail())
	case <-ctx.Done():
		forget()
		return agent.Message{}, ctx.Err()
	}
}

// send writes a command without waiting for an answer.
func (c *agentConn) send(cmd string, args any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	return c.w.Write(agent.Command{Cmd: cmd, ID: c.next.Add(1), Args: raw})
}

// finish closes the agent's stdin (it then sends "final" and exits) and waits up to
// timeout for it to go; then kills it. It returns the final message, if any came.
func (c *agentConn) finish(timeout time.Duration) *agent.Message {
	c.proc.Stdin.Close()
	deadline := time.After(timeout)
	select {
	case <-c.done:
	case <-deadline:
		c.proc.Kill()
		<-c.done
	}
	// Its output may have ended (or failed) before the process did: wait for the exit
	// too, within what is left of the timeout.
	exited := make(chan struct{})
	go func() { c.proc.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-deadline:
		c.proc.Kill()
		<-exited
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

// exited reports whether the agent's output has ended.
func (c *agentConn) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *agentConn) stderrTail() string {
	s := c.proc.Stderr()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	if s == "" {
		return ""
	}
	return "; its log ends:\n" + s
}
