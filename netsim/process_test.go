package netsim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// startHolder re-executes the test binary in "hold" mode and reads its report.
func startHolder(t *testing.T) (holdReport, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"=hold")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var rep holdReport
	if err := json.NewDecoder(out).Decode(&rep); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("holder: %v (stderr: %s)", err, stderr.String())
	}
	if rep.AgentPid == 0 || len(rep.NSInodes) == 0 {
		t.Fatalf("holder report %+v", rep)
	}
	return rep, cmd
}

// reaped reports whether pid has exited; as subreaper this process reaps it.
func reaped(pid int) (bool, string) {
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	switch {
	case err == unix.ECHILD:
		// Not our child (already reaped, or never re-parented to us): gone if
		// /proc has no such process.
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return true, ""
		}
		return false, fmt.Sprintf("pid %d still exists and is not our child", pid)
	case err != nil:
		return false, err.Error()
	case got == pid:
		return true, ""
	}
	return false, fmt.Sprintf("pid %d still running", pid)
}

// nsHolders lists what still references any of the given namespace inodes: a task's
// namespace, an open descriptor, or a mount.
func nsHolders(inodes []uint64) []string {
	want := map[string]bool{}
	for _, ino := range inodes {
		want[fmt.Sprintf("net:[%d]", ino)] = true
	}
	var held []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		tasks, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "task"))
		for _, tk := range tasks {
			if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "task", tk.Name(), "ns/net")); want[l] {
				held = append(held, fmt.Sprintf("task %s/%s in %s", p.Name(), tk.Name(), l))
			}
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); want[l] {
				held = append(held, fmt.Sprintf("pid %s fd %s on %s", p.Name(), fd.Name(), l))
			}
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			for w := range want {
				if strings.Contains(line, w) {
					held = append(held, "mount "+line)
				}
			}
		}
	}
	return held
}

// tshark prints the given fields of the packets matching filter, one line each.
func tshark(t *testing.T, file, filter string, fields ...string) []string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): cannot check the capture opens")
	}
	args := []string{"-r", file, "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// helperRootless runs as an unprivileged user: re-exec into a user namespace, then
// build the test topology and make one accepted and one rejected connection.
func helperRootless() {
	reexeced, code, err := ReexecRootless(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "rootless:", err)
		os.Exit(3)
	}
	if reexeced {
		os.Exit(code)
	}
	if err := rootlessRun(); err != nil {
		fmt.Fprintln(os.Stderr, "rootless run:", err)
		os.Exit(1)
	}
	fmt.Println("rootless ok uid", os.Getuid())
	os.Exit(0)
}

func rootlessRun() error {
	topo, err := Build(context.Background(), testSpec(), Options{CaptureDir: os.Getenv("PORTLAB_TEST_CAPDIR")})
	if err != nil {
		return err
	}
	defer topo.Close()
	mp := MPNode("mp1")
	addr, _ := topo.Addr(mp, "")
	var ln net.Listener
	if err := topo.Do(mp, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 8080).String())
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()
	lan, _ := topo.Node(ClientNode("lan"))
	src, _ := ClientAddr(lan.Clients, 7)
	var reply string
	if err := topo.Do(ClientNode("lan"), func() error {
		d := DialerFrom(src)
		d.Timeout = 5 * time.Second
		c, err := d.Dial("tcp", netip.AddrPortFrom(addr, 8080).String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintln(c, "ping")
		reply, err = bufio.NewReader(c).ReadString('\n')
		return err
	}); err != nil {
		return fmt.Errorf("connect through the firewall: %w", err)
	}
	if reply != "ping\n" {
		return fmt.Errorf("echo: %q", reply)
	}
	cnt, err := topo.Counters("fw")
	if err != nil {
		return err
	}
	if cnt["open"].Packets != 1 {
		return fmt.Errorf("counters %v", cnt)
	}
	return nil
}

// TestRootless runs the topology as the unprivileged user nobody (uid 65534): portlab
// re-executes itself in a user + network namespace and everything works there.
func TestRootless(t *testing.T) {
	requireRoot(t) // to become nobody
	hostGuard(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	// The test binary lives in a root-only build directory: copy it where nobody can
	// run it.
	dir, err := os.MkdirTemp("", "portlab-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netsim.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	cmd.Env = append(os.Environ(), helperEnv+"=rootless")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), ErrNoUserNS.Error()) {
			t.Skipf("this kernel refuses unprivileged user namespaces: %s", out)
		}
		t.Fatalf("rootless run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "rootless ok uid 0") {
		t.Fatalf("rootless run output:\n%s", out)
	}
}
