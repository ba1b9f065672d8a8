package cli

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes: the one contract every command follows (DESIGN.md, Exit codes).
const (
	ExitPassed      = 0 // passed
	ExitGateFailed  = 1 // a gate failed (or compare found a regression)
	ExitInvalid     = 2 // invalid input: scenario, flags, arguments
	ExitIncapable   = 3 // this machine cannot run it (privilege, kernel feature)
	ExitInterrupted = 4 // interrupted (Ctrl-C, SIGTERM)
	ExitRunFailed   = 5 // the run itself failed (an agent died, the network could not be built)
)

// ExitError carries an exit code with the error that caused it.
type ExitError struct {
	Code int
	Err  error
	// Quiet: the command already printed what went wrong.
	Quiet bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// WithCode wraps err with an exit code.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Sentinel errors other packages return so the CLI can pick the exit code.
var (
	// ErrIncapable: the machine lacks a privilege or kernel feature.
	ErrIncapable = errors.New("this machine cannot run it")
	// ErrGateFailed: at least one gate failed.
	ErrGateFailed = errors.New("gate failed")
)

// codeFor maps an error to its exit code.
func codeFor(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitPassed
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, ErrIncapable):
		return ExitIncapable
	case errors.Is(err, ErrGateFailed):
		return ExitGateFailed
	}
	return ExitRunFailed
}
