package mp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
//	snapshot   -                            answered "ack", Data: Snapshot
//
// Every second the agent sends "snapshot" (ID 0, Data: Snapshot); on exit "final"
// (Data: Snapshot). It exits when stdin closes or ctx ends.
const (
	CmdConfig   = agent.CmdConfig
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
	// ID of the push (0: the MP numbers it). The orchestrator numbers pushes so the
	// worker processes of one MP send the same push under the same ID.
	ID uint64 `json:"id,omitempty"`
}

// PushReply is the Data of the ack to "push".
type PushReply struct {
	ID uint64 `json:"id"`
}

// Agent is `portlab agent mp`: one MP driven by agent.Serve.
type Agent struct {
	s *Server
}

// Configure builds and starts the MP.
func (a *Agent) Configure(ctx context.Context, env agent.Env, args json.RawMessage) (any, error) {
	var cfg Config
	if err := json.Unmarshal(args, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s, err := New(cfg, env.Log)
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		if s != nil {
			s.Close()
		}
		return nil, err
	}
	a.s = s
	return ReadyData{Name: s.cfg.Name, PID: os.Getpid(), Addrs: s.Addrs(), CACertPEM: string(s.CA().CertPEM), CAFile: s.cfg.TLS.CAFile}, nil
}

// Handle runs one command.
func (a *Agent) Handle(ctx context.Context, cmd string, args json.RawMessage) (any, error) {
	s := a.s
	switch cmd {
	case CmdSetPorts:
		var l Listen
		if err := agent.Decode(cmd, args, &l); err != nil {
			return nil, err
		}
		if err := s.SetPorts(ctx, l); err != nil {
			return nil, err
		}
		return s.Addrs(), nil
	case CmdPush:
		var p PushArgs
		if err := agent.Decode(cmd, args, &p); err != nil {
			return nil, err
		}
		if p.Action == "" {
			return nil, errors.New("action is empty")
		}
		return PushReply{ID: s.PushID(p.ID, p.Group, p.Action)}, nil
	case CmdStop:
		s.Stop()
		return nil, nil
	case CmdStart:
		if err := s.Start(ctx); err != nil {
			return nil, err
		}
		return s.Addrs(), nil
	case CmdSnapshot:
		return s.Snapshot(), nil
	}
	return nil, fmt.Errorf("unknown command (want %s, %s, %s, %s or %s)", CmdSetPorts, CmdPush, CmdStop, CmdStart, CmdSnapshot)
}

// Snapshot is the MP's counters now.
func (a *Agent) Snapshot() (any, error) { return a.s.Snapshot(), nil }

// Stop leaves within a second: in-flight requests get what is left of it.
func (a *Agent) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	a.s.Shutdown(ctx)
}

// Final is the counters after the MP stopped.
func (a *Agent) Final() (any, error) { return a.s.Snapshot(), nil }
