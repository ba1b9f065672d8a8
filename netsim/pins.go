package netsim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// nameMax is NAME_MAX: the longest file name, here a pin's under PinDir.
const nameMax = 255

// PinName is the name under PinDir of node's namespace in run runID:
// portlab-<run>-<node>, as `ip netns` shows it. A name longer than NAME_MAX (a long
// segment name) keeps its start and ends in a hash of the whole name, so it still
// starts with portlab-<run>- (what `portlab clean --run` matches) and two long names
// stay apart. Scenario validation keeps names far shorter; this is the last guard.
func PinName(runID, node string) string {
	name := PinPrefix + runID + "-" + node
	if len(name) <= nameMax {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:nameMax-17] + "-" + hex.EncodeToString(sum[:8])
}

// pinRun is the run ID in a pin's name (portlab-<run>-<node>), or "".
func pinRun(name string) string {
	rest, ok := strings.CutPrefix(name, PinPrefix)
	if !ok {
		return ""
	}
	run, _, _ := strings.Cut(rest, "-")
	return run
}

// LiveRun is a kept run whose namespaces some process still uses: the run itself (its
// orchestrator holds the namespaces, its agents run inside them), or a shell someone
// started there with `ip netns exec`.
type LiveRun struct {
	RunID string
	Pins  []string // full paths
	PIDs  []int    // processes inside one of its namespaces, or holding one open
}

func (l LiveRun) String() string {
	pids := make([]string, len(l.PIDs))
	for i, p := range l.PIDs {
		pids[i] = strconv.Itoa(p)
	}
	return fmt.Sprintf("run %s is still in use (pid %s)", l.RunID, strings.Join(pids, ", "))
}

// CleanReport is what Clean did.
type CleanReport struct {
	Removed []string  // pins removed (full paths)
	Skipped []LiveRun // runs left alone because they are alive
}

// Clean removes the pinned namespaces of runID (every portlab run's when empty) that no
// process uses any more, and returns the paths it removed: CleanRuns without force.
func Clean(runID string) ([]string, error) {
	rep, err := CleanRuns(runID, false)
	return rep.Removed, err
}

// CleanRuns removes pinned portlab namespaces: only names starting with PinPrefix, only
// those of run runID when runID is not empty, and only those of runs no process uses
// any more, unless force. A run is alive while any process has one of its namespaces
// as its network namespace or holds one open (/proc/*/ns/net and /proc/*/fd/*, by the
// namespace's inode): unpinning a running --keep run would take its namespaces from
// under whoever is inspecting it. A namespace goes away once nothing holds it.
func CleanRuns(runID string, force bool) (CleanReport, error) {
	var rep CleanReport
	paths, err := Pinned()
	if err != nil {
		return rep, err
	}
	byRun := map[string][]string{}
	var runs []string
	for _, p := range paths {
		run := pinRun(filepath.Base(p))
		if runID != "" && run != runID {
			continue
		}
		if _, ok := byRun[run]; !ok {
			runs = append(runs, run)
		}
		byRun[run] = append(byRun[run], p)
	}
	sort.Strings(runs)
	users := map[uint64][]int{}
	if !force && len(runs) > 0 {
		users = namespaceUsers()
	}
	var errs []error
	for _, run := range runs {
		pins := byRun[run]
		if !force {
			var pids []int
			for _, p := range pins {
				if ino, ok := nsInode(p); ok {
					pids = append(pids, users[ino]...)
				}
			}
			if len(pids) > 0 {
				sort.Ints(pids)
				rep.Skipped = append(rep.Skipped, LiveRun{RunID: run, Pins: pins, PIDs: compactInts(pids)})
				continue
			}
		}
		for _, p := range pins {
			if err := unpin(p); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Removed = append(rep.Removed, p)
		}
	}
	return rep, errors.Join(errs...)
}

// nsInode is the inode of the network namespace at path (a pin, or a /proc link):
// false when path is not one (a pin whose bind mount is gone is an empty file of
// PinDir's file system, whose inode numbers mean something else).
func nsInode(path string) (uint64, bool) {
	var st, ns syscall.Stat_t
	if syscall.Stat(path, &st) != nil || syscall.Stat("/proc/thread-self/ns/net", &ns) != nil || st.Dev != ns.Dev {
		return 0, false
	}
	return st.Ino, true
}

// namespaceUsers maps network namespace inodes to the processes that are in them or
// hold them open, this one excepted. Processes it may not look at are skipped.
func namespaceUsers() map[uint64][]int {
	out := map[uint64][]int{}
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	add := func(link string, pid int, seen map[uint64]bool) {
		target, err := os.Readlink(link)
		if err != nil {
			return
		}
		ino, ok := netInode(target)
		if ok && !seen[ino] {
			seen[ino] = true
			out[ino] = append(out[ino], pid)
		}
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		seen := map[uint64]bool{}
		dir := "/proc/" + e.Name()
		add(dir+"/ns/net", pid, seen)
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			add(dir+"/fd/"+fd.Name(), pid, seen)
		}
	}
	return out
}

// netInode reads "net:[4026532290]", the target of a namespace link.
func netInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "net:[")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return n, err == nil
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// PinnedHere returns the name of the pinned portlab namespace the calling thread is in
// (`ip netns exec portlab-… portlab wake send …`), or "" when it is in none of them
// (the host's namespace, or anyone else's).
func PinnedHere() (string, error) {
	here, ok := nsInode("/proc/thread-self/ns/net")
	if !ok {
		return "", errors.New("cannot read this thread's network namespace")
	}
	paths, err := Pinned()
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		if ino, ok := nsInode(p); ok && ino == here {
			return filepath.Base(p), nil
		}
	}
	return "", nil
}
