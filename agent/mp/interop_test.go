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

func TestMain(m *testing.M) {
	if os.Getenv(agentEnv) == "1" {
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		if err := agent.Serve(context.Background(), os.Stdin, os.Stdout, log, &Agent{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(5)
		}
		os.Exit(0)
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

func TestCurlInterop(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	p := startServe(t)
	for _, role := range []string{"http", "https"} {
		args := []string{"-sS", "--fail", "--max-time", "10", "-A", wire.UserAgent, p.urls[role]}
		if role == "https" {
			args = append([]string{"--cacert", p.ca}, args...)
		}
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "<MPList>") {
			t.Fatalf("curl %s: %v\n%s", role, err, out)
		}
	}
	// Without the CA, curl must refuse the certificate.
	if out, err := exec.Command(curl, "-sS", "--max-time", "10", p.urls["https"]).CombinedOutput(); err == nil {
		t.Fatalf("curl trusted the MP without the CA: %s", out)
	}
	if last := p.stop(t); !strings.Contains(last, "stopped: 2 requests (200:2)") {
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
