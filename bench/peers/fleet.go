package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/fleet"
	"github.com/portlab/portlab/metrics"
)

// fleetGen drives `portlab agent fleet` over the agent protocol, as `portlab run` does:
// Clients simulated clients with their own loopback addresses, each making one bench
// cycle (K GETs on one new connection) every Clients·K/Rate seconds.
type fleetGen struct {
	bin     string
	profile string // PORTLAB_CPUPROFILE of the agent (empty: none)
}

func (*fleetGen) Name() string { return "fleet" }

func (*fleetGen) Unsupported(int) string { return "" }

// fleetConfig is the fleet agent's configuration for l. The clients' source addresses
// come from 127.3.0.0/16: every 127/8 address is local on lo, so each client binds its
// own with no namespace, and the MP sees Clients distinct peers as it would on a site.
func fleetConfig(l load) fleet.Config {
	interval := time.Duration(int64(time.Second) * int64(l.Clients) * int64(l.K) / int64(l.Rate))
	clientStates := false // a benchmark needs no per-client report
	return fleet.Config{
		Segment:    "bench",
		Identities: netip.MustParsePrefix("127.3.0.0/16"),
		MPs:        []fleet.MP{{Name: "mp1", Addr: l.Addr.Addr()}},
		SitePorts: fleet.SitePorts{
			HTTP:         fleet.RequestPort{Default: int(l.Addr.Port())},
			HTTPS:        fleet.RequestPort{Default: 443},
			Notification: 10123,
		},
		SiteCode: "PS1",
		Seed:     1,
		Duration: fleet.Duration(l.Duration),
		Ramp:     fleet.Duration(min(fleetRamp, l.Duration/2)),
		Groups: []fleet.Group{{
			Name:              "bench",
			Count:             l.Clients,
			Scheme:            "http",
			HTTPPort:          int(l.Addr.Port()),
			HTTPSPort:         443,
			Notification:      "off",
			PolicyInterval:    fleet.Duration(interval),
			HeartbeatInterval: fleet.Duration(time.Hour),
			ConnectTimeout:    fleet.Duration(5 * time.Second),
			UnmanagedAfter:    3,
			KeepAlive:         fleet.Duration(time.Minute),
			LongPollWait:      fleet.Duration(30 * time.Second),
			Retries:           0,
			Bench:             &fleet.BenchCycle{Path: l.Path, Requests: l.K},
		}},
		ClientStates: &clientStates,
	}
}

// fleetSnapshot is the part of a fleet Report (snapshot or final) peers reads.
type fleetSnapshot struct {
	Start    time.Time              `json:"start"`
	End      time.Time              `json:"end"`
	Series   metrics.Series         `json:"series"`
	Counters []metrics.CounterValue `json:"counters"`
}

func (s fleetSnapshot) counter(name string) int64 {
	var n int64
	for _, c := range s.Counters {
		if c.Name == name {
			n += c.Value
		}
	}
	return n
}

// steady is the fleet's run after its ramp, from its per-second snapshots and its CPU
// read from /proc as each arrives.
type steady struct {
	from, to       time.Time // snapshot ends bounding the window
	cpuFrom, cpuTo cpuTimes
	attempts, ok   int64 // bench cycles (each K requests) in the window
}

// add takes one snapshot: the first that ends after the ramp opens the window, the later
// ones up to the planned end fill it.
func (w *steady) add(s fleetSnapshot, rampEnd, end time.Time, cpu cpuTimes) {
	switch {
	case w.from.IsZero():
		if !s.End.Before(rampEnd) {
			w.from, w.to, w.cpuFrom, w.cpuTo = s.End, s.End, cpu, cpu
		}
	case !s.End.After(end.Add(500 * time.Millisecond)):
		w.to, w.cpuTo = s.End, cpu
		w.attempts += s.Series.Attempts
		w.ok += s.Series.Successes
	}
}

func (f *fleetGen) Run(ctx context.Context, l load) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, "agent", "fleet")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = os.Environ()
	if f.profile != "" {
		cmd.Env = append(cmd.Env, agent.ProfileEnv+"="+f.profile)
	}
	errs := &tailBuffer{max: 8 << 10}
	cmd.Stderr = errs
	in, err := cmd.StdinPipe()
	if err != nil {
		return outcome{}, fmt.Errorf("fleet: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return outcome{}, fmt.Errorf("fleet: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return outcome{}, fmt.Errorf("fleet: start %s agent fleet: %w", f.bin, err)
	}
	o, runErr := f.converse(cmd.Process.Pid, in, out, l)
	in.Close() // the agent ends when its stdin closes, if it has not already
	io.Copy(io.Discard, out)
	waitErr := cmd.Wait()
	if cmd.ProcessState != nil {
		o.CPU = cpuTimes{cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()}
	}
	if runErr == nil && waitErr != nil {
		runErr = waitErr
	}
	if runErr != nil {
		return o, fmt.Errorf("fleet: %w%s", runErr, errs.suffix())
	}
	return o, nil
}

// converse configures and starts the fleet, reads its snapshots and final, and returns
// its outcome without the CPU (known once it has exited).
func (f *fleetGen) converse(pid int, in io.Writer, out io.Reader, l load) (outcome, error) {
	var o outcome
	cfg, err := json.Marshal(fleetConfig(l))
	if err != nil {
		return o, err
	}
	w, r := agent.NewWriter(in), agent.NewReader(out)
	if err := w.Write(agent.Command{Cmd: agent.CmdConfig, ID: 1, Args: cfg}); err != nil {
		return o, fmt.Errorf("send config: %w", err)
	}
	var (
		win          steady
		t0           time.Time
		warnings     int
		ramp         = min(fleetRamp, l.Duration/2)
		k            = int64(l.K)
		sentStart    bool
		failedAt     []string // failed cycles by snapshot interval, from the start
		final        *fleetSnapshot
		decodeReport = func(m agent.Message) (fleetSnapshot, error) {
			var s fleetSnapshot
			err := json.Unmarshal(m.Data, &s)
			return s, err
		}
	)
	for final == nil {
		var m agent.Message
		if err := r.Next(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return o, errors.New("agent ended before its final report")
			}
			return o, err
		}
		switch m.Type {
		case agent.TypeReady:
			if err := w.Write(agent.Command{Cmd: fleet.CmdStart, ID: 2}); err != nil {
				return o, fmt.Errorf("send start: %w", err)
			}
			sentStart = true
		case agent.TypeError:
			if m.ID != 0 || !sentStart {
				return o, fmt.Errorf("agent: %s", m.Error)
			}
			warnings++
		case agent.TypeSnapshot:
			cpu, err := procCPU(pid)
			if err != nil {
				return o, err
			}
			s, err := decodeReport(m)
			if err != nil {
				return o, fmt.Errorf("snapshot: %w", err)
			}
			if t0.IsZero() {
				t0 = s.Start
			}
			win.add(s, t0.Add(ramp), t0.Add(l.Duration), cpu)
			if n := s.Series.Attempts - s.Series.Successes; n > 0 {
				if s.End.After(t0.Add(l.Duration - time.Second)) {
					o.EndErrors += n * k
				}
				failedAt = append(failedAt, fmt.Sprintf("%d in [%.1fs, %.1fs)", n, s.Start.Sub(t0).Seconds(), s.End.Sub(t0).Seconds()))
			}
		case agent.TypeFinal:
			s, err := decodeReport(m)
			if err != nil {
				return o, fmt.Errorf("final: %w", err)
			}
			final = &s
		}
	}
	// Each attempt is one bench cycle: K requests on one connection.
	o.Requests = final.Series.Attempts * k
	o.Errors = (final.Series.Attempts - final.Series.Successes) * k
	if span := win.to.Sub(win.from); span > 0 {
		o.Rate = float64(win.ok*k) / span.Seconds()
		o.SteadyCPU = perRequest(win.cpuTo.sub(win.cpuFrom).Total(), win.attempts*k)
	}
	if len(final.Series.Failures) > 0 {
		o.Notes = append(o.Notes, fmt.Sprintf("failed cycles by outcome: %v, by time: %s", final.Series.Failures, strings.Join(failedAt, ", ")))
	}
	if cycles := final.counter(metrics.CCycles); cycles > 0 {
		late := final.counter(metrics.CLateStarts)
		skipped := final.counter(metrics.CSkippedBusy)
		o.Notes = append(o.Notes, fmt.Sprintf("late starts %.2f%% of %d cycles, %d skipped", 100*float64(late)/float64(cycles), cycles, skipped))
	}
	if warnings > 0 {
		o.Notes = append(o.Notes, fmt.Sprintf("%d warnings from the agent", warnings))
	}
	return o, nil
}
