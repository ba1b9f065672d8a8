package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
)

// hey drives rakyll/hey (Go, net/http client, a goroutine per worker).
type hey struct{ bin string }

func (*hey) Name() string { return "hey" }

func (*hey) Unsupported(k int) string {
	if k == 1 {
		return ""
	}
	return "hey keeps connections alive for every request or, with -disable-keepalive, for none"
}

// Run paces hey with -q, which is per worker: Conns workers at Rate/Conns each. Each
// worker's ticker drops the ticks it misses while a request is slow, so hey falls
// behind instead of catching up (the rate check shows it).
func (h *hey) Run(ctx context.Context, l load) (outcome, error) {
	q := strconv.FormatFloat(float64(l.Rate)/float64(l.Conns), 'f', -1, 64)
	t, err := runTool(ctx, l.Duration+time.Minute, nil, h.bin,
		"-z", l.Duration.String(), "-c", strconv.Itoa(l.Conns), "-q", q,
		"-disable-keepalive", "-U", wire.UserAgent, l.URL)
	if err != nil {
		return outcome{CPU: t.CPU}, err
	}
	r, err := parseHey(t.Stdout)
	if err != nil {
		return outcome{CPU: t.CPU}, fmt.Errorf("hey: %w", err)
	}
	o := outcome{Requests: r.Requests(), Errors: r.Errors(), CPU: t.CPU}
	if r.Total > 0 {
		o.Rate = float64(o.Requests) / r.Total.Seconds()
	}
	return o, nil
}

// heyReport is what hey's summary says.
type heyReport struct {
	Total    time.Duration
	Statuses map[int]int64 // responses by status code
	Failed   int64         // requests with an error (no response)
}

// Requests counts every result, answered or failed.
func (r heyReport) Requests() int64 {
	n := r.Failed
	for _, c := range r.Statuses {
		n += c
	}
	return n
}

// Errors counts failed requests and statuses >= 400.
func (r heyReport) Errors() int64 {
	n := r.Failed
	for st, c := range r.Statuses {
		if st >= 400 {
			n += c
		}
	}
	return n
}

// parseHey reads hey's summary:
//
//	Summary:
//	  Total:	15.0012 secs
//	...
//	Status code distribution:
//	  [200]	45000 responses
//
//	Error distribution:
//	  [3]	Get "http://...": dial tcp ...: connect: connection refused
func parseHey(out []byte) (heyReport, error) {
	r := heyReport{Statuses: map[int]int64{}}
	section, total := "", false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Total:"):
			v := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "Total:"), "secs"))
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 1e6) { // NaN too
				return r, fmt.Errorf("total in %q", line)
			}
			r.Total, total = time.Duration(f*float64(time.Second)), true
		case strings.HasSuffix(line, "distribution:"):
			section = line
		case strings.HasPrefix(line, "[") && section == "Status code distribution:":
			code, rest, ok := strings.Cut(line[1:], "]")
			st, err1 := strconv.Atoi(code)
			n, err2 := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " responses"), 10, 64)
			if !ok || err1 != nil || err2 != nil || n < 0 || n > maxCount || r.Statuses[st] > maxCount {
				return r, fmt.Errorf("status line %q", line)
			}
			r.Statuses[st] += n
		case strings.HasPrefix(line, "[") && section == "Error distribution:":
			count, _, ok := strings.Cut(line[1:], "]")
			n, err := strconv.ParseInt(count, 10, 64)
			if !ok || err != nil || n < 0 || n > maxCount || r.Failed > maxCount {
				return r, fmt.Errorf("error line %q", line)
			}
			r.Failed += n
		}
	}
	if !total {
		return r, errors.New(`no "Total:" line in its summary`)
	}
	return r, nil
}
