package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/reports"
)

// sweepScenario moves HTTPS off 443; the edge passes 443 and 10443 from the internet:
// a move to 8443 breaks the internet group, one to 10443 breaks nobody.
const sweepScenario = "testdata/sweep-https.yaml"

func readSweep(t *testing.T, dir string) *reports.Sweep {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "sweep.json"))
	if err != nil {
		t.Fatalf("no sweep.json: %v", err)
	}
	var s reports.Sweep
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("sweep.json: %v", err)
	}
	return &s
}

// Two candidates, one of which breaks a group: the comparison names the other, every
// candidate has its own complete results with the override recorded, and the
// prediction agrees with both measurements.
func TestSweepPicksTheCandidateThatBreaksFewest(t *testing.T) {
	needsRun(t)
	out := filepath.Join(t.TempDir(), "sweep")
	r := run(t, "", "sweep", sweepScenario, "--vary", "timeline[0].site_ports.https.default=8443,10443", "--out", out, "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (a candidate passed)\n%s", r.code, r.err)
	}
	s := readSweep(t, out)
	if len(s.Candidates) != 2 || s.Best != 2 {
		t.Fatalf("best %d of %d candidates, want 2 of 2: %+v", s.Best, len(s.Candidates), s)
	}
	bad, good := s.Candidates[0], s.Candidates[1]
	if bad.Status != reports.StatusFailed || bad.Broken != 10 || len(bad.GatesFailed) != 1 || bad.GatesFailed[0] != "unmanaged_fraction{group=internet}" {
		t.Errorf("candidate 8443: status %s, %d broken, gates failed %v; want failed, the 10 internet clients, the internet gate", bad.Status, bad.Broken, bad.GatesFailed)
	}
	if good.Status != reports.StatusPassed || good.Broken != 0 {
		t.Errorf("candidate 10443: status %s, %d broken; want passed, none", good.Status, good.Broken)
	}
	for _, c := range s.Candidates {
		if c.Disagreements != 0 {
			t.Errorf("candidate %d: %d groups disagree with the prediction", c.N, c.Disagreements)
		}
		res := readResult(t, filepath.Join(out, c.Dir))
		want := "timeline[0].site_ports.https.default=" + c.Values[0]
		if len(res.Overrides) != 1 || res.Overrides[0] != want {
			t.Errorf("candidate %d: overrides %v, want [%s]", c.N, res.Overrides, want)
		}
		for _, p := range res.Prediction {
			if !p.Compared || !p.Agrees {
				t.Errorf("candidate %d, group %s: predicted %s, measured %s, compared %v: %s", c.N, p.Group, p.Predicted, p.Measured, p.Compared, p.Disagreement)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "sweep.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "**Candidate 2 (10443) breaks the fewest clients: 0 of 30.**") {
		t.Errorf("sweep.md does not name the better candidate:\n%s", md)
	}
	html, err := os.ReadFile(filepath.Join(out, "sweep.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="2-10443/report.html"`, "Candidate 2 (10443) breaks the fewest clients", "unmanaged_fraction{group=internet}"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("sweep.html lacks %q", want)
		}
	}
	if !strings.Contains(r.err, "candidate 2 (10443) breaks the fewest clients") {
		t.Errorf("the verdict is not printed:\n%s", r.err)
	}
}

// Every candidate failing a gate exits 1; the comparison still picks one and explains
// the tie.
func TestSweepAllCandidatesFailExits1(t *testing.T) {
	needsRun(t)
	out := filepath.Join(t.TempDir(), "sweep")
	r := run(t, "", "sweep", sweepScenario, "--vary", "timeline[0].site_ports.https.default=8443,9443", "--out", out, "--quiet")
	if r.code != ExitGateFailed {
		t.Fatalf("exit %d, want 1 (every candidate failed a gate)\n%s", r.code, r.err)
	}
	s := readSweep(t, out)
	// Both break the internet group alone; what settles the tie (MP CPU more than 10%
	// apart, else the order) is the machine's noise, but the verdict must say which.
	other := map[int]string{1: "ties with 2 (9443) on 10 broken", 2: "ties with 1 (8443) on 10 broken"}[s.Best]
	switch {
	case other == "" || !strings.Contains(s.BestWhy, other) || !strings.Contains(s.BestWhy, "but it fails 1 gate(s)"):
		t.Errorf("best %d: %s", s.Best, s.BestWhy)
	case !strings.Contains(s.BestWhy, "the one listed first") && !strings.Contains(s.BestWhy, "less MP CPU"):
		t.Errorf("best %d: the verdict does not say what settled the tie: %s", s.Best, s.BestWhy)
	case strings.Contains(s.BestWhy, "the one listed first") && s.Best != 1:
		t.Errorf("best %d picked as the one listed first: %s", s.Best, s.BestWhy)
	}
}

// Ctrl-C during the second candidate stops it cleanly, runs nothing more and writes the
// comparison of what finished.
func TestSweepInterrupt(t *testing.T) {
	needsRun(t)
	out := filepath.Join(t.TempDir(), "sweep")
	args := []string{"sweep", sweepScenario, "--vary", "timeline[0].site_ports.https.default=8443,10443,11443", "--out", out}
	p := &proc{out: &lockedBuffer{}, errb: &lockedBuffer{}, done: make(chan struct{}), args: args}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	started := func() bool {
		e := p.errb.String()
		i := strings.Index(e, "sweep candidate 2/3: 10443")
		return i >= 0 && strings.Contains(e[i:], "load running")
	}
	if !poll(90*time.Second, started) {
		t.Fatalf("candidate 2 did not start: %s", p)
	}
	time.Sleep(time.Second)
	p.cmd.Process.Signal(syscall.SIGINT)
	code, ok := p.wait(60 * time.Second)
	if !ok {
		t.Fatalf("still running 60s after Ctrl-C: %s", p)
	}
	if code != ExitInterrupted {
		t.Errorf("exit %d, want 4: %s", code, p)
	}
	s := readSweep(t, out)
	if !s.Interrupted || len(s.Candidates) != 3 {
		t.Fatalf("interrupted %v, %d candidates", s.Interrupted, len(s.Candidates))
	}
	if st := []string{s.Candidates[0].Status, s.Candidates[1].Status, s.Candidates[2].Status}; st[0] != reports.StatusFailed || st[1] != reports.StatusInterrupted || st[2] != "not run" {
		t.Errorf("statuses %v, want failed, interrupted, not run", st)
	}
	if s.Best != 1 {
		t.Errorf("best %d, want the one finished candidate: %s", s.Best, s.BestWhy)
	}
	if r := readResult(t, filepath.Join(out, s.Candidates[1].Dir)); r.Status != reports.StatusInterrupted {
		t.Errorf("candidate 2's result: %s", r.Status)
	}
	if _, err := os.Stat(filepath.Join(out, s.Candidates[2].Dir)); err == nil {
		t.Errorf("candidate 3 has a results directory though it never ran")
	}
}

// Usage errors exit 2 before anything runs, naming the flag.
func TestSweepInvalid(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "sweep")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sweep", sweepScenario}, "give one or two --vary"},
		{[]string{"sweep", sweepScenario, "--vary", "a=1,2", "--vary", "b=1,2", "--vary", "c=1,2"}, "give one or two --vary"},
		{[]string{"sweep", sweepScenario, "--vary", "site.ports.https.default=8443"}, "--vary #1: site.ports.https.default: a sweep needs at least two values"},
		{[]string{"sweep", sweepScenario, "--vary", "site.ports.htps.default=1,2"}, "--vary #1 value 1: site.ports.htps: unknown field `htps` in site.ports"},
		{[]string{"sweep", sweepScenario, "--vary", "timeline[0].site_ports.https.default=8443,abc"}, "--vary #1 value 2: timeline[0].site_ports.https.default: want an integer"},
		{[]string{"sweep", sweepScenario, "--vary", "timeline[0].site_ports.https.default=8443,80"}, "port 80 is already used by"},
		{[]string{"sweep", sweepScenario, "--vary", "a=1,2", "--vary", "a=3,4"}, "varies a again"},
		{[]string{"sweep", sweepScenario, "--vary", "seed=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21", "--vary", "ramp=1s,2s"}, "42 candidates; a sweep runs at most 32"},
		{[]string{"sweep", sweepScenario, "--vary", "seed=1,2", "--set", "nope"}, "--set #1: want PATH=VALUE"},
	} {
		r := run(t, "", append(c.args, "--out", out)...)
		if r.code != ExitInvalid || !strings.Contains(r.err, c.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s", c.args, r.code, c.want, r.err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the sweep's directory was made, though nothing ran", c.args)
		}
	}
}
