package k8s

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakePortlab puts a `portlab` on PATH that records its arguments and the variables
// the result scripts get, then exits with $FAKE_RC (or sleeps until SIGTERM and exits 4,
// as portlab does when interrupted, with FAKE_SLEEP=1).
func fakePortlab(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
echo "$@" > "$FAKE_LOG"
if [ "${FAKE_SLEEP:-}" = 1 ]; then
  trap 'echo interrupted >> "$FAKE_LOG"; exit 4' TERM
  echo started > "$FAKE_LOG.started"
  while :; do sleep 0.05; done
fi
exit "${FAKE_RC:-0}"
`
	if err := os.WriteFile(filepath.Join(dir, "portlab"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type scriptRun struct {
	code     int
	log      string // what portlab was called with
	uploaded string // what the upload script saw
	stderr   string
}

// runWrapper runs w's script as the container would: sh -c SCRIPT arg0 ARGS...
func runWrapper(t *testing.T, w wrapper, env []string, args ...string) scriptRun {
	t.Helper()
	bin := fakePortlab(t)
	tmp := t.TempDir()
	log, up := filepath.Join(tmp, "log"), filepath.Join(tmp, "uploaded")
	cmd := exec.Command("/bin/sh", append([]string{"-c", w.script(), "portlab-shard"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_LOG="+log, "UPLOADED="+up)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := scriptRun{stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	r.log = strings.TrimSpace(string(b))
	b, _ = os.ReadFile(up)
	r.uploaded = strings.TrimSpace(string(b))
	return r
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWrapperPassesArgsAndExitCode(t *testing.T) {
	for _, rc := range []int{0, 1, 2, 3, 5} {
		r := runWrapper(t, wrapper{}, []string{"FAKE_RC=" + strconv.Itoa(rc)}, "run", "/scenario/x.yaml", "--shard", "2/3", "--out", "/results/shard-2")
		if r.code != rc {
			t.Errorf("exit %d, want portlab's %d (stderr %s)", r.code, rc, r.stderr)
		}
		if r.log != "run /scenario/x.yaml --shard 2/3 --out /results/shard-2" {
			t.Errorf("portlab got %q", r.log)
		}
	}
}

func TestWrapperUploadKeepsPortlabsExitCode(t *testing.T) {
	upload := writeScript(t, `echo "exit=$PORTLAB_EXIT results=$PORTLAB_RESULTS" > "$UPLOADED"`+"\n")
	failing := writeScript(t, "exit 7\n")
	cases := []struct {
		name     string
		script   string
		rc, want int
	}{
		{"passed, uploaded", upload, 0, 0},
		{"gate failed, uploaded", upload, 1, 1},
		{"run failed, uploaded", upload, 5, 5},
		{"passed, upload failed", failing, 0, 5}, // the results are lost: the shard failed
		{"invalid, upload failed", failing, 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWrapper(t, wrapper{upload: c.script}, []string{"FAKE_RC=" + strconv.Itoa(c.rc), "PORTLAB_RESULTS=/results/shard-0"}, "run", "x")
			if r.code != c.want {
				t.Errorf("exit %d, want %d (stderr %s)", r.code, c.want, r.stderr)
			}
			if c.script == upload && r.uploaded != "exit="+strconv.Itoa(c.rc)+" results=/results/shard-0" {
				t.Errorf("upload saw %q", r.uploaded)
			}
			if c.script == failing && !strings.Contains(r.stderr, "results upload failed") {
				t.Errorf("stderr %q", r.stderr)
			}
		})
	}
}

func TestWrapperDownloadFailureStopsTheMerge(t *testing.T) {
	r := runWrapper(t, wrapper{download: writeScript(t, "exit 1\n"), upload: writeScript(t, "touch \"$UPLOADED\"\n")}, nil, "merge")
	if r.code != 5 || r.log != "" || !strings.Contains(r.stderr, "download failed") {
		t.Errorf("exit %d, portlab ran with %q, stderr %q", r.code, r.log, r.stderr)
	}
}

// A deadline or a deletion sends SIGTERM to PID 1, the shell: portlab must get it, stop,
// and its interrupted results still be uploaded.
func TestWrapperForwardsSIGTERM(t *testing.T) {
	bin := fakePortlab(t)
	tmp := t.TempDir()
	log, up := filepath.Join(tmp, "log"), filepath.Join(tmp, "uploaded")
	w := wrapper{upload: writeScript(t, `echo "exit=$PORTLAB_EXIT" > "$UPLOADED"`+"\n")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", w.script(), "portlab-shard", "run")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_LOG="+log, "UPLOADED="+up, "FAKE_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(log + ".started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fake portlab did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 4 {
		t.Fatalf("wrapper ended with %v, want exit 4 (portlab interrupted)", err)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "interrupted") {
		t.Errorf("portlab did not get SIGTERM: log %q", b)
	}
	if b, _ := os.ReadFile(up); strings.TrimSpace(string(b)) != "exit=4" {
		t.Errorf("interrupted results not uploaded: %q", b)
	}
}

// The script goes into a container's command, which kubelet expands: it must hold no
// $(NAME) or $$ for kubelet to rewrite.
func TestWrapperSurvivesKubeletExpansion(t *testing.T) {
	for _, w := range []wrapper{
		{},
		{remountProcSys: true},
		{remountProcSys: true, upload: "/scenario/u.sh"},
		{download: "/scenario/d.sh", upload: "/scenario/u.sh"},
	} {
		s := w.script()
		if got := expand(s, map[string]string{"pid": "X", "rc": "X", "PORTLAB_EXIT": "X"}); got != s {
			t.Errorf("kubelet would change the script:\n%s", s)
		}
	}
}

// In an unprivileged container /proc/sys is a read-only bind mount; the capability-mode
// wrapper makes it writable for its own mount namespace before portlab writes sysctls in
// the namespaces it creates. Emulated here with a private mount namespace, as root.
func TestWrapperRemountsReadOnlyProcSys(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds a private mount namespace with /proc/sys read-only")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("no mount command")
	}
	bin := fakePortlab(t)
	log := filepath.Join(t.TempDir(), "log")
	// Inside the new mount namespace: make /proc/sys read-only as runc does, then run the
	// wrapper; the fake portlab reports whether a network sysctl can be opened for writing.
	probe := `[ -w /proc/sys/net/ipv4/ip_forward ] && echo writable > "$FAKE_LOG" || echo read-only > "$FAKE_LOG"`
	if err := os.WriteFile(filepath.Join(bin, "portlab"), []byte("#!/bin/sh\n"+probe+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	setup := `mount --make-rprivate / && mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 99
[ -w /proc/sys/net/ipv4/ip_forward ] && exit 98
exec /bin/sh -c "$WRAPPER" portlab-shard run`
	cmd := exec.Command("/bin/sh", "-c", setup)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_LOG="+log, "WRAPPER="+wrapper{remountProcSys: true}.script())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && (ee.ExitCode() == 99 || ee.ExitCode() == 98) {
		t.Skipf("cannot emulate a read-only /proc/sys here: %s", out)
	} else if err != nil {
		t.Skipf("no private mount namespace here: %v %s", err, out)
	}
	b, _ := os.ReadFile(log)
	if strings.TrimSpace(string(b)) != "writable" {
		t.Errorf("after the wrapper, /proc/sys is %q (output %s)", b, out)
	}
}
