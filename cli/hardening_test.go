package cli

// Tests of hostile and unlucky inputs, run as a user would (the built binary): special
// files as inputs and outputs, bounded reads, broken results to compare, terminal
// escapes, the results directory, signals and pipes, clean and a live run, wake send
// from the host.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portlab/portlab/reports"
)

// runMeasured runs portlab to completion within d and reports its peak RSS.
func runMeasured(t *testing.T, d time.Duration, args ...string) (r result, took time.Duration, maxRSS int64) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("portlab %s still running after %v", strings.Join(args, " "), d)
	}
	took = time.Since(t0)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}, took, ru.Maxrss << 10
}

// Every command that reads a file reads it through a size limit: /dev/zero (size 0 to
// stat) used to be read until memory ran out, and a FIFO without a writer hung.
func TestInputsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "input.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	res := resultFile(t, dir, "base", "port-change", 0.010)
	for _, in := range []string{"/dev/zero", fifo} {
		for _, args := range [][]string{
			{"validate", in},
			{"run", in},
			{"show", "--raw", in},
			{"show", in},
			{"doctor", "--scenario", in},
			{"report", in},
			{"compare", in, res},
			{"compare", res, in},
		} {
			r, took, rss := runMeasured(t, 15*time.Second, args...)
			if r.code != ExitInvalid {
				t.Errorf("%v: exit %d, want 2\nstderr: %s", args, r.code, r.err)
			}
			if !strings.Contains(r.err, "more than") && !strings.Contains(r.err, "FIFO") {
				t.Errorf("%v: the error does not say why: %s", args, r.err)
			}
			// The limits are 1 MiB for scenarios and 32 MiB for results.
			if rss > 256<<20 || took > 3*time.Second {
				t.Errorf("%v: %v, peak RSS %d MiB; want < 3s and < 256 MiB", args, took, rss>>20)
			}
			t.Logf("%-40s exit %d after %6.1fms, peak RSS %3d MiB", strings.Join(args, " "), r.code, float64(took.Microseconds())/1000, rss>>20)
		}
	}
}

// -o to a device or FIFO writes to it; /dev/null stays a character device.
func TestOutputToSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	base := resultFile(t, dir, "base", "port-change", 0.010)
	for _, args := range [][]string{
		{"report", base, "--format", "md", "-o", "/dev/null"},
		{"compare", base, base, "-o", "/dev/null"},
		{"init", "x", "-o", "/dev/null"},
		{"init", "x", "-o", "/dev/null", "--force"},
	} {
		if r := run(t, "", args...); r.code != 0 {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.err)
		}
		if st, err := os.Lstat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("after %v /dev/null is %v (%v)", args, st.Mode(), err)
		}
	}
	// /dev/stdout, a pipe here: the output arrives on stdout.
	if r := run(t, "", "init", "piped", "-o", "/dev/stdout"); r.code != 0 || !strings.Contains(r.stdout, "name: piped") {
		t.Errorf("init -o /dev/stdout: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	// A FIFO with a reader gets the report; without one, exit 2 at once.
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, took, _ := runMeasured(t, 5*time.Second, "report", base, "-o", fifo)
	if r.code != ExitInvalid || !strings.Contains(r.err, "no process reads") {
		t.Errorf("report -o FIFO without a reader: exit %d after %v\n%s", r.code, took, r.err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		var b bytes.Buffer
		b.ReadFrom(f)
		f.Close()
		got <- b.String()
	}()
	// Until the reader has opened its end (before, the FIFO is refused at once).
	if !poll(5*time.Second, func() bool { return run(t, "", "report", base, "-o", fifo).code == 0 }) {
		t.Errorf("report -o FIFO with a reader: no success within 5s")
	}
	if s := <-got; !strings.Contains(s, "# portlab: port-change") {
		t.Errorf("the FIFO's reader got %q", s)
	}
	if st, _ := os.Lstat(fifo); st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced by a %v", st.Mode())
	}
	// A regular file is still protected without --force.
	file := filepath.Join(dir, "mine.yaml")
	os.WriteFile(file, []byte("mine"), 0o644)
	if r := run(t, "", "init", "x", "-o", file); r.code != ExitInvalid || !strings.Contains(r.err, "exists") {
		t.Errorf("init over a file: exit %d\n%s", r.code, r.err)
	}
}

func brokenResult(t *testing.T, dir, name string, edit func(r map[string]any)) string {
	t.Helper()
	p := resultFile(t, dir, name, "port-change", 0.010)
	b, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A head that measured nothing, or did not finish, fails the comparison (exit 1)
// saying why; it passed before ("187 metrics only in the base").
func TestCompareBrokenHeads(t *testing.T) {
	dir := t.TempDir()
	base := resultFile(t, dir, "base", "port-change", 0.010)
	for _, c := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"no metrics", func(m map[string]any) { m["requests"], m["groups"], m["cost"] = nil, nil, nil }, "the head lacks every one of the base's"},
		{"error", func(m map[string]any) { m["status"], m["error"] = "error", "agent fleet lan died" }, "did not complete (status error: agent fleet lan died)"},
		{"interrupted", func(m map[string]any) { m["status"] = "interrupted" }, "did not complete (status interrupted"},
	} {
		head := brokenResult(t, dir, c.name, c.edit)
		r := run(t, "", "compare", base, head)
		if r.code != ExitGateFailed || !strings.Contains(r.err, c.want) || !strings.Contains(r.stdout, "FAILED") {
			t.Errorf("%s: exit %d, want 1 with %q\nstdout: %s\nstderr: %s", c.name, r.code, c.want, r.stdout, r.err)
		}
	}
	// The documented braces: commas inside {} belong to the name.
	worse := resultFile(t, dir, "worse", "port-change", 0.0125)
	const key = "latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}"
	if r := run(t, "", "compare", base, worse, "--max-regression", key+"=30%,mp_rss=20%"); r.code != 0 || strings.Contains(r.stdout, "matched no metric") {
		t.Errorf("--max-regression with braces: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	if r := run(t, "", "compare", base, worse, "--max-regression", "latency_p99{operation=policy=5%"); r.code != ExitInvalid {
		t.Errorf("unbalanced braces: exit %d\n%s", r.code, r.err)
	}
}

// A corrupt histogram is bad input: exit 2, not 5.
func TestReportCorruptHistogram(t *testing.T) {
	dir := t.TempDir()
	p := brokenResult(t, dir, "corrupt", func(m map[string]any) {
		m["histograms"] = []map[string]any{{"kind": "latency", "tags": map[string]any{"operation": "policy"}, "data": "HISTFAAAAnotbase64!!"}}
	})
	for _, format := range []string{"hlog", "html"} {
		if r := run(t, "", "report", p, "--format", format); r.code != ExitInvalid || !strings.Contains(r.err, "corrupt") {
			t.Errorf("report --format %s of a corrupt histogram: exit %d, want 2\n%s", format, r.code, r.err)
		}
	}
}

// Nothing portlab prints from user input reaches the terminal as a control sequence:
// names and keys in validation errors, file names, what a result.json says.
func TestNoTerminalEscapes(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil\x1b[2J\x1b]0;pwned\a.yaml")
	src, _ := os.ReadFile("../scenarios/testdata/invalid/control-characters.yaml")
	os.WriteFile(evil, src, 0o644)
	res := brokenResult(t, dir, "evil", func(m map[string]any) {
		m["run_id"] = "\x1b[31mred\x1b[0m"
		m["status"] = "passed\r\x1b[2K"
	})
	for _, args := range [][]string{
		{"validate", evil},
		{"validate", filepath.Join(dir, "missing\x1b[2J.yaml")},
		{"run", evil},
		{"show", filepath.Join(dir, "nope\x1b.yaml")},
		{"compare", res, res},
		{"compare", res, res, "--format", "md"},
		{"report", res, "--format", "md"},
		{"report", filepath.Join(dir, "gone\x1b[2J.json")},
	} {
		r := run(t, "", args...)
		if i := strings.IndexFunc(r.stdout+r.err, func(c rune) bool { return c < 0x20 && c != '\n' && c != '\t' || c == 0x7f }); i >= 0 {
			t.Errorf("%q: a control character in the output at %d:\nstdout: %q\nstderr: %q", args, i, r.stdout, r.err)
		}
		if r.code == 0 && args[0] != "compare" && args[0] != "report" {
			t.Errorf("%q: exit 0", args)
		}
	}
}

// Ten runs started back to back used to share three directories (1-second names):
// each now gets its own, named with its run ID.
func TestDefaultResultsDirsDistinct(t *testing.T) {
	t.Chdir(t.TempDir())
	seen := map[string]bool{}
	for range 10 {
		dir, id, err := resultsDir("", "port-change")
		if err != nil {
			t.Fatal(err)
		}
		if seen[dir] || !strings.HasSuffix(dir, "-"+id) || !strings.HasPrefix(dir, filepath.Join("portlab-results", "port-change-")) {
			t.Fatalf("directory %s (run %s): repeated or misnamed", dir, id)
		}
		seen[dir] = true
	}
	ents, _ := os.ReadDir("portlab-results")
	if len(ents) != 10 {
		t.Errorf("%d directories, want 10", len(ents))
	}
}

// Whatever would fail at the end of a run is refused before anything is built, exit 2:
// a file as --out, a name too long for the file system, a read-only or full disk, more
// clients than the address plan holds.
func TestRunRefusesBeforeBuilding(t *testing.T) {
	short := writeShortScenario(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"out is a file", []string{"run", short, "-o", file}, "not a directory"},
		{"out under a file", []string{"run", short, "-o", filepath.Join(file, "sub")}, "cannot create it"},
		{"out name too long", []string{"run", short, "-o", filepath.Join(dir, strings.Repeat("x", 300))}, "file name too long"},
		{"capture is a file", []string{"run", short, "-o", filepath.Join(dir, "o"), "--capture", file}, "--capture"},
		{"clients max int64", []string{"run", short, "--clients", fmt.Sprint(math.MaxInt64)}, "out of range 1 to 131072"},
		{"clients beyond the address plan", []string{"run", short, "--clients", "131073"}, "out of range 1 to 131072"},
	}
	for _, c := range cases {
		r, took, _ := runMeasured(t, 15*time.Second, c.args...)
		if r.code != ExitInvalid || !strings.Contains(r.err, c.want) || strings.Contains(r.err, "building network") {
			t.Errorf("%s: exit %d after %v, want 2 with %q before building\nstderr: %s", c.name, r.code, took, c.want, r.err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the read-only and full disks are tmpfs mounts in a private mount namespace: needs root")
	}
	for _, c := range []struct{ name, opts, want string }{
		{"read-only disk", "ro", "read-only file system"},
		{"full disk", "size=64k", "no space left on device"},
	} {
		mnt := t.TempDir()
		script := fmt.Sprintf("mount -t tmpfs -o %s portlab-test %s && exec %s run %s -o %s/out", c.opts, mnt, binary, short, mnt)
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != ExitInvalid || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), "building network") {
			t.Errorf("%s: exit %d, want 2 with %q before building\nstderr: %s", c.name, code, c.want, errb.String())
		}
	}
}

// needsRun skips a test that runs a scenario where this machine cannot.
func needsRun(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs a scenario: needs root (the rootless path has tests of its own)")
	}
}

func readResult(t *testing.T, dir string) *reports.Result {
	t.Helper()
	r, err := reports.Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	return r
}

// SIGHUP (exit 129) and SIGTERM ended a run without results: now they stop it as the
// first Ctrl-C does, and the results are written, marked interrupted (exit 4). The
// SIGTERM run writes to the default directory, whose name ends in the result's run ID.
func TestRunSignalsWriteResults(t *testing.T) {
	needsRun(t)
	short := writeShortScenario(t)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cwd := t.TempDir()
			out := filepath.Join(cwd, "out")
			args := []string{"run", short, "--clients", "20", "-o", out}
			if sig == syscall.SIGTERM {
				args = args[:len(args)-2] // the default directory, under cwd
			}
			p := &proc{out: &lockedBuffer{}, errb: &lockedBuffer{}, done: make(chan struct{}), args: args}
			p.cmd = exec.Command(binary, args...)
			p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = cwd, p.out, p.errb
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
			t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
			if !poll(30*time.Second, func() bool { return strings.Contains(p.errb.String(), "load running") }) {
				t.Fatalf("the load did not start: %s", p)
			}
			time.Sleep(500 * time.Millisecond)
			p.cmd.Process.Signal(sig)
			code, ok := p.wait(30 * time.Second)
			if !ok {
				t.Fatalf("still running 30s after %v: %s", sig, p)
			}
			if code != ExitInterrupted {
				t.Errorf("after %v: exit %d, want 4: %s", sig, code, p)
			}
			if sig == syscall.SIGTERM {
				dirs, _ := filepath.Glob(filepath.Join(cwd, "portlab-results", "port-change-short-*"))
				if len(dirs) != 1 {
					t.Fatalf("default results directories: %v", dirs)
				}
				out = dirs[0]
			}
			r := readResult(t, out)
			if r.Status != reports.StatusInterrupted {
				t.Errorf("after %v: status %s, want interrupted", sig, r.Status)
			}
			if sig == syscall.SIGTERM && !strings.HasSuffix(out, "-"+r.RunID) {
				t.Errorf("directory %s, run ID %s: they differ", out, r.RunID)
			}
		})
	}
}

// A closed stderr (its pipe's reader gone: `portlab run x 2>&1 | head -1`) killed the run
// with SIGPIPE (exit 141) and no results. Now the run goes on and writes them. The
// results directory is reused, with an earlier run's files in it: those are removed
// first, other files are kept.
func TestRunClosedStderr(t *testing.T) {
	needsRun(t)
	short := writeShortScenario(t)
	out := t.TempDir()
	stale := []string{"debug.log", "report.html", "fallback_delay.old-group.hgrm", "latency.policy.http.81.hgrm"}
	for _, n := range append(stale, "notes.txt") {
		os.WriteFile(filepath.Join(out, n), []byte("from an earlier run"), 0o644)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close() // nobody will read stderr
	cmd := exec.Command(binary, "run", short, "--clients", "20", "-o", out)
	cmd.Stderr = pw
	err = cmd.Run()
	pw.Close()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("killed by %v", ws.Signal())
		}
	}
	if code != 0 {
		t.Fatalf("run with a closed stderr: exit %d, want 0", code)
	}
	if r := readResult(t, out); r.Status != reports.StatusPassed || r.ScenarioName != "port-change-short" {
		t.Errorf("status %s of %s, want passed", r.Status, r.ScenarioName)
	}
	for _, n := range stale {
		if b, err := os.ReadFile(filepath.Join(out, n)); err == nil && string(b) == "from an earlier run" {
			t.Errorf("the earlier run's %s is still there", n)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Errorf("a file that is not portlab's was removed: %v", err)
	}
}

// `portlab clean` unpinned a --keep run while it was running. Now it leaves a run alone
// while any process uses its namespaces (the run itself, or a shell inside one), says
// which, and --force removes it anyway.
func TestCleanLeavesLiveRuns(t *testing.T) {
	needsRun(t)
	short := writeShortScenario(t)
	out := filepath.Join(t.TempDir(), "out")
	var runID string
	t.Cleanup(func() {
		if runID != "" {
			run(t, "", "clean", "--run", runID, "--force")
		}
	})
	p := start(t, nil, "run", short, "--clients", "20", "--keep", "-o", out)
	if !poll(30*time.Second, func() bool { return strings.Contains(p.errb.String(), "load running") }) {
		t.Fatalf("the load did not start: %s", p)
	}
	m := runIDRe.FindStringSubmatch(p.errb.String())
	if m == nil {
		t.Fatalf("no run ID: %s", p)
	}
	runID = m[1]
	// The run is going: its pins stay.
	c := run(t, "", "clean", "--run", runID)
	if c.code != ExitInvalid || !strings.Contains(c.err, "run "+runID+" is still in use (pid") || strings.Contains(c.stdout, "removed") {
		t.Errorf("clean --run during the run: exit %d\nstdout: %s\nstderr: %s", c.code, c.stdout, c.err)
	}
	if code, ok := p.wait(60 * time.Second); !ok || code != 0 {
		t.Fatalf("run --keep: exit %d (ended: %v): %s", code, ok, p)
	}
	// After the run, a shell inside one of its namespaces keeps it alive.
	sh := exec.Command("ip", "netns", "exec", "portlab-"+runID+"-site", "sleep", "60")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()
	if !poll(5*time.Second, func() bool {
		c = run(t, "", "clean", "--run", runID)
		return c.code == ExitInvalid
	}) {
		t.Errorf("clean with a process inside: exit %d\nstderr: %s", c.code, c.err)
	}
	if !regexp.MustCompile(fmt.Sprintf(`pid [0-9, ]*%d`, sh.Process.Pid)).MatchString(c.err) {
		t.Errorf("clean does not name the process inside (pid %d): %s", sh.Process.Pid, c.err)
	}
	c = run(t, "", "clean", "--run", runID, "--force")
	if c.code != 0 || !strings.Contains(c.stdout, "removed /run/netns/portlab-"+runID+"-site") {
		t.Errorf("clean --force: exit %d\nstdout: %s\nstderr: %s", c.code, c.stdout, c.err)
	}
	runID = ""
	if r := run(t, "", "clean", "--run", "../x"); r.code != ExitInvalid {
		t.Errorf("clean --run ../x: exit %d", r.code)
	}
}

// From the host's namespace, 198.18.0.0/15 is nobody's: a packet there would leave by
// the default route. wake send keeps to loopback unless it runs inside a namespace
// portlab pinned.
func TestWakeSendLabOnlyInsidePortlab(t *testing.T) {
	r, _ := runFor(t, 5*time.Second, "", "wake", "send", "--mac", "02:50:00:00:00:07", "--to", "198.18.31.255", "--retries", "0")
	if r.code != ExitInvalid || !strings.Contains(r.err, "sends only to 127.0.0.0/8") || strings.Contains(r.stdout, "copy") {
		t.Errorf("wake send to a lab address from the host: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.err)
	}
	if os.Geteuid() != 0 {
		t.Skip("inside a pinned namespace: needs root")
	}
	// A namespace pinned under portlab's prefix, with nothing in it: the address is
	// allowed, and the send fails for want of a route (nothing leaves the namespace).
	name := "portlab-0000beef-test"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	cmd := exec.Command("ip", "netns", "exec", name, binary, "wake", "send", "--mac", "02:50:00:00:00:07", "--to", "198.18.31.255", "--retries", "0")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Run()
	if strings.Contains(errb.String(), "sends only to 127.0.0.0/8") {
		t.Errorf("refused inside a portlab namespace: %s", errb.String())
	}
}
