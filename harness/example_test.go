package harness_test

import (
	"context"
	"fmt"
	"os"

	"github.com/portlab/portlab/harness"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// Run is the whole rehearsal: it builds the lowered scenario's network, starts its
// agents, drives the timeline and returns the result, which reports renders. It needs
// root (or a rootless re-exec, as `portlab run` does) and takes the scenario's duration,
// so this example is compiled, not run.
func ExampleRun() {
	s, err := scenarios.LoadBuiltin("fallback-alternate")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := plan.Lower(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	con := harness.NewConsole(os.Stderr, harness.ConsoleAuto, false)
	res, err := harness.Run(context.Background(), p, harness.Options{Console: con, Tool: "portlab example"})
	if res == nil {
		fmt.Println("the run did not start:", err)
		return
	}
	if _, err := reports.Write("results", res, reports.ExtraFiles(res)); err != nil {
		fmt.Println(err)
	}
	fmt.Println(res.Status, len(res.Failed()), "gates failed")
}
