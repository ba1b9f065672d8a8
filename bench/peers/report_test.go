package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeSample is a successful run at rate r with the given CPU per request.
func fakeSample(gen string, k, run int, r float64, genUS, mpUS int64, conns float64) sample {
	const n = 45000
	return sample{Gen: gen, K: k, Run: run, want: 3000,
		outcome: outcome{Requests: n, Rate: r,
			CPU: cpuTimes{User: time.Duration(genUS*n) * time.Microsecond * 6 / 10, Sys: time.Duration(genUS*n) * time.Microsecond * 4 / 10}},
		MPCPU: cpuTimes{User: time.Duration(mpUS*n) * time.Microsecond / 2, Sys: time.Duration(mpUS*n) * time.Microsecond / 2},
		Opens: int64(conns * n)}
}

func TestRenderTable(t *testing.T) {
	o := options{Rate: 3000, Duration: 15 * time.Second, Runs: 3}
	var samples []sample
	for run := 1; run <= 3; run++ {
		d := int64(run) // a little spread between runs
		samples = append(samples,
			fakeSample("wrk", 1, run, 3000, 20+d, 60, 1),
			fakeSample("hey", 1, run, 2300, 110+d, 62, 1),
			fakeSample("vegeta", 1, run, 2999, 160+d, 61, 1),
			fakeSample("fleet", 1, run, 3001, 28+d, 90, 1),
			fakeSample("wrk", 2, run, 2999, 14+d, 45, 0.5),
			fakeSample("fleet", 2, run, 3000, 23+d, 47, 0.5))
	}
	samples[0].Err = errors.New("wrk: signal: killed")
	samples[len(samples)-1].Rate = 1646 // one run that did not hold the rate
	samples[3].Errors, samples[3].EndErrors = 3, 3
	samples[3].SteadyCPU = 26 * time.Microsecond
	var b bytes.Buffer
	for _, k := range []int{1, 2} {
		var sums []summary
		for _, g := range []generator{&wrk{}, &hey{}, &vegeta{}, &fleetGen{}} {
			sums = append(sums, summarize(g.Name(), g.Unsupported(k), k, samples))
		}
		renderTable(&b, k, o, sums)
	}
	b.WriteString("\n")
	for _, s := range samples[:4] {
		b.WriteString(runLine(s) + "\n")
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run RenderTable -update writes it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("table differs from %s (go test -run RenderTable -update rewrites it):\n%s", golden, b.String())
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %g, want %g", tc.in, got, tc.want)
		}
	}
}
