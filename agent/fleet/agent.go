package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/portlab/portlab/agent"
)

// Agent commands (agent.Command.Cmd) and their Args.
const (
	CmdConfig      = agent.CmdConfig // Args: Config; answer "ready" with ReadyData
	CmdStart       = "start"         // Args: optional StartArgs
	CmdReconfigure = "reconfigure"   // Args: Reconfigure; ack Data: {"clients": n}
	CmdSitePorts   = "site_ports"    // Args: SitePorts
	CmdSleep       = "sleep"         // Args: Selector; ack Data: {"clients": n}
	CmdWake        = "wake"          // Args: WakeArgs; ack Data: {"clients": n}
	CmdExpectWake  = "expect_wake"   // Args: WakeArgs: wake-up packets are being sent now; ack Data: {"clients": n}
	CmdStop        = "stop"          // no Args: final, then exit
)

// Commands answered with agent.Count report how many clients they affected.

// ReadyData is the "ready" message's Data.
type ReadyData struct {
	Clients int `json:"clients"`
	Workers int `json:"workers"`
}

// StartArgs are the optional Args of "start".
type StartArgs struct {
	StartTime time.Time `json:"start_time,omitzero"`
}

// WakeArgs are the Args of "wake".
type WakeArgs struct {
	Selector
	SentNS int64 `json:"sent_ns,omitempty"` // when the wake-up packet was sent, unix ns
}

// Agent is `portlab agent fleet`, driven by agent.Serve: it builds the fleet at
// "config", starts it at "start", sends a snapshot (Report) every second from the start
// and, at the end, the last interval as a snapshot and the whole run (Report with
// client states) as the final. It ends when the duration has passed, on "stop", when
// stdin closes or when ctx ends.
type Agent struct {
	// Options are the fleet's non-JSON settings (tests inject a dialer).
	Options Options

	f     *Fleet
	n     *nic
	ticks *time.Ticker
}

// Configure builds the fleet (it sends nothing yet) and starts the sleeping clients'
// NIC listener.
func (a *Agent) Configure(ctx context.Context, env agent.Env, args json.RawMessage) (any, error) {
	var cfg Config
	if err := json.Unmarshal(args, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	f, err := NewFleet(cfg, a.Options)
	if err != nil {
		return nil, err
	}
	// The load generator trades memory for CPU: with the collector at a quarter of its
	// default frequency, cores go to the clients' work (its RSS, reported per client,
	// grows accordingly; the MPs keep Go's default, their memory is a measured figure).
	debug.SetGCPercent(400)
	a.f = f
	a.n = &nic{f: f, log: env.Log, expected: map[int]time.Time{}}
	if cfg.NIC != "" {
		go func() {
			if err := a.n.run(ctx, cfg.NIC); err != nil && ctx.Err() == nil {
				env.Log.Error("wake-up listener stopped", "err", err)
				env.Warn(err)
			}
		}()
	}
	env.Log.Info("fleet configured", "segment", cfg.Segment, "clients", len(f.clients), "workers", len(f.workers))
	return ReadyData{Clients: len(f.clients), Workers: len(f.workers)}, nil
}

// Handle runs one command.
func (a *Agent) Handle(ctx context.Context, cmd string, args json.RawMessage) (any, error) {
	f := a.f
	switch cmd {
	case CmdStart:
		var s StartArgs
		if err := agent.Decode(cmd, args, &s); err != nil {
			return nil, err
		}
		if err := f.Start(ctx, s.StartTime); err != nil {
			return nil, err
		}
		a.ticks = time.NewTicker(time.Second)
		return nil, nil
	case CmdReconfigure:
		var r Reconfigure
		if err := agent.Decode(cmd, args, &r); err != nil {
			return nil, err
		}
		n, err := f.Reconfigure(r)
		return agent.Count{Clients: n}, err
	case CmdSitePorts:
		var p SitePorts
		if err := agent.Decode(cmd, args, &p); err != nil {
			return nil, err
		}
		f.SetSitePorts(p)
		return nil, nil
	case CmdSleep:
		var s Selector
		if err := agent.Decode(cmd, args, &s); err != nil {
			return nil, err
		}
		n, err := f.Sleep(s)
		return agent.Count{Clients: n}, err
	case CmdWake:
		var w WakeArgs
		if err := agent.Decode(cmd, args, &w); err != nil {
			return nil, err
		}
		var sent time.Time
		if w.SentNS != 0 {
			sent = time.Unix(0, w.SentNS)
		}
		n, err := f.Wake(w.Selector, sent)
		return agent.Count{Clients: n}, err
	case CmdExpectWake:
		var w WakeArgs
		if err := agent.Decode(cmd, args, &w); err != nil {
			return nil, err
		}
		n, err := a.n.expect(w.Selector, time.Unix(0, w.SentNS))
		return agent.Count{Clients: n}, err
	case CmdStop:
		return nil, agent.ErrStop
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

// Ticks paces snapshots from the start (nil before it).
func (a *Agent) Ticks() <-chan time.Time {
	if a.ticks == nil {
		return nil
	}
	return a.ticks.C
}

// Finished is closed when the run is over.
func (a *Agent) Finished() <-chan struct{} { return a.f.Done() }

// Snapshot is the interval since the previous one; nothing before the start.
func (a *Agent) Snapshot() (any, error) {
	if !a.f.isStarted() {
		return nil, nil
	}
	return a.f.Collect()
}

// Stop ends the run and waits for every client goroutine.
func (a *Agent) Stop() {
	if a.ticks != nil {
		a.ticks.Stop()
	}
	a.f.Stop()
}

// Final is the whole run, with every client's final state.
func (a *Agent) Final() (any, error) { return a.f.Final() }
