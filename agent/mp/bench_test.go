package mp

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/wire"
)

// The benchmarks run the MP as its own process (this test binary re-executed as the
// agent: the same RunAgent as `portlab agent mp`), as a scenario run does, so its CPU and RSS read from /proc/<pid> hold nothing of the load generator.

// startAgentProc starts `portlab agent mp` with cfg and returns its connection, ready
// data and PID.
func startAgentProc(b testing.TB, cfg Config) (*agentConn, ReadyData, int) {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = nil // the agent's log; errors reach the benchmark as agent replies
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	inR, inW := io.Pipe()
	go func() { io.Copy(stdin, inR); stdin.Close() }()
	a := &agentConn{t: b, in: inW, out: agent.NewReader(stdout), msgs: make(chan agent.Message, 64), done: make(chan error, 1)}
	go a.pump()
	b.Cleanup(func() {
		inW.Close() // the agent exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() // our own child, by PID
			<-done
		}
	})
	var ready ReadyData
	a.reply(a.send(CmdConfig, cfg), &ready)
	return a, ready, cmd.Process.Pid
}

func (a *agentConn) snapshot() Snapshot {
	var s Snapshot
	a.reply(a.send(CmdSnapshot, nil), &s)
	return s
}

func benchConfig(key string) Config {
	return Config{Name: "mp1", SiteCode: "PS1", TLS: TLSConfig{Key: key, Resumption: true}, ServiceTime: ServiceTime{Dist: "fixed"},
		Listen: Listen{HTTP: lo0, HTTPS: lo0, Notification: lo0}}
}

func caPool(b testing.TB, pemText string) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(pemText)) {
		b.Fatal("no CA in ready data")
	}
	return p
}

// BenchmarkMPList: requests/s and MP CPU µs per request for GET MPLIST, per transport
// and connection reuse. Run: go test -run XXX -bench MPList -benchtime 2s -count 3.
func BenchmarkMPList(b *testing.B) {
	cases := []struct {
		name, key   string
		https       bool
		keepAlive   bool
		resumeCache bool
	}{
		{"http-keepalive", KeyECDSAP256, false, true, false},
		{"https-keepalive-ecdsa", KeyECDSAP256, true, true, false},
		{"https-keepalive-rsa2048", KeyRSA2048, true, true, false},
		{"https-handshake-ecdsa", KeyECDSAP256, true, false, false},
		{"https-handshake-rsa2048", KeyRSA2048, true, false, false},
		{"https-resumed-rsa2048", KeyRSA2048, true, false, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			_, ready, pid := startAgentProc(b, benchConfig(tc.key))
			url := "http://" + ready.Addrs.HTTP.String() + wire.PathAut + "?" + wire.QueryMPList
			if tc.https {
				url = "https://" + ready.Addrs.HTTPS.String() + wire.PathAut + "?" + wire.QueryMPList
			}
			tcfg := &tls.Config{RootCAs: caPool(b, ready.CACertPEM)}
			if tc.resumeCache {
				tcfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
			}
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: tcfg, DisableKeepAlives: !tc.keepAlive, MaxIdleConnsPerHost: 64}}
			get := func() error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return &net.AddrError{Err: resp.Status, Addr: url}
				}
				return nil
			}
			if err := get(); err != nil { // warm up: connections, first handshake
				b.Fatal(err)
			}
			before := ReadProc(pid)
			start := time.Now()
			b.ResetTimer()
			b.SetParallelism(4) // 4 × GOMAXPROCS client goroutines keep the MP busy
			var errMu sync.Mutex
			var firstErr error
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						errMu.Lock()
						firstErr = err
						errMu.Unlock()
						return
					}
				}
			})
			b.StopTimer()
			elapsed := time.Since(start)
			after := ReadProc(pid)
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			cpu := after.CPUUserSeconds + after.CPUSystemSeconds - before.CPUUserSeconds - before.CPUSystemSeconds
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(cpu*1e6/float64(b.N), "mp-cpu-µs/req")
		})
	}
}

// BenchmarkIdleSession: MP memory (RSS) per idle notification client, TCP session
// versus a held long poll. Run: go test -run XXX -bench IdleSession -benchtime 1x -count 3.
func BenchmarkIdleSession(b *testing.B) {
	const n = 1000
	for _, transport := range []string{"tcp", "http", "https"} {
		b.Run(transport, func(b *testing.B) {
			cfg := benchConfig(KeyECDSAP256)
			cfg.Limits.LongPollMaxWait = Duration(5 * time.Minute)
			a, ready, _ := startAgentProc(b, cfg)
			before := a.snapshot().Process
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			tcfg := &tls.Config{RootCAs: caPool(b, ready.CACertPEM)}
			for i := range n {
				guid := "guid-" + strconv.Itoa(i)
				var c net.Conn
				var err error
				switch transport {
				case "tcp":
					c = tcpLogin(b, ready.Addrs.Notification, guid, "g")
				case "http":
					c, err = net.Dial("tcp", ready.Addrs.HTTP.String())
				case "https":
					c, err = tls.Dial("tcp", ready.Addrs.HTTPS.String(), tcfg)
				}
				if err != nil {
					b.Fatal(err)
				}
				if transport != "tcp" {
					_, err = io.WriteString(c, "GET "+wire.PathLongPoll+"?guid="+guid+"&group=g&wait=5m HTTP/1.1\r\nHost: mp1\r\n\r\n")
					if err != nil {
						b.Fatal(err)
					}
				}
				conns = append(conns, c)
			}
			var snap Snapshot
			waitFor(b, "every session held", func() bool {
				snap = a.snapshot()
				return snap.Notify.Sessions[transport] == n
			})
			b.ReportMetric(float64(snap.Process.RSSBytes-before.RSSBytes)/n/1024, "KiB-RSS/session")
			b.ReportMetric((float64(snap.Process.HeapInuse)-float64(before.HeapInuse))/n/1024, "KiB-heap/session")
		})
	}
}
