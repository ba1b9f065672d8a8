package mp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/wire"
)

// The portlab binary, built once per test process into a directory TestMain removes.
type binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func (b *binary) get(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(b.dir, "portlab")
		out, err := exec.Command("go", "build", "-o", b.path, "github.com/portlab/portlab/cmd/portlab").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// bin is the test binary's shared build; set up by TestMain (immutable afterwards but
// for its sync.Once).
var bin *binary

// agentEnv makes the test binary run as `portlab agent mp` (benchmarks re-execute
// themselves, so they do not depend on the rest of the module building).
const agentEnv = "PORTLAB_MP_TEST_AGENT"

// runTestAgent is `portlab agent mp` in the test binary, with a CPU profile when
// agent.ProfileEnv names a file: FILE.PID, as a benchmark starts several.
func runTestAgent() int {
	if path := os.Getenv(agent.ProfileEnv); path != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid())); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := agent.Serve(context.Background(), os.Stdin, os.Stdout, log, &Agent{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	return 0
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(minimalEnv); spec != "" {
		serveMinimal(spec)
		os.Exit(0)
	}
	if os.Getenv(minimalNotifyEnv) == "1" {
		serveMinimalNotify()
		os.Exit(0)
	}
	if os.Getenv(agentEnv) == "1" {
		os.Exit(runTestAgent())
	}
	dir, err := os.MkdirTemp("", "portlab-mp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = &binary{dir: dir}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveProc is a running `portlab mp serve`.
type serveProc struct {
	cmd   *exec.Cmd
	urls  map[string]string // role -> URL printed
	ca    string
	lines chan string
}

// startServe runs `portlab mp serve` on ephemeral loopback ports and reads the
// addresses it prints.
func startServe(t testing.TB, args ...string) *serveProc {
	t.Helper()
	all := append([]string{"mp", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--notification", "127.0.0.1:0",
		"--ca-file", filepath.Join(t.TempDir(), "ca.pem"), "--duration", "5m"}, args...)
	cmd := exec.Command(bin.get(t), all...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, urls: map[string]string{}, lines: make(chan string, 16)}
	t.Cleanup(func() {
		cmd.Process.Kill() // only our own child, by PID
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if f[0] == "ca" {
				p.ca = f[1]
				break
			}
			p.urls[f[0]] = f[1]
		}
	}
	if p.ca == "" {
		t.Fatalf("mp serve printed no CA line: %v", sc.Err())
	}
	go func() {
		defer close(p.lines)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

// stop interrupts the server and returns its last output line; it must exit 0.
func (p *serveProc) stop(t testing.TB) string {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var last string
	for l := range p.lines {
		last = l
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("mp serve after Ctrl-C: %v", err)
	}
	return last
}

func needTool(t *testing.T, name, pkg string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s): interop test skipped", name, pkg)
	}
	return path
}

// TestCurlInterop: a client written by someone else (curl, with bodies from `portlab mp
// message`) registers with `portlab mp serve`, gets its SMSID, lists its policy
// assignments and downloads a policy body; windowsauth answers an anonymous caller 401
// with the Negotiate and NTLM offers, and curl's own NTLM completes the handshake.
func TestCurlInterop(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	p := startServe(t, "--policy-bytes", "6000")
	for _, role := range []string{"http", "https"} {
		args := []string{"-sS", "--fail", "--max-time", "10", "-A", wire.UserAgent, p.urls[role]}
		if role == "https" {
			args = append([]string{"--cacert", p.ca}, args...)
		}
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "<MPList>") || !strings.Contains(string(out), `Name="MP1"`) {
			t.Fatalf("curl %s: %v\n%s", role, err, out)
		}
	}
	// Without the CA, curl must refuse the certificate.
	if out, err := exec.Command(curl, "-sS", "--max-time", "10", p.urls["https"]).CombinedOutput(); err == nil {
		t.Fatalf("curl trusted the MP without the CA: %s", out)
	}
	base := strings.TrimSuffix(p.urls["http"], wire.PathAut+"?"+wire.QueryMPList)
	dir := t.TempDir()
	message := func(name string, args ...string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		cmd := exec.Command(bin.get(t), append([]string{"mp", "message"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("portlab mp message %v: %v", args, err)
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	post := func(path, body string, extra ...string) (int, []byte, string) {
		t.Helper()
		reply := filepath.Join(dir, "reply")
		args := append([]string{"-sS", "--max-time", "10", "-X", wire.MethodCCMPost, "-A", wire.UserAgentCCMPost,
			"-H", "Content-Type: " + wire.ContentTypeCCM, "--data-binary", "@" + body, "-o", reply, "-D", "-", "-w", "\n%{http_code}"}, extra...)
		out, err := exec.Command(curl, append(args, base+path)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", path, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		code, _ := strconv.Atoi(lines[len(lines)-1])
		b, _ := os.ReadFile(reply)
		return code, b, string(out)
	}
	reg := message("reg.bin", "--endpoint", wire.EndpointRegistration, "--client", "CURL1")
	code, _, headers := post(wire.PathRequestWinAuth, reg)
	if code != 401 || !strings.Contains(headers, "Www-Authenticate: Negotiate") || !strings.Contains(headers, "Www-Authenticate: NTLM") {
		t.Fatalf("windowsauth, anonymous: %d\n%s", code, headers)
	}
	code, body, _ := post(wire.PathRequest, reg)
	_, payload, err := wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	r, rerr := wire.ParseRegistrationReply(payload)
	if code != 200 || err != nil || rerr != nil || !strings.HasPrefix(r.SMSID, "GUID:") {
		t.Fatalf("registration by curl: %d %v %v %+v", code, err, rerr, r)
	}
	// curl's NTLM (a computer account) completes negotiate, challenge, authenticate on one
	// connection and is served the same SMSID.
	code, body, headers = post(wire.PathRequestWinAuth, reg, "--ntlm", "-u", `CORP\CURL1$:`)
	_, payload, _ = wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	if r2, err := wire.ParseRegistrationReply(payload); code != 200 || err != nil || r2.SMSID != r.SMSID {
		t.Fatalf("NTLM registration: %d %v %+v\n%s", code, err, r2, headers)
	}
	pol := message("pol.bin", "--endpoint", wire.EndpointPolicy, "--client", "CURL1", "--smsid", r.SMSID)
	code, body, _ = post(wire.PathRequest, pol)
	_, payload, err = wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	policies, perr := wire.AppendPolicies(nil, payload)
	if code != 200 || err != nil || perr != nil || len(policies) == 0 {
		t.Fatalf("policy assignments by curl: %d %v %v %+v", code, err, perr, policies)
	}
	host := strings.TrimPrefix(base, "http://")
	for _, pl := range policies {
		url := wire.ExpandMP(pl.Location, host)
		out, err := exec.Command(curl, "-sS", "--fail", "-g", "--max-time", "10", "-A", wire.UserAgent, url).Output()
		if info, perr := wire.ParsePolicyBody(out); err != nil || len(out) != 6000 || perr != nil || info.ID != pl.ID {
			t.Fatalf("policy body %s: %v, %d bytes, %v", url, err, len(out), perr)
		}
	}
	last := p.stop(t)
	if !strings.Contains(last, "1 registered") || !strings.Contains(last, "NTLM 1 authenticated") {
		t.Fatalf("summary: %q", last)
	}
}

func TestWrkInterop(t *testing.T) {
	wrk := needTool(t, "wrk", "wrk")
	if testing.Short() {
		t.Skip("5 s load")
	}
	p := startServe(t, "--service-time", "0s")
	for _, role := range []string{"http", "https"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, wrk, "-t2", "-c16", "-d5s", "--timeout", "5s", p.urls[role]).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("wrk %s: %v\n%s", role, err, out)
		}
		s := string(out)
		t.Logf("wrk %s:\n%s", role, s)
		if strings.Contains(s, "Socket errors") || strings.Contains(s, "Non-2xx") {
			t.Fatalf("wrk %s saw errors:\n%s", role, s)
		}
		m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("wrk %s: no request count in its output:\n%s", role, s)
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Fatalf("wrk %s made no requests:\n%s", role, s)
		}
	}
	p.stop(t)
}
