package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/wire"
)

// State is a client's management state.
type State uint8

// States. A client is pending until its first cycle ends.
const (
	Pending State = iota
	Managed
	Unmanaged
)

func (s State) String() string {
	switch s {
	case Managed:
		return "managed"
	case Unmanaged:
		return "unmanaged"
	}
	return "pending"
}

// client is one simulated client. Its owning worker alone reads and writes it; while a
// cycle is in flight (busy), the cycle goroutine owns idle.
type client struct {
	ord, gord int // position in the fleet and in its group
	index     int // global index
	g         *Group
	addr      netip.Addr
	guid      string

	httpPort, httpsPort int // as installed (reconfiguration changes them)
	pending             *reconf
	rgen                uint32

	state      State
	consecFail int
	asleep     bool
	busy       bool
	located    bool
	smsid      string              // the SMSID the MP assigned at registration
	policies   uint64              // policySet of the assignments whose bodies were downloaded
	polPayload wire.EncodedPayload // its policy request payload, encoded once
	polSMSID   string
	mp         MP
	mpPicks    uint32
	lastPort   int
	fallbacks  int
	idle       *httpConn
	idleGen    uint32

	pol, hb   Pacer
	k, hk     int       // next policy cycle to plan, next heartbeat
	runK      int       // next policy cycle to run (< k: deferred while busy)
	gen       uint32    // invalidates heap entries (sleep, wake)
	wakeSent  time.Time // wake-up packet send time, until managed
	lastPush  uint64
	notify    context.CancelFunc
	notifying string // current notification transport: tcp, http, https or ""
	loc       locState
}

type reconf struct {
	http, https int
	src         source
}

// ports returns the request port to try first, its alternate (0: none) and the scheme.
func (c *client) ports(site SitePorts) (port, alt int) {
	https := c.g.Scheme == "https"
	if https {
		port = c.httpsPort
	} else {
		port = c.httpPort
	}
	alt = c.alternate(site, https)
	if alt == port {
		alt = 0
	}
	return port, alt
}

// job is one cycle as planned by the worker: everything the cycle goroutine needs,
// copied, so it never reads client state the worker may change.
type job struct {
	c         *client
	intended  time.Time
	located   bool
	smsid     string // assigned at registration; "" until then
	policies  uint64 // the assignment set whose bodies the client holds
	heartbeat bool
	mp        MP
	// polPayload is the client's policy request payload, encoded once (for polSMSID).
	polPayload wire.EncodedPayload
	polSMSID   string
	port, alt  int
	idle       *httpConn
	pickSeed   uint64
	loc        locJob
	regMP      MP // registration goes to the assigned MP
}

// attempt is one request attempt on one port.
type attempt struct {
	op, outcome string
	port        int
	mp          string
	latency     time.Duration // from the operation's intended start
	service     time.Duration // from the attempt's actual start
}

// cycleResult is what a cycle goroutine reports back.
type cycleResult struct {
	attempts  []attempt
	fallbacks []attempt // latency = fallback delay; port = the alternate
	ok        bool
	err       error
	located   bool
	mp        MP
	smsid     string
	policies  uint64
	// polPayload is the client's policy request payload, encoded once (for polSMSID).
	polPayload wire.EncodedPayload
	polSMSID   string
	port       int // the port that worked last
	idle       *httpConn
	end        time.Time
	cancelled  bool // the run ended mid-cycle: nothing to judge
	loc        locResult
}

// runCycle runs one cycle: location if needed, registration if needed, policy, and a
// heartbeat when due. It stops at the first failed operation.
func (f *Fleet) runCycle(ctx context.Context, j *job) *cycleResult {
	c := j.c
	res := &cycleResult{located: j.located, mp: j.mp, smsid: j.smsid, policies: j.policies, idle: j.idle,
		polPayload: j.polPayload, polSMSID: j.polSMSID}
	intended := j.intended
	step := func(op string, reqs []request) ([][]byte, error) {
		b, err := f.exchange(ctx, c, res, op, res.mp, j.port, j.alt, reqs, intended)
		intended = time.Time{} // later operations start when the previous one ends
		return b, err
	}
	finish := func(err error) *cycleResult {
		res.end = time.Now()
		res.err = err
		res.ok = err == nil
		res.cancelled = ctx.Err() != nil && err != nil
		return res
	}
	https := c.g.Scheme == "https"
	if b := c.g.Bench; b != nil {
		reqs := make([]request, b.Requests)
		for i := range reqs {
			reqs[i] = request{method: http.MethodGet, path: b.Path}
		}
		_, err := step(metrics.OpLocation, reqs)
		return finish(err)
	}
	if !res.located {
		if err := f.locate(ctx, j, res, step); err != nil {
			return finish(err)
		}
	}
	// reply reads the MP's answer to the message (the last request of a post).
	reply := func(bodies [][]byte) ([]byte, error) {
		if len(bodies) == 0 {
			return nil, errors.New("no reply")
		}
		_, payload, err := wire.ReadMessage(wire.ContentTypeCCM, bodies[len(bodies)-1], wire.Limits{})
		return payload, err
	}
	if res.smsid == "" {
		// Registration always goes to the assigned MP.
		reg := res.mp
		if j.regMP.Name != "" {
			reg = j.regMP
		}
		reqs, err := f.msgs.registration(c, &reg, https)
		var bodies [][]byte
		if err == nil {
			bodies, err = f.exchange(ctx, c, res, metrics.OpRegistration, reg, j.port, j.alt, reqs, intended)
			intended = time.Time{}
		}
		var payload []byte
		if err == nil {
			payload, err = reply(bodies)
		}
		if err == nil {
			var r wire.RegistrationReply
			if r, err = wire.ParseRegistrationReply(payload); err == nil {
				res.smsid = r.SMSID
			}
		}
		if err != nil {
			return finish(fmt.Errorf("client %d: registration at %s: %w", c.index, reg.Name, err))
		}
	}
	var err error
	if res.polPayload.Bytes() == nil || res.polSMSID != res.smsid {
		res.polPayload, err = f.msgs.policyPayload(c, res.smsid)
		res.polSMSID = res.smsid
	}
	var bodies [][]byte
	if err == nil {
		bodies, err = step(metrics.OpPolicy, f.msgs.post(c, &res.mp, wire.EndpointPolicy, res.smsid, https, res.polPayload))
	}
	var policies []wire.Policy
	if err == nil {
		policies, err = f.replies.policies(bodies[len(bodies)-1])
	}
	if err != nil {
		return finish(fmt.Errorf("client %d: policy at %s: %w", c.index, res.mp.Name, err))
	}
	// Bodies only for assignments not downloaded yet, as a real client re-downloads a
	// policy only at a new version.
	if set := policySet(policies); set != res.policies && len(policies) > 0 {
		if _, err := step(metrics.OpPolicyBody, policyBodies(policies)); err != nil {
			return finish(fmt.Errorf("client %d: policy bodies at %s: %w", c.index, res.mp.Name, err))
		}
		res.policies = set
	}
	if j.heartbeat {
		reqs, err := f.msgs.heartbeat(c, &res.mp, res.smsid, https)
		if err == nil {
			_, err = step(metrics.OpHeartbeat, reqs)
		}
		if err != nil {
			return finish(fmt.Errorf("client %d: heartbeat at %s: %w", c.index, res.mp.Name, err))
		}
	}
	return finish(nil)
}

// runOver reports whether the run's context has ended or reached its deadline: do()
// clips a connection's deadline to the run's, so a read can time out at the deadline a
// moment before the context's own timer marks it done (bench-peers found every fleet
// "timeout" in a run's last second).
func runOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// errRunOver: the run ended during an operation.
var errRunOver = errors.New("run over")

// exchange performs one operation (one or more requests on one connection) with the
// client's fallback: the port, again per retries, then the alternate the same way. Each
// attempt is recorded; success on the alternate records the fallback delay too.
// intended zero means "now" (no queueing before this operation).
func (f *Fleet) exchange(ctx context.Context, c *client, res *cycleResult, op string, mp MP, port, alt int,
	reqs []request, intended time.Time) ([][]byte, error) {
	ports := []int{port}
	if alt != 0 {
		ports = append(ports, alt)
	}
	if intended.IsZero() {
		intended = time.Now()
	}
	host := mp.FQDN
	if host == "" {
		host = mp.Name
	}
	var firstFail time.Time
	var lastErr error
	for pi, p := range ports {
		for range c.g.Retries + 1 {
			if ctx.Err() != nil {
				return nil, errRunOver
			}
			start := time.Now()
			bodies, err := f.attempt(ctx, c, res, mp, p, host, reqs)
			end := time.Now()
			outcome := classify(err)
			if err != nil && runOver(ctx) {
				return nil, errRunOver // cut short by the end of the run: not the port's fault
			}
			res.attempts = append(res.attempts, attempt{op: op, outcome: outcome, port: p, mp: mp.Name,
				latency: end.Sub(intended), service: end.Sub(start)})
			if err == nil {
				res.port = p
				if pi > 0 && !firstFail.IsZero() {
					res.fallbacks = append(res.fallbacks, attempt{op: op, outcome: metrics.OK, port: p, mp: mp.Name,
						latency: end.Sub(firstFail)})
				}
				return bodies, nil
			}
			lastErr = fmt.Errorf("port %d: %w", p, err)
			if !portFailure(outcome) {
				return nil, lastErr // the MP answered: another port would not help
			}
			if firstFail.IsZero() {
				firstFail = start
			}
		}
	}
	return nil, lastErr
}

// attempt runs reqs on one connection to mp:port, reusing the client's idle keep-alive
// connection when it goes there. A reused connection that turns out closed by the
// server is replaced once, as browsers and net/http do.
func (f *Fleet) attempt(ctx context.Context, c *client, res *cycleResult, mp MP, port int, host string, reqs []request) ([][]byte, error) {
	var h *httpConn
	if res.idle != nil && res.idle.mp == mp.Name && res.idle.port == port && res.idle.scheme == c.g.Scheme {
		h, res.idle = res.idle, nil
	}
	for tries := 0; ; tries++ {
		reused := h != nil
		if h == nil {
			var err error
			if h, err = f.conn.open(ctx, c.addr, &mp, port, c.g.Scheme, c.g.ConnectTimeout.D()); err != nil {
				return nil, err
			}
		}
		bodies := make([][]byte, 0, len(reqs))
		var err error
		keep := true
		for _, r := range reqs {
			var b []byte
			_, b, keep, err = f.conn.do(ctx, h, host, r, c.g.RequestTimeout.D())
			if err != nil {
				break
			}
			bodies = append(bodies, b)
			if !keep && len(bodies) < len(reqs) {
				h.close()
				if h, err = f.conn.open(ctx, c.addr, &mp, port, c.g.Scheme, c.g.ConnectTimeout.D()); err != nil {
					return nil, err
				}
			}
		}
		if err == nil || isStatus(err) {
			if keep {
				res.idle.close()
				res.idle = h
			} else {
				h.close()
			}
			return bodies, err
		}
		h.close()
		h = nil
		if !reused || len(bodies) > 0 || tries > 0 || classify(err) != metrics.Reset || ctx.Err() != nil {
			return nil, err
		}
	}
}

func isStatus(err error) bool {
	var se statusError
	return errors.As(err, &se)
}
