package mp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// BenchmarkOverhead puts the MP beside a minimal net/http server doing the same I/O:
// for each request a client's cycle makes, the minimal server reads the same request
// and writes an answer of the same status, headers and size, and nothing else. Both run
// as their own processes; CPU per request is read from /proc/<pid> for each, side by
// side in one run, over the connection pattern the fleet uses (a new connection per
// cycle: the windowsauth 401 and the post on it for a CCM message, one GET otherwise)
// and over keep-alive connections. The MP's extra over the minimal server is the cost of
// its work (parsing, the registry, the reply) and its overhead. Run:
//
//	go test ./agent/mp -run '^$' -bench Overhead -benchtime 3s -count 3
func BenchmarkOverhead(b *testing.B) {
	for _, tc := range overheadCases(b) {
		for _, pattern := range []string{"new-conn", "keepalive"} {
			b.Run(tc.name+"/"+pattern, func(b *testing.B) {
				cfg := benchConfig(KeyECDSAP256)
				cfg.PolicyBytes = 4096
				a, ready, mpPID := startAgentProc(b, cfg)
				mpURL := "http://" + ready.Addrs.HTTP.String()
				// What the MP answers this request with, so the minimal server answers
				// the same bytes' worth.
				canned := cannedAnswers(b, mpURL, tc)
				minURL, minPID := startMinimal(b, canned)

				sideBySide(b, a, mpPID, mpURL, minPID, minURL, func(base string) int {
					return driveRequests(b, base, tc, pattern == "keepalive", b.N)
				})
			})
		}
	}
}

// sideBySide drives the MP (its agent a, process mpPID, at mpAt) and then the minimal
// server (minPID at minAt) with the same drive, which returns the requests it made, and
// reports each one's CPU per request from /proc, their ratio and the MP's allocations
// per request.
func sideBySide(b *testing.B, a *agentConn, mpPID int, mpAt string, minPID int, minAt string, drive func(at string) int) {
	run := func(at string, pid int) (cpuUS, allocs float64) {
		before := ReadProc(pid)
		var snap0 Snapshot
		if pid == mpPID {
			snap0 = a.snapshot()
		}
		n := drive(at)
		after := ReadProc(pid)
		cpu := after.CPUUserSeconds + after.CPUSystemSeconds - before.CPUUserSeconds - before.CPUSystemSeconds
		if pid == mpPID {
			allocs = float64(a.snapshot().Process.Mallocs-snap0.Process.Mallocs) / float64(n)
		}
		return cpu * 1e6 / float64(n), allocs
	}
	b.ResetTimer()
	mpCPU, mpAllocs := run(mpAt, mpPID)
	minCPU, _ := run(minAt, minPID)
	b.StopTimer()
	b.ReportMetric(mpCPU, "mp-µs/req")
	b.ReportMetric(minCPU, "min-µs/req")
	if minCPU > 0 {
		b.ReportMetric(mpCPU/minCPU, "ratio")
	}
	b.ReportMetric(mpAllocs, "mp-allocs/req")
}

// overheadCase is one request a client's cycle makes: the requests sent on one
// connection, in order (the last is the one measured; a 401 leg comes before it).
type overheadCase struct {
	name string
	reqs []benchRequest
}

func overheadCases(b *testing.B) []overheadCase {
	rs := map[string]benchRequest{}
	for _, r := range benchRequests(b) {
		rs[r.name] = r
	}
	winauth := func(r benchRequest) benchRequest {
		w := r
		w.name, w.path = "windowsauth-401", wire.PathRequestWinAuth
		return w
	}
	return []overheadCase{
		{"registration", []benchRequest{winauth(rs["registration"]), rs["registration"]}},
		{"policy-assignments", []benchRequest{winauth(rs["policy-assignments"]), rs["policy-assignments"]}},
		{"policy-body", []benchRequest{rs["policy-body"]}},
		{"ddr", []benchRequest{winauth(rs["ddr"]), rs["ddr"]}},
		{"mplist", []benchRequest{rs["mplist"]}},
		{"long-poll", []benchRequest{{name: "long-poll", method: http.MethodGet, path: wire.PathLongPoll + "?guid=GUID:bench&group=g&wait=0s"}}},
	}
}

// canned is a minimal server's answer for one request of a case.
type canned struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Size    int               `json:"size"`
}

// cannedAnswers asks the MP once for each request of tc and records its answers.
func cannedAnswers(b *testing.B, base string, tc overheadCase) []canned {
	var out []canned
	c := &http.Client{Timeout: 5 * time.Second}
	for _, r := range tc.reqs {
		req, _ := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := map[string]string{}
		for _, k := range []string{"Content-Type", "Server", "Www-Authenticate"} {
			if v := resp.Header.Values(k); len(v) > 0 {
				h[k] = strings.Join(v, "\x00")
			}
		}
		out = append(out, canned{Status: resp.StatusCode, Headers: h, Size: len(body)})
	}
	return out
}

// minimalEnv makes the test binary a minimal server answering with the JSON canned
// answers it holds (in request order on each connection).
const minimalEnv = "PORTLAB_MP_TEST_MINIMAL"

func startMinimal(b *testing.B, answers []canned) (string, int) {
	b.Helper()
	spec, _ := json.Marshal(answers)
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), minimalEnv+"="+string(spec))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("minimal server: %v", err)
	}
	return "http://" + strings.TrimSpace(line), cmd.Process.Pid
}

// serveMinimal is the minimal server: net/http, one handler, answers picked by the
// request's position on its connection (the case's requests come in order), the body
// read and a body of the canned size written.
func serveMinimal(spec string) {
	var answers []canned
	if err := json.Unmarshal([]byte(spec), &answers); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bodies := make([][]byte, len(answers))
	for i, a := range answers {
		bodies[i] = bytes.Repeat([]byte("x"), a.Size)
	}
	type pos struct{ n int }
	type key struct{}
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, key{}, &pos{}) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.Context().Value(key{}).(*pos)
			i := p.n % len(answers)
			p.n++
			io.Copy(io.Discard, r.Body)
			a := answers[i]
			for k, v := range a.Headers {
				for _, x := range strings.Split(v, "\x00") {
					w.Header().Add(k, x)
				}
			}
			w.Header().Set("Content-Length", fmt.Sprint(a.Size))
			w.WriteHeader(a.Status)
			w.Write(bodies[i])
		}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(l.Addr().String())
	srv.Serve(l)
}

// driveRequests sends n cycles of tc (its requests in order on one connection; a new
// connection per cycle unless keepalive) from 8 goroutines and returns n.
func driveRequests(b *testing.B, base string, tc overheadCase, keepalive bool, n int) int {
	var next sync.Mutex
	left := n
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			// One connection per goroutine at a time, so a cycle's requests share it.
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				for i, r := range tc.reqs {
					req, _ := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
					for k, v := range r.header {
						req.Header.Set(k, v)
					}
					req.Close = !keepalive && i == len(tc.reqs)-1
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	return n * len(tc.reqs)
}
