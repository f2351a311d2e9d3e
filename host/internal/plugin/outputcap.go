package plugin

import (
	"context"
	"slices"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Extism hands a call's output to the host by copying it out of its kernel
// memory after the export returned (Plugin.CallWithContext, then
// GetOutput): checking the size afterwards means the host has already
// held a copy of whatever the plugin wrote, 50 MB included. The output is
// set with the kernel's output_set(offset, length), so the host listens to
// that one function (a wazero function listener, compiled into the kernel
// only) and stops the call before the copy when length is over the
// plugin's max_response_bytes. The guest's own memory is bounded by
// memory_mib; this bounds the host's.

// outputCapFactory attaches outputCapListener to the kernel's output_set.
type outputCapFactory struct{}

// NewFunctionListener returns a listener for output_set(i64, i64) only:
// every other function compiles without one (wazero adds listener code per
// function, so the rest run as before).
func (outputCapFactory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if !slices.Contains(def.ExportNames(), "output_set") || len(def.ParamTypes()) != 2 || len(def.ResultTypes()) != 0 {
		return nil
	}
	return outputCapListener{}
}

// outputCapListener refuses an output_set over the limit of the call in
// its context.
type outputCapListener struct{}

// errOutputCapped is panicked to stop a guest setting an oversized
// output; wazero turns the panic into the call's error.
type errOutputCapped struct{}

func (errOutputCapped) Error() string { return errOutputTooLarge.Error() }

func (outputCapListener) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, params []uint64, _ experimental.StackIterator) {
	st := stateFrom(ctx)
	if st == nil || st.p == nil {
		return // describe at load runs with a state too; nothing else calls it
	}
	if int64(params[1]) > st.p.cfg.Limits.MaxResponseBytes || int64(params[1]) < 0 {
		st.outputCapped = true
		panic(errOutputCapped{})
	}
}

func (outputCapListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}

func (outputCapListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}

// withOutputCap is ctx for compiling a plugin with the output cap.
func withOutputCap(ctx context.Context) context.Context {
	return experimental.WithFunctionListenerFactory(ctx, outputCapFactory{})
}
