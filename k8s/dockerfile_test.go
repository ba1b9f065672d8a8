package k8s

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// There is no container engine here to build the image, so these tests check what can
// be checked without one: the Dockerfile's stages refer to what the repository has, its
// Go matches go.mod, and .dockerignore keeps every file the build needs.

const repoRoot = ".."

type dockerStage struct {
	from, name string
	lines      []string // instructions after FROM, continuation lines joined
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		l := strings.TrimSpace(cur.String())
		cur.Reset()
		if l == "" {
			return
		}
		if fields := strings.Fields(l); strings.EqualFold(fields[0], "FROM") {
			st := dockerStage{from: fields[1]}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				st.name = fields[3]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if !strings.HasPrefix(strings.ToUpper(l), "ARG ") {
				t.Fatalf("instruction before FROM: %s", l)
			}
			return
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, l)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build and run", len(stages))
	}
	build, run := stages[0], stages[1]

	// The builder's Go is go.mod's.
	m := regexp.MustCompile(`^golang:(\d+\.\d+)(\.\d+)?(-[a-z0-9.]+)?$`).FindStringSubmatch(build.from)
	if m == nil {
		t.Fatalf("build stage FROM %s: want golang:<go.mod version>[-variant]", build.from)
	}
	if want := goModVersion(t); m[1] != want {
		t.Errorf("build stage uses Go %s, go.mod says %s", m[1], want)
	}

	// What the build stage copies and builds exists.
	var buildLine string
	for _, l := range build.lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "COPY":
			for _, src := range f[1 : len(f)-1] {
				if src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("COPY %s: %v", src, err)
				}
			}
		case "RUN":
			if strings.Contains(l, "go build") {
				buildLine = l
			}
		}
	}
	bm := regexp.MustCompile(`-o (\S+) (\./\S+)$`).FindStringSubmatch(buildLine)
	if bm == nil {
		t.Fatalf("no `go build ... -o OUT ./PKG` in the build stage: %q", buildLine)
	}
	out, pkg := bm[1], bm[2]
	if pkg != "./cmd/portlab" {
		t.Errorf("builds %s, want ./cmd/portlab", pkg)
	}
	main, err := os.ReadFile(filepath.Join(repoRoot, pkg, "main.go"))
	if err != nil || !strings.Contains(string(main), "package main") {
		t.Errorf("%s is not a main package: %v", pkg, err)
	}
	if !strings.Contains(buildLine, "CGO_ENABLED=0") {
		t.Error("the binary must be static (CGO_ENABLED=0): the run stage has no C library of the builder's version")
	}
	// The version variable the ldflags set exists.
	if xm := regexp.MustCompile(`-X github.com/portlab/portlab/cli\.(\w+)=`).FindStringSubmatch(buildLine); xm != nil {
		src, _ := os.ReadFile(filepath.Join(repoRoot, "cli", "root.go"))
		if !regexp.MustCompile(`var ` + xm[1] + ` = "`).Match(src) {
			t.Errorf("-X sets cli.%s, which cli/root.go does not declare", xm[1])
		}
	}

	// The run stage: a base with the shell tools the manifests use, the binary from
	// the build stage, portlab as the entrypoint.
	if !strings.HasPrefix(run.from, "debian:") {
		t.Errorf("run stage FROM %s: the manifests need /bin/sh, mount, sleep and tar (a Debian base has them)", run.from)
	}
	var copied, entry string
	for _, l := range run.lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if len(f) == 4 && f[1] == "--from="+build.name {
				if f[2] != out {
					t.Errorf("run stage copies %s, the build writes %s", f[2], out)
				}
				copied = f[3]
			}
		case "ENTRYPOINT":
			entry = strings.TrimSpace(strings.TrimPrefix(l, f[0]))
		}
	}
	if copied != "/usr/local/bin/portlab" {
		t.Errorf("binary copied to %q; the manifests run `portlab` from PATH (/usr/local/bin)", copied)
	}
	if entry != `["portlab"]` {
		t.Errorf("ENTRYPOINT %s, want [\"portlab\"]", entry)
	}
}

// dockerignored reports whether the build context leaves p out, as Docker matches
// .dockerignore patterns: against the path and each of its parent directories.
func dockerignored(patterns []string, p string) bool {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		for _, pat := range patterns {
			if ok, _ := path.Match(pat, prefix); ok {
				return true
			}
		}
	}
	return false
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
			t.Fatalf("pattern %q: this test's matcher does not do exceptions or **; extend it", l)
		}
		patterns = append(patterns, path.Clean(strings.TrimPrefix(l, "/")))
	}

	need := []string{"go.mod", "go.sum", "Dockerfile"}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the build's files")
	}
	// Every Go and embedded file of the packages cmd/portlab is built from (-e: a
	// package another change has broken still lists its files).
	cmd := exec.Command(goTool, "list", "-e", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/portlab/portlab"}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`,
		"./cmd/portlab")
	cmd.Dir = repoRoot
	listed, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	embeds := 0
	for _, l := range strings.Split(strings.TrimSpace(string(listed)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 3 {
			continue
		}
		rel, err := filepath.Rel(abs, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, names := range f[1:] {
			for _, n := range strings.Split(names, ",") {
				if n != "" {
					need = append(need, filepath.ToSlash(filepath.Join(rel, n)))
				}
			}
		}
		if f[2] != "" {
			embeds++
		}
	}
	if embeds == 0 || len(need) < 20 {
		t.Fatalf("go list found %d files, %d packages with embedded files: %s", len(need), embeds, listed)
	}
	for _, p := range need {
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore leaves out %s, which the image build needs", p)
		}
	}
	// And it does leave out what it is for.
	for _, p := range []string{".git/config", "bin/portlab", "portlab", "portlab-results/port-change/result.json"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore keeps %s", p)
		}
	}
}
