package scenarios_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/portlab/portlab/scenarios"
)

// Load reads a scenario file strictly, fills every default once and validates it. A
// scenario that is wrong comes back as an ErrorList with every problem of the file.
func ExampleLoad() {
	s, err := scenarios.Load(filepath.Join("testdata", "base.yaml"))
	if err != nil {
		fmt.Println(err)
		return
	}
	g := s.Clients[0]
	fmt.Println(s.Name, s.Duration, s.Ramp)
	fmt.Println(g.Group, g.Count, g.Scheme, g.HTTPPort, g.Notification, g.PolicyInterval)

	bad := filepath.Join(os.TempDir(), "portlab-example-bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nname: x\nduration: 90\n"), 0o644)
	defer os.Remove(bad)
	_, err = scenarios.Load(bad)
	var list scenarios.ErrorList
	fmt.Println(errors.Is(err, scenarios.ErrInvalid), errors.As(err, &list) && len(list) > 1)
	// Output:
	// base 1m0s 5s
	// pushed 100 http 80 tcp 10s
	// true true
}
