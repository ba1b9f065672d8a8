// Package site is the site server agent (`portlab agent site`): it runs in the site
// server's namespace and sends wake-up packets (UDP magic packets) to the site's wake-up
// port, unicast to each client's address or subnet-directed broadcast, with the site
// server's retries and send rate, and logs what it sent.
//
// It is not the wake-up receiver: sleeping clients' NICs live in the fleet agents.
package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/netsim/wol"
)

// Agent commands (agent.Command.Cmd) and their Args:
//
//	config  Config     first; answered "ready"
//	send    SendArgs   answered "ack" with SendReply once every packet went out
//
// Every second the agent sends "snapshot" (Stats); "final" on exit. It exits when
// stdin closes.
const (
	CmdConfig = "config"
	CmdSend   = "send"
)

// Config is the site server.
type Config struct {
	SiteCode string `json:"site_code"`
}

// Target is one magic packet's destination.
type Target struct {
	MAC string `json:"mac"`
	To  string `json:"to"` // address:port, inside 198.18.0.0/15
}

// SendArgs is one wake-up job.
type SendArgs struct {
	Label   string   `json:"label,omitempty"` // for the log (a group name)
	Targets []Target `json:"targets"`
	Rate    float64  `json:"rate"`    // packets per second
	Retries int      `json:"retries"` // extra transmissions of each packet
}

// SendReply says what went out.
type SendReply struct {
	Sent    int       `json:"sent"`
	Failed  int       `json:"failed"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Errors  []string  `json:"errors,omitempty"` // the first few
	Refused string    `json:"refused,omitempty"`
}

// Stats is the agent's running total.
type Stats struct {
	Jobs    int `json:"jobs"`
	Packets int `json:"packets"`
	Failed  int `json:"failed"`
}

// RunAgent is `portlab agent site`.
func RunAgent(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	w := agent.NewWriter(out)
	cmds, readErr := agent.Commands(ctx, in)
	var stats Stats
	configured := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.Send(agent.TypeFinal, 0, stats)
			return ctx.Err()
		case <-tick.C:
			if configured {
				w.Send(agent.TypeSnapshot, 0, stats)
			}
		case c, ok := <-cmds:
			if !ok {
				err := <-readErr
				if errors.Is(err, io.EOF) {
					err = nil
				}
				w.Send(agent.TypeFinal, 0, stats)
				return err
			}
			switch {
			case c.Cmd == CmdConfig && !configured:
				var cfg Config
				if err := json.Unmarshal(c.Args, &cfg); err != nil {
					w.SendError(c.ID, fmt.Errorf("config: %w", err))
					return err
				}
				configured = true
				log.Info("site server ready", "site", cfg.SiteCode)
				w.Send(agent.TypeReady, c.ID, nil)
			case !configured:
				w.SendError(c.ID, errors.New("first command must be config"))
			case c.Cmd == CmdSend:
				var a SendArgs
				if err := json.Unmarshal(c.Args, &a); err != nil {
					w.SendError(c.ID, fmt.Errorf("send: %w", err))
					continue
				}
				rep, err := send(ctx, a, log)
				if err != nil {
					w.SendError(c.ID, fmt.Errorf("send: %w", err))
					continue
				}
				stats.Jobs++
				stats.Packets += rep.Sent
				stats.Failed += rep.Failed
				w.Send(agent.TypeAck, c.ID, rep)
			default:
				w.SendError(c.ID, fmt.Errorf("unknown command %q (want %s)", c.Cmd, CmdSend))
			}
		}
	}
}

// send transmits one job with wol.Sender, which refuses any destination outside
// 198.18.0.0/15 and loopback before sending anything.
func send(ctx context.Context, a SendArgs, log *slog.Logger) (SendReply, error) {
	var rep SendReply
	targets := make([]wol.Target, 0, len(a.Targets))
	for _, t := range a.Targets {
		mac, err := net.ParseMAC(t.MAC)
		if err != nil {
			return rep, fmt.Errorf("target MAC %q: %w", t.MAC, err)
		}
		to, err := netip.ParseAddrPort(t.To)
		if err != nil {
			return rep, fmt.Errorf("target address %q: %w", t.To, err)
		}
		targets = append(targets, wol.Target{MAC: mac, To: to})
	}
	s := wol.Sender{Rate: a.Rate, Retries: a.Retries}
	sent, err := s.Send(ctx, targets)
	if err != nil && len(sent) == 0 {
		return rep, err
	}
	for _, x := range sent {
		if x.Err != nil {
			rep.Failed++
			if len(rep.Errors) < 5 {
				rep.Errors = append(rep.Errors, x.Err.Error())
			}
			continue
		}
		if rep.Sent == 0 {
			rep.First = x.At
		}
		rep.Sent++
		rep.Last = x.At
	}
	dst := ""
	if len(targets) > 0 {
		dst = targets[0].To.String()
	}
	log.Info("sent wake-up packets", "label", a.Label, "targets", len(targets), "packets", rep.Sent, "failed", rep.Failed,
		"first_destination", dst, "rate", a.Rate, "retries", a.Retries)
	return rep, err
}
