package harness

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestConsoleModes(t *testing.T) {
	st := Status{Elapsed: 3 * time.Second, Duration: 30 * time.Second, Managed: 7, Unmanaged: 2, ReqPerSec: 40, ErrPerSec: 5, TopError: "refused"}

	var live bytes.Buffer
	c := NewConsole(&live, ConsoleAuto, true) // a terminal: one line rewritten in place
	c.Progress(st)
	c.Progress(st)
	c.Step("building network")
	out := live.String()
	if strings.Count(out, "\r\033[K") < 3 || !strings.Contains(out, "managed 7  unmanaged 2") || !strings.Contains(out, "(refused)") {
		t.Errorf("live mode: %q", out)
	}
	if !strings.HasSuffix(out, "portlab: building network\n") {
		t.Errorf("a step must end the live line first: %q", out)
	}

	var plain bytes.Buffer
	c = NewConsole(&plain, ConsoleAuto, false) // not a terminal: throttled plain lines
	c.PlainEvery = time.Hour
	c.Progress(st)
	c.Progress(st)
	if n := strings.Count(plain.String(), "\n"); n != 1 || strings.Contains(plain.String(), "\r") {
		t.Errorf("plain mode must print one line per PlainEvery and no control codes: %q", plain.String())
	}

	var quiet bytes.Buffer
	c = NewConsole(&quiet, ConsoleQuiet, true)
	c.Progress(st)
	c.Step("building network")
	c.Warn("fleet lan died")
	if quiet.String() != "portlab: warning: fleet lan died\n" {
		t.Errorf("quiet mode shows only warnings: %q", quiet.String())
	}

	var js bytes.Buffer
	c = NewConsole(&js, ConsoleJSON, true)
	c.Step("load running", "clients", 400)
	c.Progress(st)
	c.Warn("late")
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("json mode: %d lines: %q", len(lines), js.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("json mode line is not JSON: %q", l)
		}
	}
	var prog map[string]any
	json.Unmarshal([]byte(lines[1]), &prog)
	if prog["msg"] != "progress" || prog["managed"] != 7.0 || prog["top_error"] != "refused" {
		t.Errorf("progress record: %v", prog)
	}
}
