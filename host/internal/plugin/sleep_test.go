package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// testDeadline bounds waits in these tests. It is never what a test
// checks: a call still running at this point has ignored its timeout.
const testDeadline = 60 * time.Second

// callAsync runs export in the background and returns its outcome.
func callAsync(ctx context.Context, h *Host, export, input string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := h.Call(ctx, "intruder", export, []byte(input))
		done <- err
	}()
	return done
}

func waitCall(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testDeadline):
		t.Fatalf("%s: the call is still running after %s", what, testDeadline)
		return nil
	}
}

// A plugin sleeping an hour under a 500 ms call timeout is stopped at the
// timeout, and its instance is released: the next call on a pool of one
// gets an instance.
func TestHostileSleepStoppedAtCallTimeout(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("u1", "intruder", "sk-sleeper-key-1234")
	h, _ := intruderHost(t, "", `call_timeout = "500ms"`, keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})

	err := waitCall(t, callAsync(ctx, h, "sleep", "3600"), "sleep 3600 s")
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrTimeout || !strings.Contains(aerr.Message, "did not answer within 500ms") {
		t.Fatalf("sleeping call: %v, want a timeout", err)
	}
	if err := waitCall(t, callAsync(ctx, h, "whoami", ""), "the next call"); err != nil {
		t.Fatalf("next call on the pool of one: %v", err)
	}
	// A sleep within the timeout still sleeps and answers.
	if err := waitCall(t, callAsync(ctx, h, "sleep", "0"), "sleep 0"); err != nil {
		t.Fatalf("sleep 0: %v", err)
	}
}

// The caller's own cancellation (a Discord handler cancelled at shutdown)
// stops a sleeping plugin too.
func TestHostileSleepStoppedByCaller(t *testing.T) {
	h, _ := intruderHost(t, "", "", nil) // call_timeout 120 s (the default)
	l := pluginOf(t, h, "intruder")
	ctx, cancel := context.WithCancel(context.Background())
	done := callAsync(ctx, h, "sleep", "3600")
	waitBusy(t, l)
	cancel()
	err := waitCall(t, done, "cancelled sleep")
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Message != "the request was cancelled" {
		t.Fatalf("cancelled sleeping call: %v", err)
	}
	if err := waitCall(t, callAsync(context.Background(), h, "sleep", "0"), "the next call"); err != nil {
		t.Fatalf("next call: %v", err)
	}
}

// Close with a plugin asleep returns when its grace ends, and the sleeping
// call is stopped with an error saying the host is shutting down.
func TestCloseStopsSleepingPluginAfterGrace(t *testing.T) {
	h, _ := intruderHost(t, "", "", nil) // call_timeout 120 s (the default)
	l := pluginOf(t, h, "intruder")
	done := callAsync(context.Background(), h, "sleep", "3600")
	waitBusy(t, l)

	grace, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- h.Close(grace) }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "calls still running at the deadline were stopped") {
			t.Errorf("Close = %v, want it to say running calls were stopped", err)
		}
	case <-time.After(testDeadline):
		t.Fatalf("Close did not return within %s", testDeadline)
	}
	err := waitCall(t, done, "sleep during Close")
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrUnavailable || aerr.Message != "the plugin host is shutting down" {
		t.Fatalf("sleeping call at Close: %v, want unavailable: shutting down", err)
	}
}

// waitBusy waits until l's only instance is taken by a call.
func waitBusy(t *testing.T, l *loaded) {
	t.Helper()
	for end := time.Now().Add(testDeadline); l.pool.idleCount() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the call never started")
		}
	}
}
