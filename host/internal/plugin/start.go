package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// defaultStartTimeout bounds a start function when the context names no
// bound of its own (withStartTimeout).
const defaultStartTimeout = 10 * time.Second

type startTimeoutKey struct{}

// withStartTimeout sets how long the start function of instances made with
// ctx may run: the plugin's call_timeout (at load, at most probeTimeout).
// It travels in the context so that the pool, which makes instances on
// demand, needs no knowledge of limits.
func withStartTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, startTimeoutKey{}, d)
}

func startTimeoutFrom(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(startTimeoutKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return defaultStartTimeout
}

// startError is an instance whose start function did not finish: it ran
// past its deadline (limit > 0, or an outer deadline when limit is 0), the
// host was shutting down (cancelled), or it failed (neither).
type startError struct {
	cause     error
	export    string // "start function" or "start function (_initialize)"
	limit     time.Duration
	timedOut  bool
	cancelled bool
}

func (e *startError) Error() string {
	switch {
	case e.cancelled:
		return "start-up was cancelled while its " + e.export + " was running"
	case e.timedOut && e.limit > 0:
		return fmt.Sprintf("its %s did not finish within %s (top-level code that loops or waits)", e.export, e.limit)
	case e.timedOut:
		return fmt.Sprintf("its %s did not finish in time (top-level code that loops or waits)", e.export)
	}
	return fmt.Sprintf("its %s failed: %v", e.export, e.cause)
}

func (e *startError) Unwrap() error { return e.cause }

// initPrefix starts Extism's error when the guest runtime's _initialize
// (Go: package initialisers) failed; it runs at the start of an
// instance's first call, under that call's deadline.
const initPrefix = "failed to initialize runtime"

// startDeadline bounds the start function of an instance made with ctx
// (see withStartTimeout).
func startDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, startTimeoutFrom(ctx))
}

// startFailure explains why instantiating under sctx (derived from parent
// by startDeadline) failed: a *startError when the start function ran out
// of time or start-up was cancelled, err as it was otherwise.
func startFailure(parent, sctx context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return &startError{cause: err, export: "start function", cancelled: true}
	case errors.Is(sctx.Err(), context.DeadlineExceeded):
		return &startError{cause: err, export: "start function", limit: startTimeoutFrom(sctx), timedOut: true}
	}
	return err
}

// errClosedItself is why an instance whose start function exited failed.
var errClosedItself = errors.New("the module closed itself")
