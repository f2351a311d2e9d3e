package plugin

import (
	"context"
	"time"
)

// guestRun is what the guest code running now on an instance must obey.
type guestRun struct{ done <-chan struct{} }

// Why sleeping needs the host: wazero stops a guest whose context ends at
// its next function call or loop, but a guest blocked inside a WASI call is
// in host code. The only WASI call that blocks here is poll_oneoff with a
// clock (every language's sleep; Go's scheduler when all goroutines wait):
// wazero implements it with the module's Nanosleep, which takes no context.
// So each instance gets a Nanosleep that also wakes when the guest's
// current context ends. Stdin is empty (never blocks), stdout and stderr go
// to a memory buffer, and the host functions that wait (HTTP, streams, the
// key store) take the call's context themselves.

// nanosleep is the instance's sys.Nanosleep: it sleeps ns, or until the
// context of the guest code running now ends. Waking early is safe: every
// guest runtime re-checks its clock, and wazero then stops the guest at its
// next function call or loop.
func (i *instance) nanosleep(ns int64) {
	if ns <= 0 {
		return
	}
	var done <-chan struct{}
	if r := i.running.Load(); r != nil {
		done = r.done
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// runUnder makes ctx the context the guest's sleeps watch until the
// returned func is called.
func (i *instance) runUnder(ctx context.Context) (restore func()) {
	i.running.Store(&guestRun{done: ctx.Done()})
	return func() { i.running.Store(nil) }
}

// call runs export under ctx: the call's deadline and cancellation stop the
// guest whether it computes (wazero) or sleeps (nanosleep). The instance's
// first call goes through go-sdk, which initialises the guest runtime
// (_initialize and the like); later ones take the fast path (kernel.go).
// bulkInput: the plugin reads its input as a blob only (abi.BulkInputExport).
func (i *instance) call(ctx context.Context, st *callState, export string, input []byte, bulkInput bool) (uint32, []byte, error) {
	defer i.runUnder(ctx)()
	if i.kern != nil && i.initialized {
		return i.kern.call(ctx, i.plugin, st, export, input, bulkInput)
	}
	// A failed first call retires the instance, so whether or not go-sdk
	// got to initialise it, the flag only matters for healthy instances.
	i.initialized = true
	if bulkInput {
		input = nil // the plugin said it reads the input blob only
	}
	rc, out, err := i.plugin.CallWithContext(ctx, export, input)
	if st.outputSet && err == nil {
		out = st.output
	}
	return rc, out, err
}

// errorText is the error the plugin set in its last call, "" when none.
func (i *instance) errorText(ctx context.Context) string {
	if i.kern != nil {
		return i.kern.errorText(ctx)
	}
	return i.plugin.GetErrorWithContext(ctx)
}
