package mp

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// BenchmarkRequests: MP CPU µs per request for each request a client's cycle makes
// (registration, policy assignments, a policy body, a heartbeat DDR, MPLIST), over HTTP
// keep-alive so the figure is the MP's work on the request, not TCP setup. The MP runs
// as its own process; CPU is read from /proc/<pid>. Run:
//
//	go test ./agent/mp -run '^$' -bench Requests -benchtime 2s -count 3
func BenchmarkRequests(b *testing.B) {
	for _, tc := range benchRequests(b) {
		b.Run(tc.name, func(b *testing.B) {
			cfg := benchConfig(KeyECDSAP256)
			cfg.PolicyBytes = 4096
			_, ready, pid := startAgentProc(b, cfg)
			base := "http://" + ready.Addrs.HTTP.String()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			do := func() error {
				req, err := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
				if err != nil {
					return err
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && !(resp.StatusCode == 401 && tc.path == wire.PathRequestWinAuth) {
					return &statusErr{resp.Status}
				}
				return nil
			}
			if err := do(); err != nil {
				b.Fatal(err)
			}
			before := ReadProc(pid)
			start := time.Now()
			b.ResetTimer()
			b.SetParallelism(4)
			var mu sync.Mutex
			var firstErr error
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := do(); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
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

type statusErr struct{ s string }

func (e *statusErr) Error() string { return e.s }

type benchRequest struct {
	name, method, path string
	header             map[string]string
	body               []byte
}

// benchRequests are the requests of one client cycle, as the fleet sends them (the
// real wire format; the windowsauth 401 leg is its own case).
func benchRequests(b *testing.B) []benchRequest {
	ct := map[string]string{"Content-Type": wire.ContentTypeCCM}
	smsid := "GUID:4E15B822-28CD-4640-9F11-136EBA5F36BC"
	reg := ccmRequest(b, wire.EndpointRegistration, "", wire.AppendRegistrationRequest(nil, &wire.RegistrationRequest{NetBIOSName: "CLIENT1", FQDN: "client1.corp.example"}))
	pol := ccmRequest(b, wire.EndpointPolicy, smsid, wire.AppendRequestAssignments(nil, &wire.AssignmentRequest{ClientID: smsid, FQDN: "client1.corp.example", NetBIOSName: "CLIENT1", PolicySource: "SMS:PS1"}))
	ddr := ccmRequest(b, wire.EndpointDdrEndpoint, smsid, wire.AppendHeartbeatDDR(nil, &wire.HeartbeatDDR{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: "CLIENT1"}, FQDN: "client1.corp.example", SiteCode: "PS1"}))
	p := wire.MachinePolicies()[0]
	body := wire.ExpandMP(p.Location, "")
	body = body[strings.Index(body, wire.PathPolicy):]
	return []benchRequest{
		{"registration", wire.MethodCCMPost, wire.PathRequest, ct, reg},
		{"windowsauth-401", wire.MethodCCMPost, wire.PathRequestWinAuth, ct, pol},
		{"policy-assignments", wire.MethodCCMPost, wire.PathRequest, ct, pol},
		{"policy-body", http.MethodGet, body, nil, nil},
		{"ddr", wire.MethodCCMPost, wire.PathRequest, ct, ddr},
		{"mplist", http.MethodGet, wire.PathAut + "?" + wire.QueryMPList, nil, nil},
	}
}
