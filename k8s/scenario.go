package k8s

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portlab/portlab/scenarios"
)

// Scenario is what the manifests need of one scenario: its bytes, verbatim, for the
// ConfigMap, and what the Job derives from it.
type Scenario struct {
	// Name is the scenario's name (its `name:` field).
	Name string
	// Source is the file's bytes, or a built-in's embedded YAML, unchanged: the shards
	// parse the very text that was validated here.
	Source []byte
	// Duration is the load's duration; the deadlines are derived from it.
	Duration time.Duration
	// ManagementPoints counts the scenario's MPs: a shard is a set of them.
	ManagementPoints int
}

// Key is the scenario's file name in the ConfigMap, and so under /scenario in the pods.
func (s Scenario) Key() string { return s.Name + ".yaml" }

// ReadScenario reads ref as scenarios.Resolve does — a path when it contains a slash or
// a dot, else a built-in name, else a file of that name — and validates it. An invalid
// scenario returns the scenarios package's error (errors.Is scenarios.ErrInvalid), with
// every problem and its line.
func ReadScenario(ref string) (Scenario, error) {
	var (
		file string
		src  []byte
		err  error
	)
	switch {
	case strings.ContainsAny(ref, "/."):
		file = ref
		src, err = readFile(ref)
	default:
		file = "builtin/" + ref + ".yaml"
		src, err = scenarios.BuiltinSource(ref)
		if err != nil {
			if _, serr := os.Stat(ref); serr != nil {
				return Scenario{}, fmt.Errorf("%w (and no file named %s)", err, ref)
			}
			file = ref
			src, err = readFile(ref)
		}
	}
	if err != nil {
		return Scenario{}, err
	}
	s, err := scenarios.Parse(file, src)
	if err != nil {
		return Scenario{}, err
	}
	return Scenario{
		Name:             s.Name,
		Source:           src,
		Duration:         s.Duration.D(),
		ManagementPoints: len(s.ManagementPoints),
	}, nil
}

// readFile reads a scenario file, refusing directories and files too large to be one.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a scenario file", path)
	}
	// Read one byte more than allowed: /dev/stdin has no size to check first.
	src, err := io.ReadAll(io.LimitReader(f, scenarios.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > scenarios.MaxFileSize {
		return nil, fmt.Errorf("%s: more than %d bytes; not a scenario", path, scenarios.MaxFileSize)
	}
	return src, nil
}
