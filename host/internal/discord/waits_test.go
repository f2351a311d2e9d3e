package discord

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fatalRecorder stands for a (sub)test: Fatal records the message and ends the calling
// goroutine, as testing.T's does; its context has already ended, so a wait gives up at once.
type fatalRecorder struct {
	testing.TB
	ctx   context.Context
	fatal string
}

func (r *fatalRecorder) Helper()                      {}
func (r *fatalRecorder) Context() context.Context     { return r.ctx }
func (r *fatalRecorder) Fatal(args ...any)            { r.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (r *fatalRecorder) Fatalf(f string, args ...any) { r.Fatal(fmt.Sprintf(f, args...)) }

// TestWaitHelpersReportToTheTestThatWaits: a wait that gives up on a goroutine the test started
// hands its reason back instead of calling Fatal there (which would leave what it guards, such as
// a blocked handler, hanging and the test running on), and eventually fails the (sub)test it is
// given, with what it waited for.
func TestWaitHelpersReportToTheTestThatWaits(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("waitFor on a spawned goroutine", func(t *testing.T) {
		release, waited := make(chan struct{}), make(chan error, 1)
		go func() {
			defer close(release)
			waited <- waitFor(ended, "a condition that never holds", func() bool { return false })
		}()
		<-release // released even though the wait failed
		if err := <-waited; err == nil || !strings.Contains(err.Error(), "timed out waiting for a condition that never holds") {
			t.Fatalf("waitFor returned %v, want the reason it gave up", err)
		}
	})

	t.Run("eventually fails the test it is given", func(t *testing.T) {
		sub := &fatalRecorder{TB: t, ctx: ended}
		done, returned := make(chan struct{}), false
		go func() { // plays the subtest's goroutine
			defer close(done)
			eventually(sub, "the impossible", func() bool { return false })
			returned = true
		}()
		<-done
		if sub.fatal != "timed out waiting for the impossible" || returned {
			t.Fatalf("eventually reported %q to its test (and returned: %v), want a Fatal naming what it waited for", sub.fatal, returned)
		}
	})
}
