package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Versions of the Go generators, pinned so that runs compare like with like.
const (
	heyModule    = "github.com/rakyll/hey@v0.1.5"
	vegetaModule = "github.com/tsenart/vegeta/v12@v12.13.0"
)

// setup makes each wanted generator ready: wrk from Debian (installed with apt-get when
// missing and root), hey and vegeta built with `go install` into dir (Go's module and
// build caches make it quick after the first time), the fleet from the portlab binary.
// A generator that cannot be made ready is returned in failed, with why.
func setup(ctx context.Context, o options, portlab, dir string, logf func(string, ...any)) (gens []generator, failed map[string]error) {
	failed = map[string]error{}
	bin := filepath.Join(dir, "bin")
	for _, name := range o.Generators {
		var g generator
		var err error
		switch name {
		case "wrk":
			var path string
			if path, err = ensureWrk(ctx, logf); err == nil {
				g = &wrk{bin: path, dir: dir}
			}
		case "hey":
			var path string
			if path, err = goInstall(ctx, bin, heyModule, "hey", logf); err == nil {
				g = &hey{bin: path}
			}
		case "vegeta":
			var path string
			if path, err = goInstall(ctx, bin, vegetaModule, "vegeta", logf); err == nil {
				g = &vegeta{bin: path, dir: dir}
			}
		case "fleet":
			g = &fleetGen{bin: portlab}
		}
		if err != nil {
			failed[name] = err
			logf("%s cannot run: %v", name, err)
			continue
		}
		gens = append(gens, g)
	}
	return gens, failed
}

// ensureWrk finds wrk, or installs the Debian package: apt-get update once, then
// apt-get install -y wrk (root only; each step bounded to 5 minutes).
func ensureWrk(ctx context.Context, logf func(string, ...any)) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("wrk is not installed and installing it needs root: apt-get install wrk")
	}
	logf("installing wrk (apt-get)")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "wrk"}} {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(cctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return "", fmt.Errorf("apt-get %s: %w: %s", args[0], err, lastLines(string(out), 5))
		}
	}
	return exec.LookPath("wrk")
}

// goInstall builds module@version into dir with `go install` and returns the binary.
func goInstall(ctx context.Context, dir, module, name string, logf func(string, ...any)) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go install %s: no go command: %w", module, err)
	}
	logf("building %s", module)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w: %s", module, err, lastLines(string(out), 5))
	}
	return filepath.Join(dir, name), nil
}

// lastLines is the last n lines of a command's output, for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
