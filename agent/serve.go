package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// CmdConfig is the first command every agent takes.
const CmdConfig = "config"

// ErrConfig marks an invalid configuration or a first command that is not "config"
// (the agent exits with "invalid input"). Agents wrap their own validation errors in it.
var ErrConfig = errors.New("invalid agent configuration")

// ErrStop, returned by Agent.Handle, acknowledges the command and ends the agent.
var ErrStop = errors.New("agent: stop requested")

// Agent is one agent's logic; Serve drives it. Serve calls every method from its one
// goroutine, so an Agent needs no lock for what only these methods touch.
type Agent interface {
	// Configure takes the "config" command's Args and readies the agent (listeners
	// open, clients built); its result is the "ready" message's Data. An error wrapping
	// ErrConfig means the configuration itself is wrong.
	Configure(ctx context.Context, env Env, args json.RawMessage) (any, error)
	// Handle runs one later command; its result is the ack's Data. ErrStop acks and
	// ends the agent; any other error is answered "error" and the agent carries on.
	Handle(ctx context.Context, cmd string, args json.RawMessage) (any, error)
	// Snapshot is the periodic report; a nil result sends nothing this time.
	Snapshot() (any, error)
	// Final is the last report, sent once as the agent ends.
	Final() (any, error)
}

// Optional capabilities, found by type assertion.
type (
	// Stopper stops the agent's work before its last snapshot and final (an MP closes
	// its listeners, a fleet stops its clients).
	Stopper interface{ Stop() }
	// Finisher has work that ends by itself (a fleet at the end of its duration): when
	// the channel closes, Serve ends the agent. A nil channel never closes.
	Finisher interface{ Finished() <-chan struct{} }
	// Ticker paces the snapshots itself (a fleet aligns them to its start time); a nil
	// channel sends none. Without it, snapshots go out every second from "ready".
	Ticker interface{ Ticks() <-chan time.Time }
)

// Env is what an agent gets from Serve.
type Env struct {
	// Log writes to the agent's stderr.
	Log *slog.Logger
	// Warn reports a problem the agent found on its own (not the answer to a command)
	// as an "error" message with ID 0; the orchestrator records it. Safe for concurrent use.
	Warn func(error)
}

// ProfileEnv names the file an agent process writes its CPU profile to while it runs
// (`portlab run --profile DIR` sets it for every agent).
const ProfileEnv = "PORTLAB_CPUPROFILE"

// SnapshotEvery is the period of snapshots for agents without their own Ticker.
const SnapshotEvery = time.Second

// Serve runs a over the protocol: it reads commands from in, writes messages to out,
// and returns when in closes (nil), when Handle returns ErrStop (nil), when the agent's
// work finishes (nil), or when ctx ends (ctx's error) — in every case after the last
// snapshot and the final. A failed configuration returns its error (wrapping ErrConfig
// when the configuration was at fault) after answering it.
func Serve(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger, a Agent) error {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w := NewWriter(out)
	cmds, readErr := Commands(ctx, in)
	env := Env{Log: log, Warn: func(err error) { w.SendError(0, err) }}

	var first Command
	select {
	case c, ok := <-cmds:
		if !ok {
			// The orchestrator went away before configuring anything: nothing to do.
			if err := <-readErr; !errors.Is(err, io.EOF) {
				return fmt.Errorf("read config: %w", err)
			}
			return nil
		}
		first = c
	case <-ctx.Done():
		return ctx.Err()
	}
	if first.Cmd != CmdConfig {
		err := fmt.Errorf("%w: first command is %q, want %q", ErrConfig, first.Cmd, CmdConfig)
		w.SendError(first.ID, err)
		return err
	}
	ready, err := a.Configure(ctx, env, first.Args)
	if err != nil {
		w.SendError(first.ID, fmt.Errorf("config: %w", err))
		return fmt.Errorf("config: %w", err)
	}
	if err := w.Send(TypeReady, first.ID, ready); err != nil {
		finish(a, w)
		return fmt.Errorf("send ready: %w", err)
	}

	ticker, paced := a.(Ticker)
	finisher, _ := a.(Finisher)
	own := time.NewTicker(SnapshotEvery)
	defer own.Stop()
	var result error
loop:
	for {
		tick := own.C
		if paced {
			tick = ticker.Ticks()
		}
		var done <-chan struct{}
		if finisher != nil {
			done = finisher.Finished()
		}
		select {
		case <-ctx.Done():
			result = ctx.Err()
			break loop
		case <-done:
			break loop
		case <-tick:
			snap, err := a.Snapshot()
			if err != nil {
				w.SendError(0, fmt.Errorf("snapshot: %w", err))
				continue
			}
			if snap == nil {
				continue
			}
			if err := w.Send(TypeSnapshot, 0, snap); err != nil {
				result = fmt.Errorf("send snapshot: %w", err)
				break loop
			}
		case c, ok := <-cmds:
			if !ok {
				if err := <-readErr; !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
					result = fmt.Errorf("read commands: %w", err)
				}
				break loop
			}
			if c.Cmd == CmdConfig {
				w.SendError(c.ID, errors.New("config: already configured"))
				continue
			}
			reply, err := a.Handle(ctx, c.Cmd, c.Args)
			if errors.Is(err, ErrStop) {
				w.Send(TypeAck, c.ID, reply)
				break loop
			}
			if err != nil {
				w.SendError(c.ID, fmt.Errorf("%s: %w", c.Cmd, err))
				continue
			}
			w.Send(TypeAck, c.ID, reply)
		}
	}
	if err := finish(a, w); err != nil && result == nil {
		result = err
	}
	return result
}

// finish stops the agent's work, sends its last snapshot and its final.
func finish(a Agent, w *Writer) error {
	if s, ok := a.(Stopper); ok {
		s.Stop()
	}
	if snap, err := a.Snapshot(); err == nil && snap != nil {
		w.Send(TypeSnapshot, 0, snap)
	}
	fin, err := a.Final()
	if err != nil {
		w.SendError(0, fmt.Errorf("final: %w", err))
		return fmt.Errorf("final: %w", err)
	}
	if err := w.Send(TypeFinal, 0, fin); err != nil {
		return fmt.Errorf("send final: %w", err)
	}
	return nil
}

// Decode unmarshals a command's Args into v, naming the command in the error. Empty
// Args leave v as it is.
func Decode(cmd string, args json.RawMessage, v any) error {
	if len(args) == 0 || string(args) == "null" {
		return nil
	}
	if err := json.Unmarshal(args, v); err != nil {
		return fmt.Errorf("%s: arguments: %w", cmd, err)
	}
	return nil
}

// Duration is a time.Duration that travels in JSON as Go duration text ("30s").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// Count is the ack Data of commands that select clients: how many they affected.
type Count struct {
	Clients int `json:"clients"`
}
