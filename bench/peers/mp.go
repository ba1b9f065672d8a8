package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mpServer is the one `portlab mp serve` every generator loads in turn.
type mpServer struct {
	cmd  *exec.Cmd
	URL  string         // the MPLIST URL it printed
	Addr netip.AddrPort // its HTTP request port
	Path string         // path and query of URL
	out  *tailBuffer    // its stdout (the summary is the last line)
	errs *tailBuffer
	done chan struct{} // closed when its stdout ends
}

// startMP starts portlab mp serve on a free loopback port with no service time and waits
// (at most 30 s) for the HTTP URL it prints first. It stops by itself after limit.
func startMP(ctx context.Context, portlab string, limit time.Duration) (*mpServer, error) {
	cmd := exec.Command(portlab, "mp", "serve", "--http", "127.0.0.1:0", "--service-time", "0s",
		"--duration", limit.String())
	// Its own process group: a terminal's Ctrl-C reaches peers, which stops it last.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	m := &mpServer{cmd: cmd, out: &tailBuffer{max: 16 << 10}, errs: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = m.errs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("mp serve: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mp serve: start %s: %w", portlab, err)
	}
	found := make(chan string, 1)
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			m.out.Write([]byte(line + "\n"))
			// "http  http://127.0.0.1:PORT/SMS_MP/.sms_aut?MPLIST": role, then URL.
			if f := strings.Fields(line); len(f) == 2 && f[0] == "http" {
				select {
				case found <- f[1]:
				default: // only the first
				}
			}
		}
	}()
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	var u string
	select {
	case u = <-found:
	case <-m.done:
		m.cmd.Wait()
		return nil, fmt.Errorf("mp serve exited before printing its address (%s)%s", m.cmd.ProcessState, m.errs.suffix())
	case <-wait.C:
		m.kill()
		return nil, errors.New("mp serve: no address printed within 30 s")
	case <-ctx.Done():
		m.kill()
		return nil, ctx.Err()
	}
	pu, err := url.Parse(u)
	if err != nil {
		m.kill()
		return nil, fmt.Errorf("mp serve: address %q: %w", u, err)
	}
	ap, err := netip.ParseAddrPort(pu.Host)
	if err != nil || !ap.Addr().IsLoopback() {
		m.kill()
		return nil, fmt.Errorf("mp serve: address %q: want a loopback host:port", u)
	}
	m.URL, m.Addr, m.Path = u, ap, pu.RequestURI()
	return m, nil
}

// PID is the MP process's id.
func (m *mpServer) PID() int { return m.cmd.Process.Pid }

// Alive reports an error if the MP has exited.
func (m *mpServer) Alive() error {
	select {
	case <-m.done:
		return fmt.Errorf("mp serve exited during the benchmark%s", m.errs.suffix())
	default:
		return nil
	}
}

func (m *mpServer) kill() {
	m.cmd.Process.Kill()
	m.cmd.Wait()
}

// mpSummary is what mp serve prints as it stops.
type mpSummary struct {
	Line     string
	Requests int64 // requests it answered in all
}

// Stop interrupts the MP as Ctrl-C would, waits for it (10 s at most, then kills it) and
// returns its summary line ("stopped: N requests (200:N), ...").
func (m *mpServer) Stop() (mpSummary, error) {
	m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		m.kill()
		return mpSummary{}, errors.New("mp serve did not stop within 10 s of SIGINT: killed")
	}
	if err := m.cmd.Wait(); err != nil {
		return mpSummary{}, fmt.Errorf("mp serve: %w%s", err, m.errs.suffix())
	}
	return parseMPSummary(m.out.String())
}

// parseMPSummary finds mp serve's last line, "stopped: N requests (200:N), ...".
func parseMPSummary(out string) (mpSummary, error) {
	for line := range strings.SplitSeq(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "stopped: "); ok {
			n, _, _ := strings.Cut(rest, " ")
			req, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return mpSummary{Line: line}, fmt.Errorf("mp serve summary %q: %w", line, err)
			}
			return mpSummary{Line: line, Requests: req}, nil
		}
	}
	return mpSummary{}, errors.New("mp serve printed no summary")
}
