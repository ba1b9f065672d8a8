package harness_test

// End-to-end tests of `portlab run`: the binary is built once in TestMain and run as a
// user runs it, with --out in a temporary directory. They need root (namespaces, veths,
// nftables) and skip with the reason otherwise; -short skips them too.
//
// Every run uses its own hard link of the binary, so the processes of one run (the
// orchestrator and its agents) are exactly those whose /proc/<pid>/exe is that path;
// the leftover check (no namespace, process, nftables table or host link left behind)
// relies on it. At most two runs go at once (this machine has two cores).

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
	"github.com/vishvananda/netlink"
)

// portlabBin is the binary built by TestMain ("" when the E2E tests cannot run).
var portlabBin string

// whyNoBinary says why portlabBin is empty.
var whyNoBinary string

// runSlots bounds the portlab runs going at once.
var runSlots = make(chan struct{}, 2)

// runBins are the binaries of the runs started (one hard link each), so that one run's
// leftover check can tell another run's processes from its own.
var runBins sync.Map

// otherRun reports whether exe is the binary of one of this test binary's runs.
func otherRun(exe string) bool {
	_, ok := runBins.Load(strings.TrimSuffix(exe, " (deleted)"))
	return ok
}

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case os.Geteuid() != 0:
		whyNoBinary = "needs root (network namespaces, veth, nftables); run the harness E2E tests as root"
	case testing.Short():
		whyNoBinary = "end-to-end runs take minutes; skipped with -short"
	default:
		dir, err := os.MkdirTemp("", "portlab-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
			os.Exit(1)
		}
		bin := filepath.Join(dir, "portlab")
		goTool := "go"
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		cmd := exec.Command(goTool, "build", "-o", bin, "../cmd/portlab")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: go build ../cmd/portlab:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		portlabBin = bin
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func needBinary(t *testing.T) {
	t.Helper()
	if portlabBin == "" {
		t.Skip(whyNoBinary)
	}
}

// ---------------------------------------------------------------------------------
// One run of the binary.

type run struct {
	t       *testing.T
	bin     string // this run's own link to the binary
	out     string // --out
	cmd     *exec.Cmd
	stderr  *lineLog
	stdout  bytes.Buffer
	done    chan struct{}
	waitErr error
	host    hostState       // before the run
	ns      map[string]bool // net namespaces seen in this run's processes ("net:[inode]")
	started time.Time
}

// startRun starts `portlab run SCENARIO --out DIR args...` and returns at once. The run
// holds one of the run slots until it has exited and been checked for leftovers.
func startRun(t *testing.T, scenario string, args ...string) *run {
	t.Helper()
	needBinary(t)
	runSlots <- struct{}{}
	dir := t.TempDir()
	bin := filepath.Join(dir, "portlab")
	if err := os.Link(portlabBin, bin); err != nil {
		if err := copyFile(portlabBin, bin); err != nil {
			<-runSlots
			t.Fatalf("own binary for the run: %v", err)
		}
	}
	runBins.Store(bin, true)
	r := &run{t: t, bin: bin, out: filepath.Join(dir, "out"), stderr: newLineLog(), done: make(chan struct{}), ns: map[string]bool{}}
	h, err := snapshotHost()
	if err != nil {
		<-runSlots
		t.Fatalf("host snapshot: %v", err)
	}
	r.host = h
	r.cmd = exec.Command(bin, append([]string{"run", scenario, "--out", r.out}, args...)...)
	r.cmd.Stderr = r.stderr
	r.cmd.Stdout = &r.stdout
	r.cmd.WaitDelay = 5 * time.Second
	// Its own process group, as a shell gives a job: a test can signal the group as a
	// terminal would, and nothing reaches the test binary.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		<-runSlots
		t.Fatalf("start %v: %v", r.cmd.Args, err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default: // the test failed early: end our run, its agents follow (Pdeathsig)
			r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("portlab stdout:\n%s\nportlab stderr:\n%s", r.stdout.String(), r.stderr.String())
		}
		<-runSlots
	})
	return r
}

// waitLine waits until a stderr line contains s and returns it.
func (r *run) waitLine(s string, timeout time.Duration) string {
	r.t.Helper()
	line, ok := r.stderr.wait(func(l string) bool { return strings.Contains(l, s) }, timeout, r.done)
	if !ok {
		r.t.Fatalf("no line %q on stderr within %s (exited: %v); stderr:\n%s", s, timeout, r.exited(), r.stderr.String())
	}
	return line
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait waits for the run to exit and returns its exit code (-1: killed by a signal).
func (r *run) wait(timeout time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.t.Fatalf("portlab run still running %s after start; stderr:\n%s", time.Since(r.started).Round(time.Millisecond), r.stderr.String())
	}
	var ee *exec.ExitError
	if r.waitErr != nil && !errors.As(r.waitErr, &ee) {
		r.t.Fatalf("wait: %v", r.waitErr)
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *run) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v to pid %d: %v", sig, r.cmd.Process.Pid, err)
	}
}

// runID is the run's ID from its first line ("building network ... run=ID").
func (r *run) runID() string {
	m := regexp.MustCompile(`\brun=([0-9a-f]+)`).FindStringSubmatch(r.stderr.String())
	if m == nil {
		return ""
	}
	return m[1]
}

// procs lists this run's processes (exe is this run's binary), orchestrator included.
func (r *run) procs() []proc {
	var out []proc
	for _, p := range allProcs() {
		if p.exe == r.bin || p.exe == r.bin+" (deleted)" {
			out = append(out, p)
		}
	}
	return out
}

// agents finds this run's agents of a kind ("mp", "fleet"): a child of the orchestrator
// running this run's binary with "agent <kind>".
// oneAgent returns the run's single agent of kind, failing the test otherwise.
func (r *run) oneAgent(kind string) proc {
	r.t.Helper()
	as := r.agents(kind)
	if len(as) != 1 {
		r.t.Fatalf("found %d %s agents of the run, want 1 (processes: %v)", len(as), kind, r.procs())
	}
	return as[0]
}

func (r *run) agents(kind string) []proc {
	var out []proc
	for _, p := range r.procs() {
		if p.ppid == r.cmd.Process.Pid && len(p.args) >= 3 && p.args[1] == "agent" && p.args[2] == kind {
			out = append(out, p)
		}
	}
	return out
}

// noteNamespaces records the network namespaces this run's processes are in or hold a
// descriptor of (routers and switches have no process; the orchestrator holds them), so
// the leftover check can tell they are gone.
func (r *run) noteNamespaces() {
	host := nsOf("/proc/self/ns/net")
	for _, p := range r.procs() {
		for _, n := range p.netns() {
			if n != host {
				r.ns[n] = true
			}
		}
	}
	if len(r.ns) == 0 {
		r.t.Errorf("found no network namespace of the run (processes: %v)", r.procs())
	}
}

// noLeftovers (used by every test) polls until nothing of the run remains, and fails the test if something
// still does at the deadline: a process of this run, a namespace it used (held by any
// process or descriptor, or pinned under /run/netns with its run ID), a portlab nftables
// table in the host, a host link that was not there before.
func (r *run) noLeftovers() {
	r.t.Helper()
	id := r.runID()
	var problems []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		problems = problems[:0]
		for _, p := range r.procs() {
			problems = append(problems, fmt.Sprintf("process %d %q (ppid %d) still running", p.pid, strings.Join(p.args, " "), p.ppid))
		}
		if len(r.ns) > 0 {
			for _, p := range allProcs() {
				if p.exe != r.bin && otherRun(p.exe) {
					// Another run going at the same time: the kernel reuses the inode
					// numbers of freed namespaces, so a namespace of that run can carry
					// a number this run's had. That run checks its own.
					continue
				}
				for _, n := range p.netns() {
					if r.ns[n] {
						problems = append(problems, fmt.Sprintf("namespace %s still held by pid %d (%s)", n, p.pid, p.exe))
					}
				}
			}
		}
		if h, err := snapshotHost(); err != nil {
			problems = append(problems, "host snapshot: "+err.Error())
		} else {
			for _, n := range h.pinned {
				if (id != "" && strings.Contains(n, id)) || (id == "" && !slices.Contains(r.host.pinned, n)) {
					problems = append(problems, "pinned namespace /run/netns/"+n)
				}
			}
			for _, tb := range h.nftTables {
				if strings.Contains(tb, "portlab") {
					problems = append(problems, "host nftables table "+tb)
				}
			}
			if !slices.Equal(h.links, r.host.links) {
				problems = append(problems, fmt.Sprintf("host links changed: before %v, after %v", r.host.links, h.links))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range problems {
		r.t.Errorf("leftover after the run: %s", p)
	}
}

// result reads result.json with reports.Read.
func (r *run) result() *reports.Result {
	r.t.Helper()
	res, err := reports.Read(filepath.Join(r.out, "result.json"))
	if err != nil {
		r.t.Fatalf("reports.Read: %v", err)
	}
	return res
}

// ---------------------------------------------------------------------------------
// Host state and processes.

type hostState struct {
	links     []string // host link names, sorted
	nftTables []string // "family name"
	pinned    []string // entries of /run/netns starting with portlab-
}

func snapshotHost() (hostState, error) {
	var h hostState
	links, err := netlink.LinkList()
	if err != nil {
		return h, fmt.Errorf("host links: %w", err)
	}
	for _, l := range links {
		h.links = append(h.links, l.Attrs().Name)
	}
	slices.Sort(h.links)
	nc, err := nftables.New()
	if err != nil {
		return h, fmt.Errorf("nftables: %w", err)
	}
	tables, err := nc.ListTables()
	if err != nil {
		return h, fmt.Errorf("nft list tables: %w", err)
	}
	for _, tb := range tables {
		h.nftTables = append(h.nftTables, fmt.Sprintf("%d %s", tb.Family, tb.Name))
	}
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return h, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "portlab-") {
			h.pinned = append(h.pinned, e.Name())
		}
	}
	return h, nil
}

type proc struct {
	pid, ppid int
	exe       string
	args      []string
}

func (p proc) String() string { return fmt.Sprintf("%d:%s", p.pid, strings.Join(p.args, " ")) }

// netns lists the network namespaces the process is in or holds a descriptor of.
func (p proc) netns() []string {
	var out []string
	if n := nsOf(fmt.Sprintf("/proc/%d/ns/net", p.pid)); n != "" {
		out = append(out, n)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.pid, fd.Name())); err == nil && strings.HasPrefix(l, "net:[") {
			out = append(out, l)
		}
	}
	return out
}

func nsOf(path string) string {
	l, _ := os.Readlink(path)
	return l
}

// allProcs lists every process with its executable, parent and arguments.
func allProcs() []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue // kernel thread, or gone
		}
		p := proc{pid: pid, exe: exe}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				if v, ok := strings.CutPrefix(line, "PPid:"); ok {
					p.ppid, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
		}
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			p.args = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		}
		out = append(out, p)
	}
	return out
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lineLog collects a process's stderr by lines and lets a test wait for one.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []string
	partial []byte
	changed chan struct{}
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait returns the first line for which match is true, waiting up to timeout; it gives
// up early when done closes and no line matches.
func (l *lineLog) wait(match func(string) bool, timeout time.Duration, done <-chan struct{}) (string, bool) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if match(s) {
				l.mu.Unlock()
				return s, true
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			// One last look: the final lines may have come with the exit.
			time.Sleep(50 * time.Millisecond)
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, s := range l.lines {
				if match(s) {
					return s, true
				}
			}
			return "", false
		case <-deadline:
			return "", false
		}
	}
}

// ---------------------------------------------------------------------------------
// Result helpers.

func group(t *testing.T, res *reports.Result, name string) reports.GroupOutcome {
	t.Helper()
	for _, g := range res.Groups {
		if g.Group == name {
			return g
		}
	}
	t.Fatalf("result has no group %q", name)
	return reports.GroupOutcome{}
}

func wakeOf(t *testing.T, res *reports.Result, name string) reports.WakeStats {
	t.Helper()
	for _, w := range res.Wake {
		if w.Group == name {
			return w
		}
	}
	t.Fatalf("result has no wake-up row for group %q", name)
	return reports.WakeStats{}
}

func ruleCounter(t *testing.T, res *reports.Result, router, rule string) reports.RuleCounter {
	t.Helper()
	for _, c := range res.Firewall {
		if c.Router == router && c.Rule == rule {
			return c
		}
	}
	t.Fatalf("result has no firewall counter %s/%s (have %+v)", router, rule, res.Firewall)
	return reports.RuleCounter{}
}

func mpCost(t *testing.T, res *reports.Result, name string) reports.ProcessCost {
	t.Helper()
	for _, c := range res.Cost {
		if c.Role == "mp" && c.Name == name {
			return c
		}
	}
	t.Fatalf("result has no cost row for mp %q", name)
	return reports.ProcessCost{}
}

// checkPassedRun asserts what every passing run leaves: status passed, every gate
// passed, and the result files.
func checkPassedRun(t *testing.T, r *run, code int) *reports.Result {
	t.Helper()
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	res := r.result()
	if res.Status != reports.StatusPassed {
		t.Errorf("status %q (error %q), want passed", res.Status, res.Error)
	}
	if len(res.Gates) == 0 {
		t.Errorf("no gate verdicts")
	}
	for _, g := range res.Gates {
		if !g.Passed || g.Pending {
			t.Errorf("gate %s: passed=%v pending=%v: %s", g.Name, g.Passed, g.Pending, g.Message)
		}
	}
	for _, f := range []string{"summary.md", "junit.xml", "report.html"} {
		st, err := os.Stat(filepath.Join(r.out, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	return res
}

// junitDoc is the part of junit.xml the tests read.
type junitDoc struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("junit: %v", err)
	}
	var d junitDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("junit %s: %v", path, err)
	}
	if len(d.Suites) != 1 {
		t.Fatalf("junit has %d suites, want 1", len(d.Suites))
	}
	return d
}

// ---------------------------------------------------------------------------------
// 1. The built-in scenarios pass their gates, and tell their story.

// builtinStories are checks beyond the gates, one per built-in, on facts that could
// be otherwise.
var builtinStories = map[string]func(t *testing.T, res *reports.Result){
	"port-change": func(t *testing.T, res *reports.Result) {
		stale, pushed := group(t, res, "stale"), group(t, res, "pushed")
		if stale.Unmanaged != stale.Count || stale.Managed != 0 {
			t.Errorf("stale: managed %d unmanaged %d of %d, want all unmanaged", stale.Managed, stale.Unmanaged, stale.Count)
		}
		if stale.PortsUsed[8080] != 0 {
			t.Errorf("stale: %d clients last succeeded on 8080; they never learn it", stale.PortsUsed[8080])
		}
		if pushed.Managed != pushed.Count || pushed.PortsUsed[8080] != pushed.Count {
			t.Errorf("pushed: managed %d of %d, ports used %v; want all managed on 8080", pushed.Managed, pushed.Count, pushed.PortsUsed)
		}
		// Domain clients followed by themselves, from AD DS, after the publication.
		domain := group(t, res, "domain")
		if domain.Managed != domain.Count || domain.PortsUsed[8080] != domain.Count || domain.Location == nil ||
			domain.Location.Learned["ad"] != domain.Count || domain.Location.FollowTime.P50 < 10 {
			t.Errorf("domain: managed %d of %d, ports used %v, location %+v; want all on 8080 from AD DS, not before the publication", domain.Managed, domain.Count, domain.PortsUsed, domain.Location)
		}
		if l := stale.Location; l == nil || l.Learned["never"] != stale.Count || l.LDAPQueries != 0 {
			t.Errorf("stale (workgroup): location %+v; want none learned, no AD DS lookup", l)
		}
		// The secondary site's MP inherited the port: clients got answers there on 8080.
		var ok8080 uint64
		for _, q := range res.Requests {
			if q.MP == "mp2" && q.Port == 8080 && q.Outcome == "ok" {
				ok8080 += q.Count
			}
		}
		if ok8080 == 0 {
			t.Errorf("no successful request to mp2 on 8080")
		}
	},
	"blocked-443": func(t *testing.T, res *reports.Result) {
		in, out := group(t, res, "intranet"), group(t, res, "internet")
		if in.Managed != in.Count || in.PortsUsed[8443] != in.Count {
			t.Errorf("intranet: managed %d of %d, ports used %v; want all managed on 8443", in.Managed, in.Count, in.PortsUsed)
		}
		if out.Unmanaged != out.Count || out.PortsUsed[8443] != 0 {
			t.Errorf("internet: unmanaged %d of %d, ports used %v; want all unmanaged, none through 8443", out.Unmanaged, out.Count, out.PortsUsed)
		}
		if c := ruleCounter(t, res, "edge", "https-443"); c.Packets == 0 {
			t.Errorf("edge https-443 passed no packet before the change")
		}
	},
	"fallback-alternate": func(t *testing.T, res *reports.Result) {
		dropped, rejected := group(t, res, "dropped"), group(t, res, "rejected")
		// Connect timeout is 2 s: a dropped SYN costs about that.
		if p50 := dropped.FallbackDelay.P50; p50 < 1.5 || p50 > 3 {
			t.Errorf("dropped: fallback delay p50 %.3fs, want about the 2s connect timeout (1.5-3s)", p50)
		}
		if p99 := rejected.FallbackDelay.P99; p99 >= 0.2 || rejected.FallbackDelay.Count == 0 {
			t.Errorf("rejected: fallback delay p99 %.3fs over %d fallbacks, want < 200ms", p99, rejected.FallbackDelay.Count)
		}
		for _, g := range []reports.GroupOutcome{dropped, rejected} {
			if g.Fallbacks != g.Count || g.PortsUsed[8080] != g.Count {
				t.Errorf("%s: %d of %d fell back, ports used %v; want all on the alternate 8080", g.Group, g.Fallbacks, g.Count, g.PortsUsed)
			}
		}
	},
	"wake-up": func(t *testing.T, res *reports.Result) {
		// When was each group's wake-up sent?
		sentAt := map[string]float64{}
		for _, e := range res.Events {
			if e.Kind == "wake" && e.Error == "" {
				sentAt[strings.Fields(e.Detail)[0]] = e.At
			}
		}
		for _, name := range []string{"bcast-a", "ucast-a"} {
			g := group(t, res, name)
			at, ok := sentAt[name]
			if !ok {
				t.Fatalf("no wake event recorded for %s (events %+v)", name, res.Events)
			}
			awake := 0
			for _, tr := range g.Transitions {
				if tr.To != "awake" {
					continue
				}
				awake += tr.Count
				// Only the targeted clients wake: ucast-a shares lan-a with bcast-a,
				// whose broadcast at 5s must not wake it before its own packets at 8s.
				if tr.T < at-0.5 {
					t.Errorf("%s: %d clients woke at %gs, before their wake-up at %gs", name, tr.Count, tr.T, at)
				}
			}
			if awake != g.Count || g.Asleep != 0 || g.Managed != g.Count {
				t.Errorf("%s: %d awake transitions, %d asleep, %d managed of %d; want all woken and managed", name, awake, g.Asleep, g.Managed, g.Count)
			}
			if w := wakeOf(t, res, name); w.Woken != w.Targeted || w.TimeToManaged.Count != uint64(w.Targeted) {
				t.Errorf("%s: woken %d of %d targeted, time-to-managed count %d", name, w.Woken, w.Targeted, w.TimeToManaged.Count)
			}
		}
		// Nobody wakes behind rb (no directed-broadcast forwarding, no static neighbour
		// entries: neither broadcast nor unicast gets through) or rc (firewall).
		for _, name := range []string{"bcast-b", "ucast-b", "bcast-c"} {
			g := group(t, res, name)
			if g.Asleep != g.Count || len(g.Transitions) != 0 {
				t.Errorf("%s: asleep %d of %d, transitions %+v; want all still asleep", name, g.Asleep, g.Count, g.Transitions)
			}
			if w := wakeOf(t, res, name); w.PacketsSent == 0 || w.Woken != 0 {
				t.Errorf("%s: %d packets sent, %d woken; want packets sent and none woken", name, w.PacketsSent, w.Woken)
			}
		}
	},
	"notification-cost": func(t *testing.T, res *reports.Result) {
		transports := map[string]string{"tcp": "tcp", "http-poll": "http", "https-poll": "https"}
		seen := map[string]bool{}
		for _, p := range res.Push {
			want, ok := transports[p.Group]
			if !ok {
				t.Errorf("push row for group %s, which has no notification channel", p.Group)
				continue
			}
			seen[p.Group] = true
			if p.Transport != want {
				t.Errorf("group %s pushed over %q, want %q", p.Group, p.Transport, want)
			}
			// Two pushes, each to every client of the group.
			if p.Targeted != 2*group(t, res, p.Group).Count || p.Latency.Count == 0 {
				t.Errorf("group %s: %d targeted, %d latencies; want 2 pushes to each client", p.Group, p.Targeted, p.Latency.Count)
			}
		}
		for g := range transports {
			if !seen[g] {
				t.Errorf("no push row for group %s", g)
			}
		}
		// Each MP served its group: requests and CPU measured for each.
		for _, name := range []string{"mp-tcp", "mp-http", "mp-https", "mp-port80", "mp-port8080"} {
			if c := mpCost(t, res, name); c.Requests == 0 || c.CPUUser+c.CPUSystem <= 0 || c.RSSPeak == 0 {
				t.Errorf("mp %s: %d requests, CPU %.3fs, RSS peak %d; want all measured", name, c.Requests, c.CPUUser+c.CPUSystem, c.RSSPeak)
			}
		}
		for name, port := range map[string]int{"port80": 80, "port8080": 8080} {
			if g := group(t, res, name); g.PortsUsed[port] != g.Count {
				t.Errorf("%s: ports used %v, want all %d on %d", name, g.PortsUsed, g.Count, port)
			}
		}
	},
}

// runElsewhere are the built-ins TestE2EBuiltins leaves to a test of their own, which
// checks their story and prediction (predictionHolds) too.
var runElsewhere = map[string]string{
	// 120 s with a 60 s ramp, and its gate is the load generator keeping its schedule:
	// it runs alone, shortened (testdata/e2e-capacity.yaml, kept equal to it otherwise).
	"mp-capacity": "TestE2EMPCapacity",
}

func TestE2EBuiltins(t *testing.T) {
	needBinary(t)
	bs, err := scenarios.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		name := b.Name
		if runElsewhere[name] != "" {
			continue
		}
		if builtinStories[name] == nil {
			t.Errorf("built-in %s has no story check in builtinStories", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startRun(t, name)
			r.waitLine("load running", 60*time.Second)
			r.noteNamespaces()
			code := r.wait(150 * time.Second) // notification-cost lasts 105 s
			res := checkPassedRun(t, r, code)
			if res.ScenarioName != name {
				t.Errorf("result names scenario %q", res.ScenarioName)
			}
			builtinStories[name](t, res)
			predictionHolds(t, res)
			r.noLeftovers()
		})
	}
}

// predictionHolds: portlab run put portlab predict's prediction beside the measurement,
// and for every group of a built-in it is firm (not uncertain) and agrees: the model
// of client behaviour the prediction's rules encode is the one the run shows.
func predictionHolds(t *testing.T, res *reports.Result) {
	t.Helper()
	if len(res.Prediction) != len(res.Groups) {
		t.Fatalf("%d predictions for %d groups", len(res.Prediction), len(res.Groups))
	}
	for _, p := range res.Prediction {
		switch {
		case !p.Compared:
			t.Errorf("group %s: prediction %s not compared (%s)", p.Group, p.Predicted, p.Why)
		case !p.Agrees:
			t.Errorf("group %s disagrees with the prediction: %s", p.Group, p.Disagreement)
		}
	}
}

// The make test variant of mp-capacity differs from the built-in only in its name and
// its shorter timing.
func TestCapacityVariantMatchesBuiltin(t *testing.T) {
	b, err := scenarios.LoadBuiltin("mp-capacity")
	if err != nil {
		t.Fatal(err)
	}
	v, err := scenarios.Load("testdata/e2e-capacity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v.Name, v.Duration, v.Ramp, v.Timeline[0].At = b.Name, b.Duration, b.Ramp, b.Timeline[0].At
	bj, _ := b.Marshal()
	vj, _ := v.Marshal()
	if string(bj) != string(vj) {
		t.Errorf("testdata/e2e-capacity.yaml drifted from the built-in mp-capacity:\n%s\nvs\n%s", vj, bj)
	}
}

// TestE2EMPCapacity runs the one-MP scale scenario (mp-capacity, shortened to 45 s) at
// its default 2,000 clients through the product's front door, alone (not beside the
// other built-ins: its gate is the load generator keeping its schedule). The
// 25,000-client figures are `make bench-scale`'s.
func TestE2EMPCapacity(t *testing.T) {
	r := startRun(t, "testdata/e2e-capacity.yaml")
	r.waitLine("load running", 60*time.Second)
	r.noteNamespaces()
	code := r.wait(120 * time.Second)
	res := checkPassedRun(t, r, code)
	predictionHolds(t, res)
	g := group(t, res, "clients")
	c := mpCost(t, res, "mp1")
	if c.Sessions != g.Count {
		t.Errorf("mp1 held %d notification sessions, want one per client (%d)", c.Sessions, g.Count)
	}
	if len(res.Push) != 1 || res.Push[0].Targeted != g.Count || res.Push[0].Delivered != g.Count {
		t.Errorf("push rows %+v, want one push to each of %d clients, all delivered", res.Push, g.Count)
	}
	// 45 s at 10 s polling after a 10 s ramp: each client plans 4 or 5 cycles; the split
	// of late starts adds up.
	if res.Load.Planned < uint64(4*g.Count) || res.Load.Planned > uint64(6*g.Count) {
		t.Errorf("%d cycles planned for %d clients, want 4-6 each", res.Load.Planned, g.Count)
	}
	if f := float64(res.Load.Deferred) / float64(res.Load.Planned); math.Abs(f-res.Load.DeferredFraction) > 1e-9 {
		t.Errorf("deferred fraction %v, but %d of %d deferred", res.Load.DeferredFraction, res.Load.Deferred, res.Load.Planned)
	}
	// latency.hlog's per-second intervals add up to the whole run, tag by tag.
	merged, err := reports.MergedHists(res)
	if err != nil {
		t.Fatal(err)
	}
	series, _, err := reports.IntervalSeries(res, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range merged {
		var n int64
		for _, p := range series[m.Tag] {
			n += p.Count
		}
		if n != m.Hist.TotalCount() {
			t.Errorf("%s: intervals hold %d values, the whole run %d", m.Tag, n, m.Hist.TotalCount())
		}
	}
	if pol := series["latency.policy.http.80"]; len(pol) < 30 {
		t.Errorf("policy latency in %d intervals over a 45 s run; want one a second", len(pol))
	}
	r.noLeftovers()
}

// ---------------------------------------------------------------------------------
// 2. A failing gate exits 1 and shows in junit.xml.

func TestE2EGateFails(t *testing.T) {
	t.Parallel()
	r := startRun(t, "testdata/e2e-gate-fails.yaml")
	code := r.wait(60 * time.Second)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (a gate failed)", code)
	}
	res := r.result()
	if res.Status != reports.StatusFailed {
		t.Errorf("status %q, want failed", res.Status)
	}
	const bad = "unmanaged_fraction{group=stale}"
	for _, g := range res.Gates {
		if g.Passed == (g.Name == bad) {
			t.Errorf("gate %s passed=%v: %s", g.Name, g.Passed, g.Message)
		}
	}
	if !strings.Contains(r.stderr.String(), "FAIL  "+bad) {
		t.Errorf("console does not say which gate failed; stderr:\n%s", r.stderr.String())
	}
	d := readJUnit(t, filepath.Join(r.out, "junit.xml"))
	failures := 0
	for _, c := range d.Suites[0].Cases {
		if c.Failure == nil {
			continue
		}
		failures++
		if !strings.Contains(c.Name, bad) {
			t.Errorf("junit failure in case %q, want the %s gate", c.Name, bad)
			continue
		}
		// Measured vs expected: all 30 stale clients unmanaged, against <= 0.
		if !strings.Contains(c.Failure.Message, "measured 1") || !strings.Contains(c.Failure.Text, "measured 1") || !strings.Contains(c.Failure.Text, "<= 0") {
			t.Errorf("junit failure does not give measured vs expected: message %q, text %q", c.Failure.Message, c.Failure.Text)
		}
	}
	if failures != 1 {
		t.Errorf("junit has %d failures, want 1", failures)
	}
	r.noLeftovers()
}

// ---------------------------------------------------------------------------------
// 3. Ctrl-C.

func TestE2EInterrupt(t *testing.T) {
	t.Parallel()
	t.Run("once", func(t *testing.T) {
		r := startRun(t, "testdata/e2e-steady.yaml")
		r.waitLine("load running", 60*time.Second)
		r.noteNamespaces()
		time.Sleep(3 * time.Second) // some load, well before the 20 s end
		sent := time.Now()
		r.signal(syscall.SIGINT)
		code := r.wait(20 * time.Second)
		t.Logf("exit %d %s after SIGINT", code, time.Since(sent).Round(time.Millisecond))
		if code != 4 {
			t.Errorf("exit code %d, want 4 (interrupted)", code)
		}
		res := r.result()
		if res.Status != reports.StatusInterrupted {
			t.Errorf("status %q, want interrupted", res.Status)
		}
		if res.Elapsed <= 0 || res.Elapsed >= 20 {
			t.Errorf("elapsed %.1fs, want the part that ran (0-20s)", res.Elapsed)
		}
		// What there is was collected: the clients had become managed.
		if g := group(t, res, "all"); g.Managed == 0 {
			t.Errorf("interrupted result shows no managed client: %+v", g)
		}
		d := readJUnit(t, filepath.Join(r.out, "junit.xml"))
		interrupted := false
		for _, c := range d.Suites[0].Cases {
			if c.Error != nil && c.Error.Type == reports.StatusInterrupted {
				interrupted = true
			}
		}
		if !interrupted {
			t.Errorf("junit.xml has no interrupted error case")
		}
		r.noLeftovers()
	})
	// A terminal's Ctrl-C or hang-up goes to the whole foreground process group: the
	// agents get it too, and must leave stopping to the orchestrator, or they would be
	// counted as deaths (exit 5) and take their last figures with them.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		t.Run("group-"+sig.String(), func(t *testing.T) {
			r := startRun(t, "testdata/e2e-steady.yaml")
			r.waitLine("load running", 60*time.Second)
			r.noteNamespaces()
			time.Sleep(3 * time.Second)
			if err := syscall.Kill(-r.cmd.Process.Pid, sig); err != nil { // the run's own group
				t.Fatalf("signal %v to process group %d: %v", sig, r.cmd.Process.Pid, err)
			}
			code := r.wait(20 * time.Second)
			res := r.result()
			if code != 4 || res.Status != reports.StatusInterrupted {
				t.Errorf("exit %d, status %q (%s); want 4, interrupted", code, res.Status, res.Error)
			}
			if strings.Contains(res.Error, "died") || strings.Contains(r.stderr.String(), "died") {
				t.Errorf("an agent was counted as dead: %s", res.Error)
			}
			if g := group(t, res, "all"); g.Managed == 0 {
				t.Errorf("interrupted result shows no managed client: %+v", g)
			}
			r.noLeftovers()
		})
	}
	t.Run("twice", func(t *testing.T) {
		r := startRun(t, "testdata/e2e-steady.yaml")
		r.waitLine("load running", 60*time.Second)
		r.noteNamespaces()
		time.Sleep(2 * time.Second)
		// The graceful path takes milliseconds; to catch it in the middle, stop the
		// fleet agent so its final report cannot come and the orchestrator waits for it.
		fleetAgent := r.oneAgent("fleet")
		if err := syscall.Kill(fleetAgent.pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("stop fleet agent %d: %v", fleetAgent.pid, err)
		}
		r.signal(syscall.SIGINT)
		// The first one was handled (and cannot merge with the second).
		r.waitLine("interrupted: stopping the load", 10*time.Second)
		if r.exited() {
			t.Fatalf("the run exited after the first SIGINT although its fleet could not report")
		}
		sent := time.Now()
		r.signal(syscall.SIGINT)
		code := r.wait(5 * time.Second)
		t.Logf("exit %d %s after the second SIGINT", code, time.Since(sent).Round(time.Millisecond))
		if code != 4 {
			t.Errorf("exit code %d, want 4 (interrupted)", code)
		}
		r.waitLine("second interrupt", time.Second)
		// It left at once: results may be missing, but never partial.
		if _, err := os.Stat(filepath.Join(r.out, "result.json")); err == nil {
			if res := r.result(); res.Status != reports.StatusInterrupted {
				t.Errorf("status %q, want interrupted", res.Status)
			}
		}
		// The stopped fleet agent too must be gone (a stopped process still dies of
		// SIGKILL, which is what its parent-death signal is).
		r.noLeftovers()
	})
}

// ---------------------------------------------------------------------------------
// 4. An MP agent dies mid-run.

// TestE2EMPKilled: the documented outcome is exit 5 (the run itself failed) with
// result.json status "error" naming the dead MP.
func TestE2EMPKilled(t *testing.T) {
	t.Parallel()
	r := startRun(t, "testdata/e2e-steady.yaml")
	r.waitLine("load running", 60*time.Second)
	r.noteNamespaces()
	time.Sleep(2 * time.Second)
	mpAgent := r.oneAgent("mp")
	if err := syscall.Kill(mpAgent.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill mp agent %d: %v", mpAgent.pid, err)
	}
	code := r.wait(60 * time.Second)
	if code != 5 {
		t.Errorf("exit code %d, want 5 (the run failed: an agent died)", code)
	}
	res := r.result()
	if res.Status != reports.StatusError {
		t.Errorf("status %q, want error", res.Status)
	}
	if !strings.Contains(res.Error, "mp mp1") || !strings.Contains(res.Error, "died") {
		t.Errorf("result error %q does not name the dead MP", res.Error)
	}
	if !strings.Contains(r.stderr.String(), "mp mp1 agent died") {
		t.Errorf("console does not say the MP died")
	}
	d := readJUnit(t, filepath.Join(r.out, "junit.xml"))
	found := false
	for _, c := range d.Suites[0].Cases {
		if c.Error != nil && c.Error.Type == reports.StatusError && strings.Contains(c.Error.Message, "mp1") {
			found = true
		}
	}
	if !found {
		t.Errorf("junit.xml has no error case naming mp1")
	}
	r.noLeftovers()
}

// ---------------------------------------------------------------------------------
// 5. Results are atomic: SIGKILL never leaves a partial result.json.

func TestE2EKilledResultsAtomic(t *testing.T) {
	t.Parallel()
	// checkAfterKill: result.json is absent or complete, and nothing is left behind.
	// finishing: the kill came at the very end, so the run may have exited by itself
	// just before it landed (exit 0 with its results written).
	checkAfterKill := func(t *testing.T, r *run, finishing bool) {
		code := r.wait(10 * time.Second)
		switch {
		case code == -1:
		case code == 0 && finishing:
			t.Logf("the run had ended by itself when the kill landed")
		default:
			t.Errorf("exit code %d after SIGKILL, want death by signal", code)
		}
		p := filepath.Join(r.out, "result.json")
		if _, err := os.Stat(p); err == nil {
			res, err := reports.Read(p)
			if err != nil {
				t.Errorf("result.json after SIGKILL is not a complete result: %v", err)
			} else {
				t.Logf("result.json complete after the kill: status %s", res.Status)
				if len(res.Gates) == 0 || res.Status == "" {
					t.Errorf("result.json after SIGKILL lacks gates or status: %+v", res)
				}
			}
		} else {
			t.Logf("no result.json after the kill")
		}
		r.noLeftovers()
	}
	t.Run("building", func(t *testing.T) {
		r := startRun(t, "testdata/e2e-short.yaml")
		r.waitLine("building network", 30*time.Second)
		r.signal(syscall.SIGKILL)
		checkAfterKill(t, r, false)
		if _, err := os.Stat(filepath.Join(r.out, "result.json")); err == nil {
			t.Errorf("result.json exists although the run was killed while building")
		}
	})
	t.Run("load", func(t *testing.T) {
		r := startRun(t, "testdata/e2e-short.yaml")
		r.waitLine("load running", 60*time.Second)
		r.noteNamespaces()
		time.Sleep(time.Second)
		r.signal(syscall.SIGKILL)
		checkAfterKill(t, r, false)
		if _, err := os.Stat(filepath.Join(r.out, "result.json")); err == nil {
			t.Errorf("result.json exists although the run was killed mid-load")
		}
	})
	// While the results are being written: kill as soon as the first file appears in
	// the output directory (result.json is written last), as soon as report.html does
	// (the slowest rendering), and as soon as result.json's temporary file or
	// result.json itself does (whichever the poll sees first).
	for _, first := range []string{"", "report.html", ".result.json.tmp"} {
		name := "writing"
		if first != "" {
			name += "-" + strings.Trim(first, ".")
		}
		t.Run(name, func(t *testing.T) {
			r := startRun(t, "testdata/e2e-short.yaml")
			r.waitLine("load running", 60*time.Second)
			r.noteNamespaces()
			seen := ""
			deadline := time.Now().Add(60 * time.Second)
			for {
				ents, _ := os.ReadDir(r.out)
				for _, e := range ents {
					if first == "" || e.Name() == first || (strings.HasPrefix(first, ".result.json") && strings.Contains(e.Name(), "result.json")) {
						seen = e.Name()
						break
					}
				}
				if seen != "" || r.exited() || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if seen == "" {
				t.Fatalf("no %q in %s before the run ended", first, r.out)
			}
			// The run may have just ended by itself: then there is nothing to kill.
			if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatalf("SIGKILL pid %d: %v", r.cmd.Process.Pid, err)
			}
			t.Logf("killed when %s appeared", seen)
			checkAfterKill(t, r, true)
		})
	}
}

// ---------------------------------------------------------------------------------
// 7. Unicast wake-up needs the router's static neighbour entries (issue 7).

func TestE2EWakeUnicastNeedsNeighbours(t *testing.T) {
	t.Parallel()
	r := startRun(t, "testdata/e2e-wake-unicast.yaml")
	r.waitLine("load running", 60*time.Second)
	r.noteNamespaces()
	code := r.wait(60 * time.Second)
	res := checkPassedRun(t, r, code)
	a, b := group(t, res, "ucast-a"), group(t, res, "ucast-b")
	if a.Managed != a.Count || a.Asleep != 0 {
		t.Errorf("ucast-a (router with static neighbours): managed %d asleep %d of %d; want all woken and managed", a.Managed, a.Asleep, a.Count)
	}
	if b.Asleep != b.Count || b.Managed != 0 || len(b.Transitions) != 0 {
		t.Errorf("ucast-b (router without): managed %d asleep %d of %d, transitions %+v; want all still asleep", b.Managed, b.Asleep, b.Count, b.Transitions)
	}
	// The packets were sent to both: the difference is the network's.
	if w := wakeOf(t, res, "ucast-b"); w.PacketsSent == 0 || w.Woken != 0 {
		t.Errorf("ucast-b: %d packets sent, %d woken; want packets sent and none woken", w.PacketsSent, w.Woken)
	}
	if w := wakeOf(t, res, "ucast-a"); w.Woken != w.Targeted {
		t.Errorf("ucast-a: woken %d of %d", w.Woken, w.Targeted)
	}
	r.noLeftovers()
}
