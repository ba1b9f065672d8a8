package cli

// Tests of the operational commands (doctor, clean, mp serve, wake, run's input
// checks, the agent modes), run as a user would: exec the built binary.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a portlab process the test started and will reap.
type proc struct {
	cmd         *exec.Cmd
	out, errb   *lockedBuffer
	done        chan struct{}
	code        int
	args        []string
	waitErrOnce error
}

// start runs portlab in the background; t.Cleanup kills it (by pid) if still running.
func start(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{out: &lockedBuffer{}, errb: &lockedBuffer{}, done: make(chan struct{}), args: args}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
			p.waitErrOnce = err
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits up to d for the process to exit; ok is false on timeout.
func (p *proc) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(d):
		return 0, false
	}
}

func (p *proc) String() string {
	return fmt.Sprintf("portlab %s\nstdout: %s\nstderr: %s", strings.Join(p.args, " "), p.out.String(), p.errb.String())
}

// poll calls f until it returns true or d passes.
func poll(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runFor is run with a deadline: a command that should fail fast but starts working
// instead gets SIGINT at d (then SIGKILL), and the test fails.
func runFor(t *testing.T, d time.Duration, stdin string, args ...string) (result, time.Duration) {
	t.Helper()
	began := time.Now()
	p := start(t, strings.NewReader(stdin), args...)
	code, ok := p.wait(d)
	if !ok {
		_ = p.cmd.Process.Signal(os.Interrupt)
		if _, ok := p.wait(5 * time.Second); !ok {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		t.Fatalf("still running after %v: %s", d, p)
	}
	if p.waitErrOnce != nil {
		t.Fatal(p.waitErrOnce)
	}
	return result{code, p.out.String(), p.errb.String()}, time.Since(began)
}

// portlabNetns lists the network namespaces named portlab-* (ip netns list).
func portlabNetns(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "portlab-") {
			names = append(names, f[0])
		}
	}
	return names
}

func TestDoctor(t *testing.T) {
	r, took := runFor(t, 60*time.Second, "", "doctor")
	if r.code != 0 {
		t.Fatalf("doctor: exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	for _, check := range []string{"privilege", "netns", "veth", "nftables", "af_packet"} {
		if !regexp.MustCompile(`(?m)^ok\s+` + check + `\s`).MatchString(r.stdout) {
			t.Errorf("doctor: no passing %q check in\n%s", check, r.stdout)
		}
	}
	t.Logf("doctor took %v", took)

	before := portlabNetns(t)
	r, _ = runFor(t, 60*time.Second, "", "doctor", "--scenario", "port-change")
	if r.code != 0 {
		t.Fatalf("doctor --scenario port-change: exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	if !regexp.MustCompile(`(?m)^ok\s+scenario network\s+port-change: \d+ namespaces built and torn down`).MatchString(r.stdout) {
		t.Errorf("doctor --scenario: no passing scenario network check in\n%s", r.stdout)
	}
	if after := portlabNetns(t); len(after) > len(before) {
		t.Errorf("doctor --scenario left namespaces behind: before %v, after %v", before, after)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"doctor", "--scenario", "nosuch"}, `no built-in scenario named "nosuch"`},
		{"invalid scenario file", []string{"doctor", "--scenario", "../scenarios/testdata/invalid/many-errors.yaml"}, "many-errors.yaml:"},
		{"extra argument", []string{"doctor", "now"}, "unknown command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := runFor(t, 30*time.Second, "", c.args...)
			if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
				t.Errorf("%v: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", c.args, r.code, c.want, r.stdout, r.err)
			}
		})
	}
}

func TestCleanNothingPinned(t *testing.T) {
	r, _ := runFor(t, 10*time.Second, "", "clean", "--dry-run")
	if r.code != 0 {
		t.Fatalf("clean --dry-run: %+v", r)
	}
	args := []string{"clean"}
	if strings.TrimSpace(r.stdout) != "" {
		// Someone else's kept run is pinned: do not remove it, ask for a run that does not exist.
		t.Logf("namespaces pinned by someone else, left alone:\n%s", r.stdout)
		args = []string{"clean", "--run", "0000dead"}
	}
	r, _ = runFor(t, 10*time.Second, "", args...)
	if r.code != 0 || !strings.Contains(r.err, "nothing to clean") || strings.Contains(r.stdout, "removed") {
		t.Errorf("%v with nothing pinned: exit %d, want 0 and \"nothing to clean\"\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.err)
	}
	r, _ = runFor(t, 10*time.Second, "", "clean", "0000dead")
	if r.code != ExitInvalid {
		t.Errorf("clean with an argument: exit %d, want 2\nstderr: %s", r.code, r.err)
	}
}

// shortScenario is port-change cut to 5 s: every timeline event before 4 s, no gates,
// so a run with --clients 20 passes in about five seconds.
const shortScenario = `version: 1
name: port-change-short
description: port-change in five seconds, for the CLI tests.
duration: 5s
ramp: 1s
seed: 1
site:
  code: PS1
  secondaries: [SS1]
  ports:
    http: {default: 80}
    https: {default: 443}
network:
  segments:
    - {name: lan, clients: 198.18.16.0/20}
    - {name: dc}
    - {name: branch}
  routers:
    - {name: core, links: [lan, dc, branch]}
management_points:
  - {name: mp1, segment: dc}
  - {name: mp2, segment: branch, site: SS1}
clients:
  - {group: pushed, count: 15, segment: lan, policy_interval: 2s, notification: off}
  - {group: stale, count: 5, segment: lan, policy_interval: 2s, notification: off, knows_alternate: false}
timeline:
  - {at: 2s, site_ports: {http: {default: 8080}}}
  - {at: 2500ms, reconfigure: {group: pushed, method: push, over: 1s}}
`

func writeShortScenario(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "port-change-short.yaml")
	if err := os.WriteFile(path, []byte(shortScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "validate", path); r.code != 0 {
		t.Fatalf("the test scenario does not validate: %+v", r)
	}
	return path
}

var runIDRe = regexp.MustCompile(`run=([0-9a-f]+)`)

func TestCleanAfterKeep(t *testing.T) {
	scenario := writeShortScenario(t)
	before := map[string]bool{}
	for _, n := range portlabNetns(t) {
		before[n] = true
	}
	var runID string
	t.Cleanup(func() {
		// Whatever happened, leave no namespace of this run pinned.
		if runID != "" {
			run(t, "", "clean", "--run", runID)
			return
		}
		// No run ID read back: remove the runs whose namespaces appeared during the test.
		for _, n := range portlabNetns(t) {
			if m := regexp.MustCompile(`^portlab-([0-9a-f]+)-`).FindStringSubmatch(n); m != nil && !before[n] {
				run(t, "", "clean", "--run", m[1])
			}
		}
	})

	out := filepath.Join(t.TempDir(), "out")
	r, took := runFor(t, 90*time.Second, "", "run", scenario, "--clients", "20", "--keep", "-o", out)
	if m := runIDRe.FindStringSubmatch(r.err); m != nil {
		runID = m[1]
	}
	if r.code != 0 {
		t.Fatalf("run --keep: exit %d, want 0 (%v)\nstdout: %s\nstderr: %s", r.code, took, r.stdout, r.err)
	}
	t.Logf("run --keep took %v", took)
	if runID == "" {
		t.Fatalf("run --keep printed no run=ID:\n%s", r.err)
	}
	if _, err := os.Stat(filepath.Join(out, "result.json")); err != nil {
		t.Errorf("run wrote no result.json: %v", err)
	}

	prefix := "portlab-" + runID + "-"
	var kept []string
	others := false
	for _, n := range portlabNetns(t) {
		if strings.HasPrefix(n, prefix) {
			kept = append(kept, n)
		} else {
			others = true
		}
	}
	// port-change has a router, two MP segments' hosts, a client segment and the site.
	if len(kept) < 4 {
		t.Fatalf("after run --keep, ip netns list shows %v for run %s, want its namespaces", kept, runID)
	}

	// The run tells the user how to remove them: that command must work.
	t.Run("printed remove hint", func(t *testing.T) {
		m := regexp.MustCompile(`remove=(.*)`).FindStringSubmatch(r.err)
		if m == nil {
			t.Fatalf("run --keep does not say how to remove the namespaces:\n%s", r.err)
		}
		hint := strings.Fields(strings.Trim(m[1], `"`))
		if len(hint) < 2 || hint[0] != "portlab" || hint[1] != "clean" {
			t.Fatalf("remove hint %q is not a portlab clean command", m[1])
		}
		// Check it parses without removing anything: the same arguments with --dry-run.
		args := append(append([]string{}, hint[1:]...), "--dry-run")
		h := run(t, "", args...)
		if h.code != 0 {
			t.Errorf("the printed hint %q does not work: portlab %s exits %d\nstderr: %s", m[1], strings.Join(args, " "), h.code, h.err)
		}
	})

	args := []string{"clean"}
	if others {
		// Another kept run is pinned on this host: remove only ours.
		args = []string{"clean", "--run", runID}
	}
	c := run(t, "", args...)
	if c.code != 0 {
		t.Fatalf("%v: exit %d, want 0\nstdout: %s\nstderr: %s", args, c.code, c.stdout, c.err)
	}
	for _, n := range kept {
		if !strings.Contains(c.stdout, "removed /run/netns/"+n) {
			t.Errorf("%v does not report removing %s:\n%s", args, n, c.stdout)
		}
	}
	if !poll(5*time.Second, func() bool {
		for _, n := range portlabNetns(t) {
			if strings.HasPrefix(n, prefix) {
				return false
			}
		}
		return true
	}) {
		t.Errorf("after %v, ip netns list still shows run %s: %v", args, runID, portlabNetns(t))
	}
	if c := run(t, "", "clean", "--run", runID); c.code != 0 || !strings.Contains(c.err, "nothing to clean") {
		t.Errorf("second clean --run %s: exit %d, want 0 and \"nothing to clean\"\nstderr: %s", runID, c.code, c.err)
	}
}

func TestMPServe(t *testing.T) {
	p := start(t, nil, "mp", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0")
	addrRe := regexp.MustCompile(`(?m)^(http|https|ca)\s+(\S+)\s*$`)
	got := map[string]string{}
	if !poll(20*time.Second, func() bool {
		for _, m := range addrRe.FindAllStringSubmatch(p.out.String(), -1) {
			got[m[1]] = m[2]
		}
		return len(got) == 3
	}) {
		p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		t.Fatalf("mp serve printed no http, https and ca lines in time: %s", p)
	}
	for _, k := range []string{"http", "https"} {
		if !strings.HasPrefix(got[k], k+"://127.0.0.1:") || strings.HasSuffix(got[k], ":0/SMS_MP/.sms_aut?MPLIST") {
			t.Errorf("%s address %q: want %s://127.0.0.1:<picked port>/...", k, got[k], k)
		}
	}
	caFile := got["ca"]
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA file %s holds no PEM certificate", caFile)
	}

	get := func(c *http.Client, url string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<MPList>") || !strings.Contains(string(body), `Name="MP1"`) {
			t.Errorf("GET %s: %d %s, want 200 and an <MPList> naming MP1", url, resp.StatusCode, body)
		}
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	get(plain, got["http"])
	secure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
	get(secure, got["https"])
	secure.CloseIdleConnections()
	// Without the CA the certificate must not verify.
	if resp, err := plain.Get(got["https"]); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s trusting only the system roots succeeded", got["https"])
	}

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, ok := p.wait(10 * time.Second)
	if !ok {
		t.Fatalf("mp serve still running 10s after SIGINT: %s", p)
	}
	if code != 0 {
		t.Errorf("mp serve after SIGINT: exit %d, want 0: %s", code, p)
	}
	// Two good requests; the failed handshake is no request.
	if !strings.Contains(p.out.String(), "stopped: 2 requests (200:2)") {
		t.Errorf("mp serve summary does not count the two requests: %s", p)
	}
	if _, err := os.Stat(caFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary CA file %s still there after exit (stat: %v)", caFile, err)
	}
}

func TestMPServeDuration(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	r, took := runFor(t, 20*time.Second, "", "mp", "serve", "--https", "127.0.0.1:0", "--key", "ecdsa-p256", "--ca-file", ca, "--duration", "500ms")
	if r.code != 0 || !strings.Contains(r.stdout, "stopped: 0 requests") || !strings.Contains(r.stdout, "ecdsa-p256 key") {
		t.Errorf("mp serve --duration 500ms: exit %d after %v\nstdout: %s\nstderr: %s", r.code, took, r.stdout, r.err)
	}
	if _, err := os.Stat(ca); err != nil {
		t.Errorf("--ca-file %s not kept: %v", ca, err)
	}
}

func TestMPServeInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"weak key", []string{"--http", "127.0.0.1:0", "--key", "rsa-1024"}, "rsa-1024"},
		{"bad address", []string{"--http", "notanaddr"}, "notanaddr"},
		{"nothing to serve", nil, "nothing to serve"},
		{"unknown flag", []string{"--http", "127.0.0.1:0", "--frob"}, "unknown flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"mp", "serve"}, c.args...)
			r, _ := runFor(t, 10*time.Second, "", args...)
			if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
				t.Errorf("%v: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", args, r.code, c.want, r.stdout, r.err)
			}
			if strings.Contains(r.stdout, "serving") {
				t.Errorf("%v started serving: %s", args, r.stdout)
			}
		})
	}
}

// startWakeListener starts wake listen on a port the kernel picks and returns it.
func startWakeListener(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, nil, append([]string{"wake", "listen", "--bind", "127.0.0.1", "--port", "0"}, args...)...)
	re := regexp.MustCompile(`listening on udp 127\.0\.0\.1:(\d+)`)
	var port string
	if !poll(10*time.Second, func() bool {
		if m := re.FindStringSubmatch(p.errb.String()); m != nil {
			port = m[1]
			return true
		}
		return false
	}) {
		t.Fatalf("wake listen did not say where it listens: %s", p)
	}
	if port == "0" {
		t.Fatalf("wake listen says it listens on port 0: %s", p)
	}
	return p, port
}

func TestWakeSendListen(t *testing.T) {
	l, port := startWakeListener(t, "--count", "1", "--timeout", "10s")
	r, _ := runFor(t, 10*time.Second, "", "wake", "send", "--mac", "02:50:00:00:00:07", "--to", "127.0.0.1", "--port", port, "--retries", "0")
	if r.code != 0 || !strings.Contains(r.stdout, "02:50:00:00:00:07 -> 127.0.0.1:"+port+"  copy 1/1  102 bytes") {
		t.Errorf("wake send: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	code, ok := l.wait(10 * time.Second)
	if !ok {
		t.Fatalf("wake listen --count 1 still running after the packet: %s", l)
	}
	if code != 0 {
		t.Errorf("wake listen: exit %d, want 0: %s", code, l)
	}
	if !regexp.MustCompile(`mac=02:50:00:00:00:07 from=127\.0\.0\.1:\d+ to=127\.0\.0\.1 port=` + port + `\n`).MatchString(l.out.String()) {
		t.Errorf("wake listen did not print the MAC, sender and port: %s", l)
	}
}

func TestWakeSendRetriesAndPassword(t *testing.T) {
	l, port := startWakeListener(t, "--count", "3", "--timeout", "10s")
	r, _ := runFor(t, 10*time.Second, "", "wake", "send", "--mac", "02:50:00:00:00:08", "--to", "127.0.0.1", "--port", port, "--retries", "2", "--password", "11:22:33:44:55:66")
	if r.code != 0 || strings.Count(r.stdout, "108 bytes") != 3 {
		t.Errorf("wake send --retries 2 with a 6-byte password: want 3 packets of 108 bytes; exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	if code, ok := l.wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("wake listen --count 3: exit %d (exited: %v): %s", code, ok, l)
	}
	if n := strings.Count(l.out.String(), "mac=02:50:00:00:00:08"); n != 3 || !strings.Contains(l.out.String(), "password=11:22:33:44:55:66") {
		t.Errorf("wake listen saw %d of 3 copies or no password: %s", n, l)
	}
}

func TestWakeSendRefused(t *testing.T) {
	// Run in a network namespace of its own, so that even a sender that ignored its
	// own safety check could not reach outside this host.
	isolated := func(args ...string) []string {
		return append([]string{"--net", binary}, args...)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"public address", []string{"--mac", "02:50:00:00:00:07", "--to", "8.8.8.8"}, "outside 198.18.0.0/15"},
		{"public address with port", []string{"--mac", "02:50:00:00:00:07", "--to", "8.8.8.8:9"}, "8.8.8.8:9"},
		{"IPv4-mapped public address", []string{"--mac", "02:50:00:00:00:07", "--to", "::ffff:8.8.8.8"}, "outside 198.18.0.0/15"},
		{"just outside the lab", []string{"--mac", "02:50:00:00:00:07", "--to", "198.20.0.1"}, "outside 198.18.0.0/15"},
		{"limited broadcast", []string{"--mac", "02:50:00:00:00:07", "--to", "255.255.255.255"}, "outside 198.18.0.0/15"},
		{"IPv6 loopback", []string{"--mac", "02:50:00:00:00:07", "--to", "::1"}, "outside 198.18.0.0/15"},
		{"port 0", []string{"--mac", "02:50:00:00:00:07", "--to", "127.0.0.1", "--port", "0"}, "port 0"},
		{"no mac", []string{"--to", "127.0.0.1"}, "--mac"},
		{"no destination", []string{"--mac", "02:50:00:00:00:07"}, "--to"},
		{"bad mac", []string{"--mac", "02:50:00:00:00", "--to", "127.0.0.1"}, "6-byte MAC"},
		{"bad password", []string{"--mac", "02:50:00:00:00:07", "--to", "127.0.0.1", "--password", "11:22:33"}, "--password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"wake", "send"}, c.args...)
			began := time.Now()
			cmd := exec.Command("unshare", isolated(args...)...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != ExitInvalid || !strings.Contains(errb.String(), c.want) {
				t.Errorf("%v: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", args, code, c.want, out.String(), errb.String())
			}
			if out.Len() > 0 || strings.Contains(errb.String(), "copy ") {
				t.Errorf("%v sent (or tried to send) packets:\nstdout: %s\nstderr: %s", args, out.String(), errb.String())
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("%v took %v to refuse", args, d)
			}
		})
	}
}

func TestWakeListenTimeout(t *testing.T) {
	// Documented: "With --count, a timeout before the count is reached exits 5."
	l, _ := startWakeListener(t, "--count", "1", "--timeout", "1s")
	code, ok := l.wait(10 * time.Second)
	if !ok {
		t.Fatalf("wake listen --timeout 1s still running after 10s: %s", l)
	}
	if code != ExitRunFailed || !strings.Contains(l.errb.String(), "0 of 1 magic packets") {
		t.Errorf("wake listen --count 1 --timeout 1s with nothing sent: exit %d, want 5: %s", code, l)
	}

	// Without --count a timeout is the normal end.
	l, _ = startWakeListener(t, "--timeout", "300ms")
	if code, ok := l.wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("wake listen --timeout 300ms: exit %d (exited: %v), want 0: %s", code, ok, l)
	}

	// Ctrl-C is an interruption: exit 4.
	l, _ = startWakeListener(t, "--count", "1")
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, ok := l.wait(10 * time.Second); !ok || code != ExitInterrupted {
		t.Errorf("wake listen after SIGINT: exit %d (exited: %v), want 4: %s", code, ok, l)
	}

	for _, args := range [][]string{
		{"wake", "listen", "--count", "-1", "--port", "0", "--bind", "127.0.0.1"},
		{"wake", "listen", "--timeout", "-1s", "--port", "0", "--bind", "127.0.0.1"},
		{"wake", "listen", "--bind", "notanip", "--port", "0"},
		{"wake", "listen", "--iface", "nosuchif0"},
	} {
		r, _ := runFor(t, 10*time.Second, "", args...)
		if r.code != ExitInvalid {
			t.Errorf("%v: exit %d, want 2\nstderr: %s", args, r.code, r.err)
		}
	}
}

func TestRunInvalid(t *testing.T) {
	short := writeShortScenario(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"nosuch"}, `no built-in scenario named "nosuch"`},
		{"too many clients", []string{"--clients", "999999", "port-change"}, "out of range"},
		{"fewer clients than groups", []string{"--clients", "1", "port-change"}, "at least one client each"},
		{"negative clients", []string{"--clients", "-5", short}, "--clients"},
		{"log format", []string{"--log-format", "xml", "port-change"}, `--log-format "xml"`},
		{"no scenario", nil, "accepts 1 arg"},
		{"two scenarios", []string{"port-change", "wake-up"}, "accepts 1 arg"},
		{"invalid scenario file", []string{"../scenarios/testdata/invalid/many-errors.yaml"}, "many-errors.yaml:7:25"},
		{"unknown flag", []string{"--frob", "port-change"}, "unknown flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"run", "-o", out}, c.args...)
			// Invalid input must be refused before anything is built: a run that starts
			// anyway is stopped after 15 s and fails the test.
			r, took := runFor(t, 15*time.Second, "", args...)
			if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
				t.Errorf("%v: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", args, r.code, c.want, r.stdout, r.err)
			}
			if strings.Contains(r.err, "building network") {
				t.Errorf("%v built the network before refusing (%v)", args, took)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%v created the results directory (stat: %v)", args, err)
			}
		})
	}
}

// agentLines parses the JSON lines an agent wrote.
func agentLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("agent stdout line is not JSON: %q: %v", sc.Text(), err)
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

func TestAgentModes(t *testing.T) {
	for _, mode := range []string{"mp", "fleet", "site"} {
		t.Run(mode+"/bogus command", func(t *testing.T) {
			r, took := runFor(t, 5*time.Second, "{\"cmd\":\"bogus\",\"id\":1}\n", "agent", mode)
			answered := false
			for _, m := range agentLines(t, r.stdout) {
				if m["type"] == "error" && m["id"] == float64(1) && m["error"] != "" {
					answered = true
				}
			}
			if !answered && (r.code == 0 || strings.TrimSpace(r.err) == "") {
				t.Errorf("agent %s: no error line for id 1 and no failure (exit %d, %v)\nstdout: %s\nstderr: %s", mode, r.code, took, r.stdout, r.err)
			}
		})
		t.Run(mode+"/stdin closed", func(t *testing.T) {
			r, took := runFor(t, 2*time.Second, "", "agent", mode)
			if r.code != 0 && r.code != ExitRunFailed {
				t.Errorf("agent %s with stdin closed: exit %d after %v\nstderr: %s", mode, r.code, took, r.err)
			}
		})
		t.Run(mode+"/not JSON", func(t *testing.T) {
			r, _ := runFor(t, 2*time.Second, "not json\n", "agent", mode)
			if r.code == 0 || !strings.Contains(r.err, "not json") {
				t.Errorf("agent %s given a line that is not JSON: exit %d, want non-zero naming the line\nstdout: %s\nstderr: %s", mode, r.code, r.stdout, r.err)
			}
		})
		t.Run(mode+"/stdin held open, then SIGTERM", func(t *testing.T) {
			// An agent whose orchestrator is stopping gets SIGTERM: it must exit promptly.
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			p := start(t, pr, "agent", mode)
			pr.Close()
			time.Sleep(200 * time.Millisecond) // let it reach its read loop
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if _, ok := p.wait(3 * time.Second); !ok {
				t.Errorf("agent %s still running 3s after SIGTERM: %s", mode, p)
			}
		})
	}
}
