package mp

import (
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portlab/portlab/metrics"
)

// Transports in counter arrays.
var transportNames = [3]string{"http", "https", "tcp"}

func transportIndex(t string) int {
	switch t {
	case "http":
		return 0
	case "https":
		return 1
	}
	return 2
}

type reqKey struct {
	endpoint  string
	port      int
	transport string
	status    int
}

// stats are the live counters: atomics and a lock-free map of atomics, so the request
// path never waits on a lock held by another request.
type stats struct {
	requests                       sync.Map // reqKey -> *atomic.Uint64
	bytesIn, bytesOut              [3]atomic.Uint64
	open                           [3]atomic.Int64
	accepted                       [3]atomic.Uint64
	openTotal                      atomic.Int64
	rejected                       atomic.Uint64
	inflateWaits                   atomic.Uint64 // CCM messages that waited for a decompression slot
	tlsFull, tlsResumed, tlsFailed atomic.Uint64
}

func newStats() *stats { return &stats{} }

func (st *stats) countRequest(k reqKey) {
	if v, ok := st.requests.Load(k); ok {
		v.(*atomic.Uint64).Add(1)
		return
	}
	v, _ := st.requests.LoadOrStore(k, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// Snapshot is a JSON-friendly copy of every counter at one moment. Counters are
// cumulative since New; gauges (open connections, sessions) are current.
type Snapshot struct {
	Time    time.Time `json:"time"`
	Name    string    `json:"name"`
	Running bool      `json:"running"`
	// Actual listener addresses (empty when stopped).
	Addrs Listen `json:"addrs"`
	// Requests by endpoint, port, transport and status, sorted.
	Requests []RequestCount `json:"requests"`
	// Connection and byte counters by transport: http, https, tcp (notification).
	Transports map[string]TransportStats `json:"transports"`
	// Connections reset at accept because max_connections was reached.
	RejectedConns uint64 `json:"rejected_conns"`
	// CCM messages that waited for one of Limits.MaxInflate decompression slots.
	InflateWaits uint64           `json:"inflate_waits,omitempty"`
	TLS          TLSStats         `json:"tls"`
	Auth         AuthSnapshot     `json:"windowsauth"`
	Registry     RegistrySnapshot `json:"registry"`
	Notify       NotifySnapshot   `json:"notify"`
	Process      ProcStats        `json:"process"`
}

// RequestCount is one request counter.
type RequestCount struct {
	Endpoint  string `json:"endpoint"`
	Port      int    `json:"port"`
	Transport string `json:"transport"`
	Status    int    `json:"status"`
	Count     uint64 `json:"count"`
}

// TransportStats are the connection counters of one transport.
type TransportStats struct {
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	Open     int64  `json:"open_conns"`
	Accepted uint64 `json:"accepted_conns"`
}

// TLSStats counts TLS handshakes.
type TLSStats struct {
	Full    uint64 `json:"full"`
	Resumed uint64 `json:"resumed"`
	Failed  uint64 `json:"failed"`
}

// Requests returns the total of the request counters matching endpoint ("" any),
// transport ("" any) and status (0 any).
func (s Snapshot) RequestTotal(endpoint, transport string, status int) uint64 {
	var n uint64
	for _, r := range s.Requests {
		if (endpoint == "" || r.Endpoint == endpoint) && (transport == "" || r.Transport == transport) && (status == 0 || r.Status == status) {
			n += r.Count
		}
	}
	return n
}

// Snapshot returns the current counters, the push latency histograms and the process's
// CPU and RSS (read from /proc/self now).
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	snap := Snapshot{Time: time.Now(), Name: s.cfg.Name, Running: s.running, Addrs: s.addrsLocked()}
	s.mu.Unlock()
	s.st.requests.Range(func(k, v any) bool {
		key := k.(reqKey)
		snap.Requests = append(snap.Requests, RequestCount{
			Endpoint: key.endpoint, Port: key.port, Transport: key.transport, Status: key.status,
			Count: v.(*atomic.Uint64).Load(),
		})
		return true
	})
	sort.Slice(snap.Requests, func(i, j int) bool {
		a, b := snap.Requests[i], snap.Requests[j]
		if a.Endpoint != b.Endpoint {
			return a.Endpoint < b.Endpoint
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Transport != b.Transport {
			return a.Transport < b.Transport
		}
		return a.Status < b.Status
	})
	snap.Transports = map[string]TransportStats{}
	for i, name := range transportNames {
		snap.Transports[name] = TransportStats{
			BytesIn: s.st.bytesIn[i].Load(), BytesOut: s.st.bytesOut[i].Load(),
			Open: s.st.open[i].Load(), Accepted: s.st.accepted[i].Load(),
		}
	}
	snap.RejectedConns = s.st.rejected.Load()
	snap.InflateWaits = s.st.inflateWaits.Load()
	snap.TLS = TLSStats{Full: s.st.tlsFull.Load(), Resumed: s.st.tlsResumed.Load(), Failed: s.st.tlsFailed.Load()}
	snap.Auth = s.auth.snapshot()
	snap.Registry = RegistrySnapshot{Registered: s.reg.count(), Forgotten: s.reg.forgotten.Load(), Unknown: s.reg.unknown.Load()}
	snap.Notify = s.hub.snapshot()
	snap.Process = ReadProc(0)
	return snap
}

// ProcStats is a process's cost as /proc shows it.
type ProcStats struct {
	PID              int     `json:"pid"`
	CPUUserSeconds   float64 `json:"cpu_user_s"`
	CPUSystemSeconds float64 `json:"cpu_system_s"`
	RSSBytes         int64   `json:"rss_bytes"`
	Threads          int     `json:"threads"`
	// Goroutines and Go heap in use, for this process only (0 for another pid).
	Goroutines int    `json:"goroutines,omitempty"`
	HeapInuse  uint64 `json:"heap_inuse_bytes,omitempty"`
	Mallocs    uint64 `json:"mallocs,omitempty"` // heap allocations so far (allocations per request)
	Err        string `json:"error,omitempty"`
}

// ReadProc reads this MP's cost from /proc (pid 0: this process, which also reports
// its goroutines and Go heap). Errors go into Err: a snapshot is never refused for want
// of /proc.
func ReadProc(pid int) ProcStats {
	self := pid == 0
	if self {
		pid = os.Getpid()
	}
	ps := ProcStats{PID: pid}
	if self {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		ps.Goroutines, ps.HeapInuse, ps.Mallocs = runtime.NumGoroutine(), ms.HeapInuse, ms.Mallocs
	}
	s, err := metrics.ReadProc("/proc", pid)
	if err != nil {
		ps.Err = err.Error()
		return ps
	}
	ps.CPUUserSeconds, ps.CPUSystemSeconds = s.CPUUser, s.CPUSystem
	ps.RSSBytes, ps.Threads = int64(s.RSS), s.Threads
	return ps
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
