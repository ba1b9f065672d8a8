package netsim

import (
	"strings"
	"testing"
)

// Pin names fit NAME_MAX whatever the node's name, keep the run's prefix (what clean
// --run matches) and stay distinct.
func TestPinName(t *testing.T) {
	if got := PinName("3f2a9c1e", "router-core"); got != "portlab-3f2a9c1e-router-core" {
		t.Errorf("short name: %s", got)
	}
	a := PinName("3f2a9c1e", "switch-"+strings.Repeat("s", 300))
	b := PinName("3f2a9c1e", "switch-"+strings.Repeat("s", 299)+"t")
	if len(a) > nameMax || a == b || !strings.HasPrefix(a, "portlab-3f2a9c1e-switch-") || pinRun(a) != "3f2a9c1e" {
		t.Errorf("long names: %q (%d), %q", a, len(a), b)
	}
	for name, run := range map[string]string{"portlab-3f2a9c1e-site": "3f2a9c1e", "portlab-x": "x", "other-1-2": ""} {
		if got := pinRun(name); got != run {
			t.Errorf("pinRun(%q) = %q, want %q", name, got, run)
		}
	}
	for target, want := range map[string]uint64{"net:[4026532290]": 4026532290, "pipe:[12]": 0, "net:[x]": 0} {
		if got, _ := netInode(target); got != want {
			t.Errorf("netInode(%q) = %d, want %d", target, got, want)
		}
	}
}

// This process is in a namespace and holds none open: namespaceUsers sees other
// processes only, and PinnedHere finds no pin for the test's own namespace.
func TestNamespaceUsersSkipsSelf(t *testing.T) {
	self, ok := nsInode("/proc/thread-self/ns/net")
	if !ok {
		t.Skip("cannot read this thread's network namespace")
	}
	for _, pid := range namespaceUsers()[self] {
		if pid == 0 {
			t.Fatal("pid 0")
		}
	}
	if name, err := PinnedHere(); err != nil || (name != "" && !strings.HasPrefix(name, PinPrefix)) {
		t.Errorf("PinnedHere: %q %v", name, err)
	}
}
