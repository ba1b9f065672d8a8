package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/portlab/portlab/agent"
)

// Agent commands (agent.Command.Cmd) and their Args.
const (
	CmdConfig      = "config"      // Args: FleetConfig; answer "ready" with ReadyData
	CmdStart       = "start"       // Args: optional StartArgs
	CmdReconfigure = "reconfigure" // Args: Reconfigure; ack Data: {"clients": n}
	CmdSitePorts   = "site_ports"  // Args: SitePorts
	CmdSleep       = "sleep"       // Args: Selector; ack Data: {"clients": n}
	CmdWake        = "wake"        // Args: WakeArgs; ack Data: {"clients": n}
	CmdExpectWake  = "expect_wake" // Args: WakeArgs: wake-up packets are being sent now; ack Data: {"clients": n}
	CmdStop        = "stop"        // no Args: final, then exit
)

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

type countData struct {
	Clients int `json:"clients"`
}

// RunAgent is `portlab agent fleet`: it reads agent protocol commands from in, streams a
// "snapshot" (Report) every second after "start" and a "final" (Report with client
// states) at the end, and returns when the duration has passed, on "stop", when in
// closes or when ctx ends.
func RunAgent(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger, opt Options) error {
	w := agent.NewWriter(out)
	cmds, readErr := agent.Commands(ctx, in)

	var f *Fleet
	var n *nic
	var tick <-chan time.Time
	var done <-chan struct{}
	finish := func() error {
		if f == nil {
			return nil
		}
		// The last interval goes out as an ordinary snapshot, so the per-second series
		// is complete; then the whole run as the final report.
		f.Stop()
		if last, err := f.Collect(); err == nil {
			w.Send(agent.TypeSnapshot, 0, last)
		}
		rep, err := f.Final()
		if err != nil {
			w.SendError(0, err)
			return err
		}
		return w.Send(agent.TypeFinal, 0, rep)
	}
	reply := func(c agent.Command, data any, err error) {
		if err != nil {
			w.SendError(c.ID, fmt.Errorf("%s: %w", c.Cmd, err))
			return
		}
		w.Send(agent.TypeAck, c.ID, data)
	}
	for {
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), finish())
		case <-done:
			return finish()
		case <-tick:
			rep, err := f.Collect()
			if err != nil {
				w.SendError(0, err)
				continue
			}
			if err := w.Send(agent.TypeSnapshot, 0, rep); err != nil {
				f.Stop()
				return fmt.Errorf("fleet agent: write snapshot: %w", err)
			}
		case c, ok := <-cmds:
			if !ok {
				err := <-readErr
				if errors.Is(err, io.EOF) {
					err = nil // stdin closed: the orchestrator is gone or done
				}
				return errors.Join(err, finish())
			}
			if f == nil && c.Cmd != CmdConfig {
				reply(c, nil, errors.New("first command must be config"))
				continue
			}
			switch c.Cmd {
			case CmdConfig:
				if f != nil {
					reply(c, nil, errors.New("already configured"))
					continue
				}
				var cfg FleetConfig
				if err := json.Unmarshal(c.Args, &cfg); err != nil {
					w.SendError(c.ID, fmt.Errorf("config: %w", err))
					return fmt.Errorf("fleet agent: config: %w", err)
				}
				nf, err := NewFleet(cfg, opt)
				if err != nil {
					w.SendError(c.ID, fmt.Errorf("config: %w", err))
					return fmt.Errorf("fleet agent: %w", err)
				}
				f = nf
				n = &nic{f: f, log: log, expected: map[int]time.Time{}}
				if cfg.NIC != "" {
					go func() {
						if err := n.run(ctx, cfg.NIC); err != nil && ctx.Err() == nil {
							log.Error("wake-up listener stopped", "err", err)
							w.SendError(0, err)
						}
					}()
				}
				log.Info("fleet configured", "segment", cfg.Segment, "clients", len(f.clients), "workers", len(f.workers))
				w.Send(agent.TypeReady, c.ID, ReadyData{Clients: len(f.clients), Workers: len(f.workers)})
			case CmdStart:
				var a StartArgs
				if len(c.Args) > 0 {
					if err := json.Unmarshal(c.Args, &a); err != nil {
						reply(c, nil, err)
						continue
					}
				}
				err := f.Start(ctx, a.StartTime)
				if err == nil {
					t := time.NewTicker(time.Second)
					defer t.Stop()
					tick = t.C
					done = f.Done()
				}
				reply(c, nil, err)
			case CmdReconfigure:
				var r Reconfigure
				err := json.Unmarshal(c.Args, &r)
				n := 0
				if err == nil {
					n, err = f.Reconfigure(r)
				}
				reply(c, countData{n}, err)
			case CmdSitePorts:
				var p SitePorts
				err := json.Unmarshal(c.Args, &p)
				if err == nil {
					f.SetSitePorts(p)
				}
				reply(c, nil, err)
			case CmdSleep:
				var s Selector
				err := json.Unmarshal(c.Args, &s)
				n := 0
				if err == nil {
					n, err = f.Sleep(s)
				}
				reply(c, countData{n}, err)
			case CmdWake:
				var a WakeArgs
				err := json.Unmarshal(c.Args, &a)
				n := 0
				if err == nil {
					var sent time.Time
					if a.SentNS != 0 {
						sent = time.Unix(0, a.SentNS)
					}
					n, err = f.Wake(a.Selector, sent)
				}
				reply(c, countData{n}, err)
			case CmdExpectWake:
				var a WakeArgs
				err := json.Unmarshal(c.Args, &a)
				k := 0
				if err == nil {
					k, err = n.expect(a.Selector, time.Unix(0, a.SentNS))
				}
				reply(c, countData{k}, err)
			case CmdStop:
				w.Send(agent.TypeAck, c.ID, nil)
				return finish()
			default:
				reply(c, nil, fmt.Errorf("unknown command %q", c.Cmd))
			}
		}
	}
}
