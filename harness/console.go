package harness

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Console modes.
const (
	ConsoleAuto  = ""      // live line on a terminal, plain lines otherwise
	ConsoleLive  = "live"  // one status line rewritten in place
	ConsolePlain = "plain" // a line every few seconds (CI logs)
	ConsoleQuiet = "quiet" // only warnings and the final verdict
	ConsoleJSON  = "json"  // slog JSON lines, for machines
)

// Status is what the console shows about a running scenario.
type Status struct {
	Elapsed, Duration time.Duration
	Managed           int
	Unmanaged         int
	Asleep            int
	ReqPerSec         float64
	ErrPerSec         float64
	TopError          string // most frequent failure outcome in the last second
}

// Console reports progress of a run to a person or a log. Safe for concurrent use.
type Console struct {
	mu        sync.Mutex
	w         io.Writer
	mode      string
	log       *slog.Logger
	liveShown bool
	lastPlain time.Time
	// PlainEvery is the interval of plain progress lines.
	PlainEvery time.Duration
}

// NewConsole writes to w in mode; isTTY picks live or plain for ConsoleAuto.
func NewConsole(w io.Writer, mode string, isTTY bool) *Console {
	if mode == ConsoleAuto {
		mode = ConsolePlain
		if isTTY {
			mode = ConsoleLive
		}
	}
	c := &Console{w: w, mode: mode, PlainEvery: 5 * time.Second}
	if mode == ConsoleJSON {
		c.log = slog.New(slog.NewJSONHandler(w, nil))
	}
	return c
}

// clearLive ends an in-place status line before other output.
func (c *Console) clearLive() {
	if c.liveShown {
		fmt.Fprint(c.w, "\r\033[K")
		c.liveShown = false
	}
}

// Step reports a phase of the run ("building network", "starting agents").
func (c *Console) Step(msg string, attrs ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.mode {
	case ConsoleQuiet:
	case ConsoleJSON:
		c.log.Info(msg, attrs...)
	default:
		c.clearLive()
		fmt.Fprintf(c.w, "portlab: %s%s\n", msg, kv(attrs))
	}
}

// Warn reports something a person should know even in quiet mode.
func (c *Console) Warn(msg string, attrs ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == ConsoleJSON {
		c.log.Warn(msg, attrs...)
		return
	}
	c.clearLive()
	fmt.Fprintf(c.w, "portlab: warning: %s%s\n", msg, kv(attrs))
}

// Progress reports the run's state once a second.
func (c *Console) Progress(s Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf("%4.0fs/%.0fs  managed %d  unmanaged %d", s.Elapsed.Seconds(), s.Duration.Seconds(), s.Managed, s.Unmanaged)
	if s.Asleep > 0 {
		line += fmt.Sprintf("  asleep %d", s.Asleep)
	}
	line += fmt.Sprintf("  %.0f req/s  %.0f err/s", s.ReqPerSec, s.ErrPerSec)
	if s.TopError != "" && s.ErrPerSec > 0 {
		line += " (" + s.TopError + ")"
	}
	switch c.mode {
	case ConsoleLive:
		fmt.Fprint(c.w, "\r\033[K"+line)
		c.liveShown = true
	case ConsolePlain:
		if time.Since(c.lastPlain) >= c.PlainEvery {
			c.lastPlain = time.Now()
			fmt.Fprintln(c.w, "portlab: "+line)
		}
	case ConsoleJSON:
		c.log.Info("progress", "elapsed_s", s.Elapsed.Seconds(), "managed", s.Managed, "unmanaged", s.Unmanaged,
			"asleep", s.Asleep, "req_per_s", s.ReqPerSec, "err_per_s", s.ErrPerSec, "top_error", s.TopError)
	}
}

// Write prints text as it is (the final summary), ending any live line first.
func (c *Console) Write(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == ConsoleJSON {
		c.log.Info("summary", "text", text)
		return
	}
	c.clearLive()
	fmt.Fprint(c.w, text)
}

func kv(attrs []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&b, " %v=%v", attrs[i], attrs[i+1])
	}
	return b.String()
}
