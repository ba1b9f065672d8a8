// Package agent is the line protocol between the orchestrator (`portlab run`) and its
// agents (`portlab agent mp|fleet|site`), which run as separate processes inside
// network namespaces, and Serve, the one loop every agent runs.
//
// The orchestrator writes one JSON Command per line to the agent's stdin; the agent
// writes one JSON Message per line to its stdout. Stderr is free-form log text. The first
// command is always "config" (the agent's configuration as Args); the agent answers
// "ready" when it is serving, or "error" and exits. Every later command is answered by
// "ack" or "error" with the command's ID. Every second the agent sends a "snapshot";
// when it ends, a last "snapshot" and then "final". An agent exits when its stdin closes,
// so an orchestrator that dies takes its agents with it.
//
//	orchestrator                       agent (Serve)
//	  config {…} ─────────────────────►  Configure
//	            ◄───────────────────── ready {…}
//	  push {…}   ─────────────────────►  Handle
//	            ◄───────────────────── ack {…} / error
//	            ◄───────────────────── snapshot {…}   every second
//	  (stdin closed, "stop", or done) ─►  Stop, Snapshot, Final
//	            ◄───────────────────── snapshot, final
//
// Payload types belong to each agent's package; this package frames them and runs the
// loop. It is not an RPC framework: one orchestrator, one agent, one pipe each way.
package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// MaxLine bounds one protocol line (histograms travel base64-encoded inside snapshots).
const MaxLine = 64 << 20

// Command is one instruction to an agent.
type Command struct {
	Cmd  string          `json:"cmd"`
	ID   uint64          `json:"id,omitempty"` // echoed by the reply (ack or error)
	Args json.RawMessage `json:"args,omitempty"`
}

// Message types an agent sends.
const (
	TypeReady    = "ready"    // configured and serving; Data is agent-specific
	TypeAck      = "ack"      // command ID done; Data optional
	TypeError    = "error"    // command ID (or 0: the agent itself) failed; Error says why
	TypeSnapshot = "snapshot" // periodic metrics (about once a second)
	TypeFinal    = "final"    // last metrics, sent before a clean exit
	TypeEvent    = "event"    // something happened (client woke, MP stopped...)
)

// Message is one line from an agent.
type Message struct {
	Type  string          `json:"type"`
	ID    uint64          `json:"id,omitempty"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
}

// Writer writes JSON lines; safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

// Write encodes v as one line.
func (w *Writer) Write(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(v)
}

// Send writes a Message with data marshalled into Data.
func (w *Writer) Send(typ string, id uint64, data any) error {
	m := Message{Type: typ, ID: id, Time: time.Now()}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("agent: marshal %s: %w", typ, err)
		}
		m.Data = b
	}
	return w.Write(m)
}

// SendError writes an error Message for command id.
func (w *Writer) SendError(id uint64, err error) error {
	return w.Write(Message{Type: TypeError, ID: id, Time: time.Now(), Error: err.Error()})
}

// Reader reads JSON lines.
type Reader struct{ sc *bufio.Scanner }

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	return &Reader{sc: sc}
}

// Next decodes the next line into v; io.EOF at the end.
func (r *Reader) Next(v any) error {
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if err := json.Unmarshal(line, v); err != nil {
			// encoding/json quotes a bad value whole: clip its message as the line is.
			return fmt.Errorf("agent: bad line %.80q: %w", line, clippedError{err})
		}
		return nil
	}
	if err := r.sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

// clippedError keeps an error's chain (errors.As finds a *json.SyntaxError) but bounds
// its message, which may quote a whole line of hostile input.
type clippedError struct{ err error }

func (e clippedError) Error() string {
	if m := e.err.Error(); len(m) > 200 {
		return m[:200] + "…"
	}
	return e.err.Error()
}

func (e clippedError) Unwrap() error { return e.err }

// Commands reads commands from in on a goroutine of its own and hands them over one by
// one. When in ends (EOF: the orchestrator closed the pipe or died) or fails, or ctx
// ends, the channel closes and err (buffered) receives the reason, io.EOF included.
func Commands(ctx context.Context, in io.Reader) (cmds <-chan Command, err <-chan error) {
	c := make(chan Command)
	e := make(chan error, 1)
	go func() {
		defer close(c)
		r := NewReader(in)
		for {
			var cmd Command
			if err := r.Next(&cmd); err != nil {
				e <- err
				return
			}
			select {
			case c <- cmd:
			case <-ctx.Done():
				e <- ctx.Err()
				return
			}
		}
	}()
	return c, e
}
