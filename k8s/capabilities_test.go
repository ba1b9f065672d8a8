package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The capability list and the /proc/sys remount, checked against portlab itself: build
// it, then run `portlab doctor` (which creates a namespace, writes a sysctl in it, and
// probes veth, bridge, nftables and AF_PACKET there) the way a shard's container would
// be set up by its runtime — a private mount namespace with /proc/sys read-only, and a
// capability bounding set of exactly Capabilities — through the capability-mode wrapper.
// AppArmor and seccomp are not emulated. Needs root, unshare-capable kernel and setpriv.
func TestCapabilitiesSufficeForPortlab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: emulates a container's mounts and capability bounding set")
	}
	if testing.Short() {
		t.Skip("builds portlab")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux) to set the bounding set")
	}
	bin := filepath.Join(t.TempDir(), "portlab")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/portlab").CombinedOutput(); err != nil {
		t.Skipf("portlab does not build right now (another change in progress?): %v\n%s", err, out)
	}

	var caps []string
	for _, c := range Capabilities() {
		caps = append(caps, "+"+strings.ToLower(c))
	}
	doctor := func(caps []string, remount bool) (string, error) {
		setup := `mount --make-rprivate / && mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 99
exec "$SETPRIV" --bounding-set "$CAPS" --inh-caps -all /bin/sh -c "$WRAPPER" portlab-shard doctor`
		cmd := exec.Command("/bin/sh", "-c", setup)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
			"SETPRIV="+setpriv,
			"CAPS=-all,"+strings.Join(caps, ","),
			"WRAPPER="+wrapper{remountProcSys: remount}.script())
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
			t.Skipf("cannot emulate a read-only /proc/sys here: %s", out)
		}
		return string(out), err
	}

	out, err := doctor(caps, true)
	if err != nil {
		t.Fatalf("portlab doctor with capabilities %v failed: %v\n%s", Capabilities(), err, out)
	}
	for _, check := range []string{"netns", "veth", "bridge", "nftables", "af_packet"} {
		if !regexp.MustCompile(`(?m)^ok\s+` + check + `\s`).MatchString(out) { // tabwriter pads the columns
			t.Errorf("check %s not ok:\n%s", check, out)
		}
	}

	// The controls: each missing piece makes doctor fail, so the pass above means something.
	controls := []struct {
		name    string
		drop    string
		remount bool
		want    string
	}{
		{"read-only /proc/sys", "", false, "read-only file system"},
		{"no SYS_ADMIN", "+sys_admin", true, "cannot be made writable"}, // the wrapper stops first, exit 3
		{"no NET_ADMIN", "+net_admin", true, "operation not permitted"},
		{"no NET_RAW", "+net_raw", true, "af_packet"},
	}
	for _, c := range controls {
		var fewer []string
		for _, cp := range caps {
			if cp != c.drop {
				fewer = append(fewer, cp)
			}
		}
		out, err := doctor(fewer, c.remount)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: doctor passed or said something else (%v):\n%s", c.name, err, out)
		}
	}
}
