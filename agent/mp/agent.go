package mp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portlab/portlab/agent"
)

// Agent commands (agent.Command.Cmd) and their Args:
//
//	config     Config                       first command; answered "ready" (ReadyData) or "error"
//	set_ports  Listen                       answered "ack", Data: Listen (actual addresses)
//	push       PushArgs                     answered "ack", Data: PushReply
//	stop       -                            answered "ack"
//	start      -                            answered "ack", Data: Listen
//	snapshot   -                            answered "snapshot" with the command's ID, Data: Snapshot
//
// Every second the agent sends "snapshot" (ID 0, Data: Snapshot); on exit "final"
// (Data: Snapshot). It exits when stdin closes or ctx ends.
const (
	CmdConfig   = "config"
	CmdSetPorts = "set_ports"
	CmdPush     = "push"
	CmdStop     = "stop"
	CmdStart    = "start"
	CmdSnapshot = "snapshot"
)

// ReadyData is the Data of the agent's "ready" message.
type ReadyData struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Addrs Listen `json:"addrs"`
	// The CA certificate clients must trust, and the file it was written to (if asked).
	CACertPEM string `json:"ca_cert_pem"`
	CAFile    string `json:"ca_file,omitempty"`
}

// PushArgs are the Args of "push".
type PushArgs struct {
	Group  string `json:"group,omitempty"` // "" = every client
	Action string `json:"action"`
}

// PushReply is the Data of the ack to "push".
type PushReply struct {
	ID uint64 `json:"id"`
}

// snapshotEvery is the period of the agent's snapshot messages.
const snapshotEvery = time.Second

// RunAgent is `portlab agent mp`: it reads agent protocol commands from stdin, runs one MP,
// and writes messages to stdout; stderr takes the log. It returns when stdin closes
// (nil) or ctx ends (ctx's error), after sending "final".
func RunAgent(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	out := agent.NewWriter(stdout)
	cmds, readErr := agent.Commands(ctx, stdin)

	// The first command configures the MP.
	var first agent.Command
	select {
	case c, ok := <-cmds:
		if !ok {
			return fmt.Errorf("agent mp: stdin closed before config: %w", <-readErr)
		}
		first = c
	case <-ctx.Done():
		return ctx.Err()
	}
	if first.Cmd != CmdConfig {
		err := fmt.Errorf("agent mp: first command is %q, want %q", first.Cmd, CmdConfig)
		out.SendError(first.ID, err)
		return err
	}
	var cfg Config
	if err := json.Unmarshal(first.Args, &cfg); err != nil {
		err = fmt.Errorf("%w: agent mp: config: %w", ErrConfig, err)
		out.SendError(first.ID, err)
		return err
	}
	s, err := New(cfg, log)
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		out.SendError(first.ID, err)
		if s != nil {
			s.Close()
		}
		return fmt.Errorf("agent mp: %w", err)
	}
	ready := ReadyData{Name: s.cfg.Name, PID: os.Getpid(), Addrs: s.Addrs(), CACertPEM: string(s.CA().CertPEM), CAFile: s.cfg.TLS.CAFile}
	if err := out.Send(agent.TypeReady, first.ID, ready); err != nil {
		s.Close()
		return fmt.Errorf("agent mp: send ready: %w", err)
	}

	tick := time.NewTicker(snapshotEvery)
	defer tick.Stop()
	var result error
loop:
	for {
		select {
		case <-ctx.Done():
			result = ctx.Err()
			break loop
		case <-tick.C:
			if err := out.Send(agent.TypeSnapshot, 0, s.Snapshot()); err != nil {
				result = fmt.Errorf("agent mp: send snapshot: %w", err)
				break loop
			}
		case c, ok := <-cmds:
			if !ok {
				if err := <-readErr; !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
					result = fmt.Errorf("agent mp: read commands: %w", err)
				}
				break loop
			}
			s.command(ctx, out, c)
		}
	}
	// Leave within a second: in-flight requests get what is left of it.
	sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	s.Shutdown(sctx)
	cancel()
	if err := out.Send(agent.TypeFinal, 0, s.Snapshot()); err != nil && result == nil {
		result = fmt.Errorf("agent mp: send final: %w", err)
	}
	return result
}

// command runs one agent command and answers it.
func (s *Server) command(ctx context.Context, out *agent.Writer, c agent.Command) {
	fail := func(err error) { out.SendError(c.ID, fmt.Errorf("%s: %w", c.Cmd, err)) }
	switch c.Cmd {
	case CmdSetPorts:
		var l Listen
		if err := json.Unmarshal(c.Args, &l); err != nil {
			fail(err)
			return
		}
		if err := s.SetPorts(ctx, l); err != nil {
			fail(err)
			return
		}
		out.Send(agent.TypeAck, c.ID, s.Addrs())
	case CmdPush:
		var a PushArgs
		if err := json.Unmarshal(c.Args, &a); err != nil {
			fail(err)
			return
		}
		if a.Action == "" {
			fail(errors.New("action is empty"))
			return
		}
		out.Send(agent.TypeAck, c.ID, PushReply{ID: s.Push(a.Group, a.Action)})
	case CmdStop:
		s.Stop()
		out.Send(agent.TypeAck, c.ID, nil)
	case CmdStart:
		if err := s.Start(ctx); err != nil {
			fail(err)
			return
		}
		out.Send(agent.TypeAck, c.ID, s.Addrs())
	case CmdSnapshot:
		out.Send(agent.TypeSnapshot, c.ID, s.Snapshot())
	case CmdConfig:
		fail(errors.New("already configured"))
	default:
		fail(fmt.Errorf("unknown command (want %s, %s, %s, %s or %s)", CmdSetPorts, CmdPush, CmdStop, CmdStart, CmdSnapshot))
	}
}
