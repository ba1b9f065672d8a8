package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin is one embedded scenario.
type Builtin struct {
	Name        string
	Description string
	Source      []byte
}

// Builtins lists the embedded scenarios, sorted by name.
func Builtins() ([]Builtin, error) {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil, err
	}
	var out []Builtin
	for _, e := range entries {
		src, err := builtinFS.ReadFile(path.Join("builtin", e.Name()))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".yaml")
		s, err := Parse("builtin/"+e.Name(), src)
		desc := ""
		if err != nil {
			desc = "(invalid: " + err.Error() + ")"
		} else {
			desc = s.Description
		}
		out = append(out, Builtin{Name: name, Description: desc, Source: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// BuiltinSource returns the YAML of the embedded scenario called name.
func BuiltinSource(name string) ([]byte, error) {
	src, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		var names []string
		if bs, lerr := Builtins(); lerr == nil {
			for _, b := range bs {
				names = append(names, b.Name)
			}
		}
		hint := ""
		if c := closest(name, names); c != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", c)
		}
		return nil, fmt.Errorf("no built-in scenario named %q%s; built-ins: %s", name, hint, strings.Join(names, ", "))
	}
	return src, nil
}

// LoadBuiltin parses the embedded scenario called name.
func LoadBuiltin(name string) (*Scenario, error) { return loadBuiltin(name, nil) }

func loadBuiltin(name string, ovs []Override) (*Scenario, error) {
	src, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return ParseWith("builtin/"+name+".yaml", src, ovs)
}

// Resolve loads ref as a file when one exists at that path, else as a built-in name.
// This lets `portlab run port-change` and `portlab run ./my.yaml` both work.
func Resolve(ref string) (*Scenario, error) { return ResolveWith(ref, nil) }

// ResolveWith is Resolve with command-line overrides (--set) applied (ParseWith).
func ResolveWith(ref string, ovs []Override) (*Scenario, error) {
	if strings.ContainsAny(ref, "/.") {
		return LoadWith(ref, ovs)
	}
	_, berr := BuiltinSource(ref)
	if berr == nil {
		return loadBuiltin(ref, ovs)
	}
	if _, err := os.Stat(ref); err != nil {
		return nil, fmt.Errorf("%w (and no file named %s)", berr, ref)
	}
	return LoadWith(ref, ovs)
}
