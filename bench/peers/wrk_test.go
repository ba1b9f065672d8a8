package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// connCounter is an HTTP server's view of a load: requests on each connection.
type connCounter struct {
	mu     sync.Mutex
	perCon map[net.Conn]int
	agents map[string]int
}

type connKey struct{}

func (c *connCounter) handler(w http.ResponseWriter, r *http.Request) {
	conn := r.Context().Value(connKey{}).(net.Conn)
	c.mu.Lock()
	c.perCon[conn]++
	c.agents[r.UserAgent()]++
	c.mu.Unlock()
	w.Write([]byte("<MPList/>"))
}

// histogram counts connections by the requests they carried.
func (c *connCounter) histogram() (byCount map[int]int, requests int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byCount = map[int]int{}
	for _, n := range c.perCon {
		byCount[n]++
		requests += n
	}
	return byCount, requests
}

// TestWrkScript runs the real wrk with the generated script against a local server and
// checks the pattern and the rate: with k requests per connection, (nearly) every
// connection carries exactly k, and the paced rate holds.
func TestWrkScript(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("needs wrk (Debian package wrk; make test-tools installs it)")
	}
	for _, k := range []int{1, 2, 3} {
		t.Run(patternName(k), func(t *testing.T) {
			cc := &connCounter{perCon: map[net.Conn]int{}, agents: map[string]int{}}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(cc.handler))
			srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, connKey{}, c)
			}
			srv.Start()
			defer srv.Close()
			ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
			const rate = 400
			l := load{URL: srv.URL + wire.PathAut + "?" + wire.QueryMPList, Addr: ap, Rate: rate, Duration: 2 * time.Second, K: k, Conns: 8}
			w := &wrk{bin: bin, dir: t.TempDir()}
			o, err := w.Run(context.Background(), l)
			if err != nil {
				t.Fatal(err)
			}
			byCount, requests := cc.histogram()
			t.Logf("k=%d: %d requests at %.0f/s, CPU %s; connections by requests carried: %v", k, o.Requests, o.Rate, o.CPU, byCount)
			if o.Errors != 0 {
				t.Errorf("%d errors", o.Errors)
			}
			if o.Rate < rate*0.9 || o.Rate > rate*1.1 {
				t.Errorf("rate %.0f/s, want %d ± 10%%", o.Rate, rate)
			}
			// Every close ends one connection, so they carry k on average whatever the
			// order (the few open when wrk stopped carried fewer).
			conns := 0
			for _, n := range byCount {
				conns += n
			}
			if mean := float64(requests) / float64(conns); mean < 0.9*float64(k) || mean > 1.1*float64(k) {
				t.Errorf("%.2f requests per connection, want %d: %v", mean, k, byCount)
			}
			// Taking the slots in turn, nearly every connection carries exactly k; a busy
			// machine reorders a few responses, which swaps some.
			if exact := byCount[k] * k; float64(exact) < 0.75*float64(requests) {
				t.Errorf("only %d of %d requests on connections that carried exactly %d: %v", exact, requests, k, byCount)
			}
			if n := cc.agents[wire.UserAgent]; n != requests {
				t.Errorf("%d of %d requests with User-Agent %q: %v", n, requests, wire.UserAgent, cc.agents)
			}
		})
	}
}

func TestWrkConns(t *testing.T) {
	for _, tc := range []struct{ n, k, want int }{
		{50, 1, 50}, {50, 2, 50}, {48, 2, 50}, {48, 3, 50}, {60, 3, 62}, {60, 4, 62}, {1, 2, 2}, {3, 1, 2},
	} {
		if got := wrkConns(tc.n, tc.k); got != tc.want {
			t.Errorf("wrkConns(%d, %d) = %d, want %d", tc.n, tc.k, got, tc.want)
		}
	}
}
