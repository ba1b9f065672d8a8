package netsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// RootlessEnv marks a process portlab re-executed inside its own user namespace.
const RootlessEnv = "PORTLAB_ROOTLESS"

// Rootless reports whether this process is portlab re-executed by ReexecRootless.
func Rootless() bool { return os.Getenv(RootlessEnv) == "1" }

// ErrNoUserNS is returned when this process is not root and the kernel refuses an
// unprivileged user namespace.
var ErrNoUserNS = errors.New("not root and unprivileged user namespaces are not available")

// ReexecRootless lets an unprivileged user run portlab: when the process is not root,
// it re-executes /proc/self/exe with the same arguments in a new user namespace (the
// user mapped to root there) and a new network namespace owned by it, where creating
// namespaces, veths, bridges and nftables tables is allowed. It waits for the child
// and returns reexeced=true with the child's exit code; the caller exits with it.
// When the process is root already, or is that child, it returns reexeced=false and
// the caller carries on.
//
// Limits inside: pinning (--keep) needs a mount in the host's mount namespace and is
// refused; everything else works as for root.
func ReexecRootless(ctx context.Context) (reexeced bool, code int, err error) {
	if os.Geteuid() == 0 || Rootless() {
		return false, 0, nil
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), RootlessEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	// Ctrl-C reaches the child through the terminal's process group; a context ended
	// otherwise asks it with SIGTERM, then kills it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return true, 0, fmt.Errorf("%w: re-exec in a user namespace: %v", ErrNoUserNS, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, 0, nil
	case errors.As(err, &ee):
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return true, 128 + int(st.Signal()), nil
		}
		return true, ee.ExitCode(), nil
	}
	return true, 0, fmt.Errorf("rootless child: %w", err)
}

// userNSAvailable starts `true` in a new user and network namespace, as
// ReexecRootless would start portlab: the clone and the uid/gid maps are the test.
func userNSAvailable() error {
	bin, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	return cmd.Run()
}
