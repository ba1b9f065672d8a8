package harness_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/harness"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// splitRun runs testdata/e2e-split.yaml in this process (the orchestrator) with the
// agents from the test binary's portlab, laid out by opt.
func splitRun(t *testing.T, opt plan.Options, during func(p *plan.Plan)) (*reports.Result, *plan.Plan, error) {
	t.Helper()
	needBinary(t)
	runSlots <- struct{}{}
	defer func() { <-runSlots }()
	s, err := scenarios.Load("testdata/e2e-split.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.LowerWith(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if during != nil {
		go during(p)
	}
	res, err := harness.Run(ctx, p, harness.Options{Binary: portlabBin, Tool: "portlab test"})
	if res == nil {
		t.Fatalf("run: %v", err)
	}
	return res, p, err
}

func requests(res *reports.Result, op, outcome string) uint64 {
	var n uint64
	for _, r := range res.Requests {
		if r.Operation == op && r.Outcome == outcome {
			n += r.Count
		}
	}
	return n
}

// TestSplitEqualsSingle: a segment split over two fleet processes and an MP split over
// two worker processes (SO_REUSEPORT) give the counts of one process each: clients
// located, registered and handed their policy bodies once each, every notification
// session logged in, every push delivered, the same planned cycles; and the MP's cost
// is the sum of its workers, each reported too.
func TestSplitEqualsSingle(t *testing.T) {
	one, p1, err := splitRun(t, plan.Options{}, nil)
	if err != nil || len(p1.Fleets) != 1 || p1.MPs[0].Workers != 1 {
		t.Fatalf("single: %v; %d fleets, %d workers", err, len(p1.Fleets), p1.MPs[0].Workers)
	}
	many, p2, err := splitRun(t, plan.Options{ClientsPerFleet: 160, SessionsPerWorker: 160}, nil)
	if err != nil || len(p2.Fleets) != 2 || p2.MPs[0].Workers != 2 {
		t.Fatalf("split: %v; %d fleets, %d workers", err, len(p2.Fleets), p2.MPs[0].Workers)
	}
	for _, res := range []*reports.Result{one, many} {
		if res.Status != reports.StatusPassed {
			t.Fatalf("%s: %s %v", res.RunID, res.Status, res.Failed())
		}
	}
	for _, op := range []string{metrics.OpLocation, metrics.OpRegistration} {
		if a, b := requests(one, op, "ok"), requests(many, op, "ok"); a != 300 || b != 300 {
			t.Errorf("%s ok: single %d, split %d; want 300 each", op, a, b)
		}
	}
	if a, b := requests(one, metrics.OpPolicyBody, "ok"), requests(many, metrics.OpPolicyBody, "ok"); a != b || a == 0 {
		t.Errorf("policy bodies: single %d, split %d", a, b)
	}
	// The per-second managed counts add the fleets up: once every client is in, each
	// second shows all 300 (a group split over two fleets is counted from both).
	full := 0
	for _, sp := range many.Series {
		total := 0
		for _, n := range sp.Managed {
			total += n
		}
		switch {
		case total == 300:
			full++
		case full > 0 && sp.T < 11:
			t.Errorf("second %.0f: %d managed in the series after %d seconds of 300 (%v)", sp.T, total, full, sp.Managed)
		}
	}
	if full < 5 {
		t.Errorf("the series shows all 300 clients managed in %d seconds, want most of the run", full)
	}
	if one.Load.Planned != many.Load.Planned {
		t.Errorf("planned cycles: single %d, split %d", one.Load.Planned, many.Load.Planned)
	}
	for i := range one.Push {
		a, b := one.Push[i], many.Push[i]
		if a.Group != b.Group || a.Targeted != b.Targeted || a.Delivered != a.Targeted || b.Delivered != b.Targeted {
			t.Errorf("push %s: single %d/%d, split %d/%d", a.Group, a.Delivered, a.Targeted, b.Delivered, b.Targeted)
		}
	}
	var mp reports.ProcessCost
	var workers []reports.ProcessCost
	fleets := 0
	for _, c := range many.Cost {
		switch c.Role {
		case "mp":
			mp = c
		case "mp-worker":
			workers = append(workers, c)
		case "fleet":
			fleets++
		}
	}
	if len(workers) != 2 || fleets != 2 {
		t.Fatalf("cost rows: %d workers, %d fleets", len(workers), fleets)
	}
	if sum := workers[0].Requests + workers[1].Requests; sum != mp.Requests || workers[0].Requests == 0 || workers[1].Requests == 0 {
		t.Errorf("MP requests %d, workers %d + %d: the kernel spreads connections over both", mp.Requests, workers[0].Requests, workers[1].Requests)
	}
	if sum := workers[0].Sessions + workers[1].Sessions; sum != mp.Sessions || mp.Sessions < 300 {
		t.Errorf("MP sessions %d, workers %d + %d", mp.Sessions, workers[0].Sessions, workers[1].Sessions)
	}
}

// TestSplitWorkerKilled: one MP worker killed mid-run fails the run (the run failed:
// exit 5), and nothing of the run is left.
func TestSplitWorkerKilled(t *testing.T) {
	killed := make(chan int, 1)
	res, _, err := splitRun(t, plan.Options{ClientsPerFleet: 160, SessionsPerWorker: 160}, func(p *plan.Plan) {
		time.Sleep(5 * time.Second)
		for _, pr := range allProcs() {
			if pr.exe == portlabBin && len(pr.args) >= 3 && pr.args[1] == "agent" && pr.args[2] == "mp" && pr.ppid == os.Getpid() {
				syscall.Kill(pr.pid, syscall.SIGKILL) // our own agent, by its PID
				killed <- pr.pid
				return
			}
		}
		killed <- 0
	})
	pid := <-killed
	if pid == 0 {
		t.Fatal("found no MP worker of this run to kill")
	}
	if !errors.Is(err, harness.ErrRunFailed) || res.Status != reports.StatusError || !strings.Contains(res.Error, "agent died") {
		t.Fatalf("a dead worker: %v, status %s (%s); want a failed run", err, res.Status, res.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := 0
		for _, pr := range allProcs() {
			if pr.exe == portlabBin && pr.ppid == os.Getpid() {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d agents of the run still running", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
