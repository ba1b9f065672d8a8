package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
)

// vegeta drives tsenart/vegeta's attack (Go, net/http client, an open-model pacer with
// as many workers as it needs).
type vegeta struct {
	bin string
	dir string // where the attack's results are written
}

func (*vegeta) Name() string { return "vegeta" }

func (*vegeta) Unsupported(k int) string {
	if k == 1 {
		return ""
	}
	return "vegeta keeps connections alive for every request or, with -keepalive=false, for none"
}

// Run attacks at the rate (vegeta's own flag) without keep-alive, writing results to a
// file as `vegeta attack | vegeta report` would; only the attack's CPU is counted, the
// report is read afterwards.
func (v *vegeta) Run(ctx context.Context, l load) (outcome, error) {
	results := filepath.Join(v.dir, "vegeta-results.bin")
	defer os.Remove(results)
	t, err := runTool(ctx, l.Duration+time.Minute, strings.NewReader("GET "+l.URL+"\n"), v.bin, "attack",
		"-rate", strconv.Itoa(l.Rate)+"/s", "-duration", l.Duration.String(), "-keepalive=false",
		"-header", "User-Agent: "+wire.UserAgent, "-output", results)
	if err != nil {
		return outcome{CPU: t.CPU}, err
	}
	rep, err := runTool(ctx, time.Minute, nil, v.bin, "report", "-type=json", results)
	if err != nil {
		return outcome{CPU: t.CPU}, err
	}
	r, err := parseVegeta(rep.Stdout)
	if err != nil {
		return outcome{CPU: t.CPU}, fmt.Errorf("vegeta report: %w", err)
	}
	return outcome{Requests: r.Requests, Errors: r.Errors(), Rate: r.Rate, CPU: t.CPU}, nil
}

// vegetaReport is the part of `vegeta report -type=json` peers reads.
type vegetaReport struct {
	Requests    int64            `json:"requests"`
	Rate        float64          `json:"rate"` // requests sent per second over the attack
	Success     float64          `json:"success"`
	StatusCodes map[string]int64 `json:"status_codes"` // "0": no response
	Duration    time.Duration    `json:"duration"`
}

// Errors counts requests without a response (status "0") or with a status >= 400.
func (r vegetaReport) Errors() int64 {
	var n int64
	for code, c := range r.StatusCodes {
		st, err := strconv.Atoi(code)
		if err != nil || st == 0 || st >= 400 {
			n += c
		}
	}
	return n
}

func parseVegeta(b []byte) (vegetaReport, error) {
	var r vegetaReport
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if r.Requests < 0 || r.Rate < 0 {
		return r, fmt.Errorf("negative counts: %d requests at %g/s", r.Requests, r.Rate)
	}
	return r, nil
}
