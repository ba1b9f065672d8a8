package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A machine that cannot build the network (a kernel feature missing at one step) makes
// `portlab run` exit 3 with the doctor hint, not 5: the cause travels from netsim up
// through the runner intact. The failure is injected at each build step as the kernel
// would report it.
func TestRunIncapableExits3(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the network build starts before the injected failure")
	}
	for _, step := range []string{"namespaces", "links"} {
		var errb bytes.Buffer
		out := filepath.Join(t.TempDir(), "res")
		fl := runFlags{out: out, quiet: true, logFormat: "text", fault: func(s string) error {
			if s == step {
				return fmt.Errorf("veth: %w", unix.EOPNOTSUPP)
			}
			return nil
		}}
		err := runScenario(context.Background(), streams{strings.NewReader(""), &errb, &errb}, "port-change", fl)
		if code := codeFor(err); code != ExitIncapable {
			t.Errorf("fault at %s: exit %d (%v), want %d", step, code, err, ExitIncapable)
		}
		if err == nil || !strings.Contains(err.Error(), "portlab doctor") || !strings.Contains(err.Error(), step) {
			t.Errorf("fault at %s: %v; want the step and the doctor hint", step, err)
		}
		if _, serr := os.Stat(filepath.Join(out, "result.json")); serr == nil {
			t.Errorf("fault at %s: a result was written for a run that never started", step)
		}
	}
}
