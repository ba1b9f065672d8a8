package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
)

// wrk drives the Debian wrk (C, one epoll loop per thread): the hardest reference.
type wrk struct {
	bin string
	dir string // where its Lua scripts are written
}

// wrkThreads is wrk's -t: one per core of this 2-core machine, as the fleet's Go
// runtime uses both.
const wrkThreads = 2

func (*wrk) Name() string { return "wrk" }

func (*wrk) Unsupported(int) string { return "" }

// wrkConns is wrk's -c for about n connections: a multiple of the threads, with a
// number per thread prime to k. wrk's request() cannot tell which connection asks, so
// the script counts per thread and makes every k-th request "Connection: close". The
// thread's m connections take its paced slots in turn, so a connection gets requests
// j, j+m, j+2m...: with m prime to k every k-th of them is a close, and each
// connection carries exactly k requests (with k = 2 and m even, half the connections
// would always be given "close" and the other half never). Whatever the order, each
// close ends one connection, so connections per request stay 1/k.
func wrkConns(n, k int) int {
	per := max(1, n/wrkThreads)
	for gcd(per, k) != 1 {
		per++
	}
	return per * wrkThreads
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (w *wrk) Run(ctx context.Context, l load) (outcome, error) {
	script := filepath.Join(w.dir, fmt.Sprintf("wrk-k%d.lua", l.K))
	if err := os.WriteFile(script, []byte(wrkScript(l.K)), 0o644); err != nil {
		return outcome{}, fmt.Errorf("wrk: script: %w", err)
	}
	perThread := strconv.FormatFloat(float64(l.Rate)/wrkThreads, 'f', -1, 64)
	t, err := runTool(ctx, l.Duration+time.Minute, nil, w.bin,
		"-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(wrkConns(l.Conns, l.K)),
		"-d", strconv.Itoa(int(l.Duration/time.Second))+"s", "--timeout", "5s",
		"-s", script, l.URL, "--", perThread, strconv.Itoa(l.K))
	if err != nil {
		return outcome{CPU: t.CPU}, err
	}
	r, err := parseWrk(t.Stdout)
	if err != nil {
		return outcome{CPU: t.CPU}, fmt.Errorf("wrk: %w", err)
	}
	o := outcome{Requests: r.Requests, Errors: r.Errors(), CPU: t.CPU}
	if r.Elapsed > 0 {
		o.Rate = float64(r.Requests) / r.Elapsed.Seconds()
	}
	return o, nil
}

// wrkScript is the Lua script for k requests per connection. Its arguments (after --)
// are the rate per thread and k.
//
// wrk has no rate flag: delay() gives each request the next slot of the thread's own
// schedule, one every 1/rate s on CLOCK_MONOTONIC (LuaJIT's ffi; Lua's os.clock is CPU
// time), and returns how long until it. A request that could not go at its slot is
// followed by others without delay until the schedule is met, up to 1 s behind (the
// rest is dropped). wrk truncates the delay to whole milliseconds, so a request may go
// up to 1 ms early; the schedule, not the sends, keeps the rate.
//
// k = 1: one static request with "Connection: close" (wrk builds it once, its cheapest
// way). k > 1: request() alternates k-1 plain requests and one with "Connection: close"
// (see wrkConns). wrk calls delay() after a reconnection, so a new connection waits for
// its slot connected and idle; the fleet connects at its slot.
func wrkScript(k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `-- portlab bench/peers: paced GETs, %d per connection. Arguments: rate per thread, k.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } peers_timespec;
int clock_gettime(int clock, peers_timespec *ts);
]]
local ts = ffi.new("peers_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local period, k, due = 1, 1, nil
wrk.headers["User-Agent"] = %q
`, k, wire.UserAgent)
	if k == 1 {
		b.WriteString(`wrk.headers["Connection"] = "close"
`)
	}
	b.WriteString(`
function init(args)
  period = 1 / tonumber(args[1])
  k = tonumber(args[2])
end

function delay()
  local t = now()
  if due == nil or due < t - 1 then due = t end
  due = due + period
  local ms = (due - t) * 1000
  if ms < 0 then return 0 end
  return ms
end
`)
	if k > 1 {
		b.WriteString(`
local n, plain, last = 0, nil, nil
function request()
  if plain == nil then
    plain = wrk.format()
    local h = {}
    for name, value in pairs(wrk.headers) do h[name] = value end
    h["Connection"] = "close"
    last = wrk.format(nil, nil, h)
  end
  n = n + 1
  if n % k == 0 then return last end
  return plain
end
`)
	}
	return b.String()
}

// maxCount bounds any count read from a tool's output, so that sums cannot overflow.
const maxCount = 1 << 40

// wrkReport is what wrk prints at the end.
type wrkReport struct {
	Requests int64
	Elapsed  time.Duration
	Connect  int64 // socket errors
	Read     int64
	Write    int64
	Timeout  int64
	Status   int64 // "Non-2xx or 3xx responses" (wrk counts status > 399)
}

// Errors is every error wrk counted.
func (r wrkReport) Errors() int64 { return r.Connect + r.Read + r.Write + r.Timeout + r.Status }

// parseWrk reads wrk's summary:
//
//	45003 requests in 15.00s, 12.63MB read
//	Socket errors: connect 0, read 1, write 0, timeout 0
//	Non-2xx or 3xx responses: 2
func parseWrk(out []byte) (wrkReport, error) {
	var r wrkReport
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, " requests in "):
			n, rest, _ := strings.Cut(line, " requests in ")
			d, _, _ := strings.Cut(rest, ",")
			var err error
			if r.Requests, err = strconv.ParseInt(n, 10, 64); err != nil || r.Requests < 0 || r.Requests > maxCount {
				return r, fmt.Errorf("requests in %q", line)
			}
			if r.Elapsed, err = parseWrkTime(d); err != nil {
				return r, fmt.Errorf("elapsed in %q: %w", line, err)
			}
			seen = true
		case strings.HasPrefix(line, "Socket errors:"):
			for f := range strings.SplitSeq(strings.TrimPrefix(line, "Socket errors:"), ",") {
				name, v, ok := strings.Cut(strings.TrimSpace(f), " ")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || err != nil || n < 0 || n > maxCount {
					return r, fmt.Errorf("socket errors in %q", line)
				}
				switch name {
				case "connect":
					r.Connect = n
				case "read":
					r.Read = n
				case "write":
					r.Write = n
				case "timeout":
					r.Timeout = n
				}
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil || n < 0 || n > maxCount {
				return r, fmt.Errorf("statuses in %q", line)
			}
			r.Status = n
		}
	}
	if !seen {
		return r, errors.New(`no "N requests in T" line in its output`)
	}
	return r, nil
}

// parseWrkTime reads wrk's format_time_us: "850.00us", "12.34ms", "15.00s", "1.50m", "2.00h".
func parseWrkTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 1e6) { // NaN too
				return 0, fmt.Errorf("time %q", s)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("time %q: unknown unit", s)
}
