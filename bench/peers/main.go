// Command peers compares portlab's fleet, as a load generator, with wrk, hey and vegeta.
// Each drives one `portlab mp serve` on loopback with the same request (GET
// /SMS_MP/.sms_aut?MPLIST, User-Agent SMS CCM 5.0) at the same rate and connection
// pattern (K requests on each new connection), one generator at a time, and peers reports
// what each generator's own CPU costs per request, next to what the MP's costs (the
// check that every generator gave the MP the same work).
//
//	peers ──exec──> portlab mp serve  127.0.0.1:PORT      /proc/<pid>/stat: MP CPU
//	  │                  ^
//	  │                  │ GET …MPLIST × K per connection, RATE req/s, DURATION
//	  ├──exec──> wrk | hey | vegeta attack | portlab agent fleet    (one at a time;
//	  │          rusage after wait: the generator's own CPU; its own output: requests)
//	  └── JSON lines on the fleet's stdin (config, start); snapshots and final back
//
// It is the benchmark `make bench-peers` runs, not part of the portlab binary. It
// measures and does not gate: a missed goal is printed as MISS, never an exit code.
// Everything stays on loopback (the fleet's clients bind their own 127.3.0.0/16
// addresses) and every load ends after its duration.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1 // a generator could not run at all, or the MP failed
	exitInvalid     = 2 // bad flags
	exitInterrupted = 4 // Ctrl-C: what was measured is still printed (portlab's code)
)

// run parses the flags and runs the benchmark. The first Ctrl-C stops the current load
// and prints what was measured; a second one exits at once (signal.NotifyContext's
// stop restores the default handling).
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return exitInvalid
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	code := bench(ctx, opts, stdout, stderr)
	if ctx.Err() != nil && code == exitOK {
		return exitInterrupted
	}
	return code
}
