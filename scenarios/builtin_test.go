package scenarios

import "testing"

func TestBuiltinsValidate(t *testing.T) {
	bs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"blocked-443", "fallback-alternate", "notification-cost", "port-change", "wake-up"}
	if len(bs) < len(want) {
		t.Fatalf("got %d built-ins, want at least %d", len(bs), len(want))
	}
	for _, name := range want {
		s, err := LoadBuiltin(name)
		if err != nil {
			if el, ok := err.(ErrorList); ok {
				t.Errorf("%s:\n%s", name, el.Verbose())
			} else {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if s.Name != name {
			t.Errorf("built-in file %s.yaml has name %q", name, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s has no description", name)
		}
	}
}
