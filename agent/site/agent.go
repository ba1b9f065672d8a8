// Package site is the site server agent (`portlab agent site`): it runs in the site
// server's namespace and sends wake-up packets (UDP magic packets) to the site's wake-up
// port, unicast to each client's address or subnet-directed broadcast, with the site
// server's retries and send rate, and logs what it sent. With a Location it is also the
// lab's domain controller and DNS server: it serves the site's AD DS publication over
// LDAP (389, global catalog 3268) and its DNS zone (53), and republishes on command
// (location.go).
//
// It is not the wake-up receiver: sleeping clients' NICs live in the fleet agents.
package site

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/netsim/wol"
)

// Agent commands (agent.Command.Cmd) and their Args:
//
//	config      Config      first; answered "ready"
//	send        SendArgs    answered "ack" with SendReply once every packet went out
//	publish     PublishArgs the site republishes (AD DS, DNS); needs a Location
//	dns_record  RecordArgs  a hand-made SRV record; ack Data: the record as served
//	stats       none        ack Data: Stats now
//
// Every second the agent sends "snapshot" (Stats); "final" on exit. It exits when
// stdin closes.
const (
	CmdConfig    = agent.CmdConfig
	CmdSend      = "send"
	CmdPublish   = "publish"
	CmdDNSRecord = "dns_record"
	CmdStats     = "stats"
)

// Config is the site server.
type Config struct {
	SiteCode string `json:"site_code"`
	// Location, when set, is the service location publication this agent serves.
	Location *Location `json:"location,omitempty"`
}

// Target is one magic packet's destination.
type Target struct {
	MAC string         `json:"mac"`
	To  netip.AddrPort `json:"to"` // inside 198.18.0.0/15
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
	Jobs     int            `json:"jobs"`
	Packets  int            `json:"packets"`
	Failed   int            `json:"failed"`
	Location *LocationStats `json:"location,omitempty"`
}

// Agent is `portlab agent site`, driven by agent.Serve.
type Agent struct {
	log   *slog.Logger
	stats Stats
	loc   *LocationServer
}

// Configure readies the site server.
func (a *Agent) Configure(ctx context.Context, env agent.Env, args json.RawMessage) (any, error) {
	var cfg Config
	if err := json.Unmarshal(args, &cfg); err != nil {
		return nil, fmt.Errorf("%w: site: %w", agent.ErrConfig, err)
	}
	a.log = env.Log
	if l := cfg.Location; l != nil {
		s, err := StartLocation(ctx, *l, env.Log)
		if err != nil {
			return nil, fmt.Errorf("site %s: service location: %w", cfg.SiteCode, err)
		}
		a.loc = s
		ldap, gc, dns := s.Addrs()
		a.log.Info("directory and DNS serving", "domain", l.Domain, "ldap", ldap, "gc", gc, "dns", dns,
			"ad", l.PublishAD, "dns_srv", l.PublishDNS, "http", l.Ports.HTTP, "https", l.Ports.HTTPS)
	}
	a.log.Info("site server ready", "site", cfg.SiteCode)
	return nil, nil
}

// Stop closes the directory and DNS servers.
func (a *Agent) Stop() {
	if a.loc != nil {
		_ = a.loc.Close()
	}
}

// Handle runs one command.
func (a *Agent) Handle(ctx context.Context, cmd string, args json.RawMessage) (any, error) {
	switch cmd {
	case CmdPublish, CmdDNSRecord:
		if a.loc == nil {
			return nil, fmt.Errorf("%s: this site server has no directory or DNS (no location in its config)", cmd)
		}
		if cmd == CmdPublish {
			var p PublishArgs
			if err := agent.Decode(cmd, args, &p); err != nil {
				return nil, err
			}
			if err := a.loc.Publish(p); err != nil {
				return nil, err
			}
			l := a.loc.Location()
			a.log.Info("republished", "ad", l.PublishAD, "dns_srv", l.PublishDNS, "http", l.Ports.HTTP, "https", l.Ports.HTTPS)
			return nil, nil
		}
		var r RecordArgs
		if err := agent.Decode(cmd, args, &r); err != nil {
			return nil, err
		}
		rec, err := a.loc.AddRecord(r)
		if err == nil {
			a.log.Info("hand-made DNS record", "record", rec)
		}
		return rec, err
	case CmdStats:
		return a.withLocation(), nil
	case CmdSend:
	default:
		return nil, fmt.Errorf("unknown command %q (want %s, %s or %s)", cmd, CmdSend, CmdPublish, CmdDNSRecord)
	}
	var s SendArgs
	if err := agent.Decode(cmd, args, &s); err != nil {
		return nil, err
	}
	rep, err := send(ctx, s, a.log)
	if err != nil {
		return nil, err
	}
	a.stats.Jobs++
	a.stats.Packets += rep.Sent
	a.stats.Failed += rep.Failed
	return rep, nil
}

// Snapshot is the running total.
func (a *Agent) Snapshot() (any, error) { return a.withLocation(), nil }

// Final is the total.
func (a *Agent) Final() (any, error) { return a.withLocation(), nil }

func (a *Agent) withLocation() Stats {
	st := a.stats
	if a.loc != nil {
		ls := a.loc.Stats()
		st.Location = &ls
	}
	return st
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
		if !t.To.IsValid() {
			return rep, fmt.Errorf("target %s: no address", t.MAC)
		}
		targets = append(targets, wol.Target{MAC: mac, To: t.To})
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
