package netsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNS runs fn on a fresh goroutine whose OS thread is locked and switched into the
// network namespace ns. The thread is switched back afterwards; when that fails the
// thread is left locked so the runtime destroys it instead of reusing a thread that
// sits in the wrong namespace (DESIGN.md, "Go and namespaces").
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get() // reads /proc/<pid>/task/<tid>/ns/net: this thread's
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: read current: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the goroutine ends and the runtime kills the thread.
			errc <- errors.Join(ferr, fmt.Errorf("netns: restore: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// newNamespaces creates n anonymous network namespaces, each held only by the returned
// file descriptor, and runs setup inside each right after creating it (the thread is
// already there, so sysctls cost no extra setns). On error every namespace created so
// far is closed again.
func newNamespaces(n int, setup func(i int) error) ([]netns.NsHandle, error) {
	type result struct {
		hs  []netns.NsHandle
		err error
	}
	resc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var hs []netns.NsHandle
		fail := func(err error) {
			for _, h := range hs {
				h.Close()
			}
			resc <- result{nil, err}
		}
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			fail(fmt.Errorf("netns: read current: %w", err))
			return
		}
		defer orig.Close()
		var buildErr error
		for i := 0; i < n; i++ {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				buildErr = fmt.Errorf("netns %d: unshare: %w", i, err)
				break
			}
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				buildErr = fmt.Errorf("netns %d: open: %w", i, err)
				break
			}
			hs = append(hs, netns.NsHandle(fd))
			if setup != nil {
				if err := setup(i); err != nil {
					buildErr = err
					break
				}
			}
		}
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked so it dies with this goroutine.
			fail(errors.Join(buildErr, fmt.Errorf("netns: restore: %w", err)))
			return
		}
		runtime.UnlockOSThread()
		if buildErr != nil {
			fail(buildErr)
			return
		}
		resc <- result{hs, nil}
	}()
	r := <-resc
	return r.hs, r.err
}

// writeSysctl writes a value under /proc/sys from the calling thread. Network sysctls
// resolve against the writing thread's namespace, so callers run it inside one.
func writeSysctl(key, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// readSysctl reads a value under /proc/sys from the calling thread's namespace.
func readSysctl(key string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ipv6Present reports whether the kernel has IPv6 (its sysctls exist).
func ipv6Present() bool {
	_, err := os.Stat("/proc/sys/net/ipv6/conf/default/disable_ipv6")
	return err == nil
}

// PinDir is where iproute2 looks for named namespaces, and where Options.Keep pins.
const PinDir = "/run/netns"

// PinPrefix starts the name of every namespace portlab pins.
const PinPrefix = "portlab-"

// pin bind-mounts the namespace held by h to PinDir/name, as `ip netns add` would, so
// `ip netns exec name ...` works after the run has ended.
func pin(h netns.NsHandle, name string) (string, error) {
	if err := os.MkdirAll(PinDir, 0o755); err != nil {
		return "", fmt.Errorf("pin %s: %w", name, err)
	}
	target := filepath.Join(PinDir, name)
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return "", fmt.Errorf("pin %s: create mount point: %w", name, err)
	}
	f.Close()
	src := fmt.Sprintf("/proc/self/fd/%d", int(h))
	if err := unix.Mount(src, target, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(target)
		return "", fmt.Errorf("pin %s: bind mount: %w", name, err)
	}
	return target, nil
}

// unpin undoes pin: detach the bind mount, remove the file.
func unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin %s: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin %s: remove: %w", path, err)
	}
	return nil
}

// Pinned lists the namespaces portlab pinned under PinDir (full paths).
func Pinned() ([]string, error) {
	ents, err := os.ReadDir(PinDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", PinDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), PinPrefix) {
			out = append(out, filepath.Join(PinDir, e.Name()))
		}
	}
	return out, nil
}
