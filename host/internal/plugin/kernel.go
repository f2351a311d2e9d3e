package plugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// Why the host makes its own calls instead of extism.Plugin.CallWithContext:
// go-sdk (v1.7.1) looks every Extism kernel function up by name each time it
// uses one (reset, alloc, input_set, error_get, output_offset/length per
// call; alloc, length, free, input_length, output_set... whenever the guest
// or a host function touches kernel memory), and wazero answers each lookup
// with a new api.Function that carries a freshly allocated call engine and
// stack. That was 13% of a ChatRoundTrip CPU profile and most of the host's
// garbage per call (docs/performance.md). An instance runs one call at a
// time, so its functions can be looked up once and reused: fastKernel holds
// them, the host's own calls use them, and the guest's kernel calls reach
// them through kernelView, which go-sdk's extism:host/env trampolines find
// in the call's context.
//
// go-sdk keeps the two modules this needs (the kernel instance and the main
// module) in unexported fields, and offers no accessor. Reading them is
// the smallest change that needs no fork: modulesOf does it with reflect,
// checks the types, and returns nothing when they are not there (a go-sdk
// upgrade that renames them), in which case every call goes through
// CallWithContext as before. TestFastKernelEngaged fails when that happens,
// so an upgrade cannot make every call slower unnoticed.

// kernelExports are the kernel functions go-sdk's trampolines forward to;
// each is looked up once per instance.
var kernelExports = []string{
	"alloc", "free", "load_u8", "input_load_u8", "store_u64", "store_u8",
	"input_set", "output_set", "input_length", "input_offset", "output_length",
	"output_offset", "length", "length_unsafe", "reset", "error_set", "error_get",
	"memory_bytes",
}

// fastKernel is one instance's Extism kernel and main module with their
// functions looked up once. Like the instance, it serves one call at a time.
type fastKernel struct {
	kernel api.Module
	main   api.Module
	mem    api.Memory
	view   *kernelView
	fns    map[string]api.Function // kernel functions by name
	// exports are the main module's exports looked up so far (nil entry:
	// not exported).
	exports map[string]api.Function

	reset, alloc, free, length, inputSet, errorGet, outputOffset, outputLength api.Function

	stack [2]uint64 // arguments and results of the host's kernel calls
}

// kernelView is the kernel module as go-sdk's trampolines see it: the same
// module, whose ExportedFunction answers from the cache.
type kernelView struct {
	api.Module
	fns map[string]api.Function
}

// ExportedFunction returns the cached function; the cache holds every
// function the trampolines use.
func (v *kernelView) ExportedFunction(name string) api.Function {
	if f, ok := v.fns[name]; ok {
		return f
	}
	return v.Module.ExportedFunction(name)
}

// quietFunction is a kernel function called without its caller's
// cancellation. With the call timeout on, wazero starts a goroutine for
// every call made with a context that can end, to close the module when it
// does; a kernel call is a few hundred nanoseconds of bounded work (no
// loop in it waits on anything), so that goroutine was most of its cost.
// The guest's export itself keeps its deadline: wazero stops it at its next
// function call or loop once the deadline passed.
type quietFunction struct{ api.Function }

func (f quietFunction) Call(ctx context.Context, params ...uint64) ([]uint64, error) {
	return f.Function.Call(context.WithoutCancel(ctx), params...)
}

func (f quietFunction) CallWithStack(ctx context.Context, stack []uint64) error {
	return f.Function.CallWithStack(context.WithoutCancel(ctx), stack)
}

var apiModuleType = reflect.TypeFor[api.Module]()

// modulesOf returns the kernel and main module of p (see above), or false.
func modulesOf(p *extism.Plugin) (kernel, main api.Module, ok bool) {
	if p == nil {
		return nil, nil, false
	}
	v := reflect.ValueOf(p).Elem()
	field := func(name string) api.Module {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Type() != apiModuleType {
			return nil
		}
		m, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(api.Module)
		return m
	}
	kernel, main = field("extism"), field("mainModule")
	return kernel, main, kernel != nil && main != nil
}

// newFastKernel looks up p's kernel functions; nil when go-sdk does not
// let us (see modulesOf) or the kernel lacks one of them.
func newFastKernel(p *extism.Plugin) *fastKernel {
	kernel, main, ok := modulesOf(p)
	if !ok {
		return nil
	}
	k := &fastKernel{kernel: kernel, main: main, mem: kernel.ExportedMemory("memory"),
		fns: make(map[string]api.Function, len(kernelExports)), exports: make(map[string]api.Function)}
	if k.mem == nil {
		return nil
	}
	for _, name := range kernelExports {
		f := kernel.ExportedFunction(name)
		if f == nil {
			return nil
		}
		k.fns[name] = quietFunction{f}
	}
	k.view = &kernelView{Module: kernel, fns: k.fns}
	k.reset, k.alloc, k.free, k.length = k.fns["reset"], k.fns["alloc"], k.fns["free"], k.fns["length"]
	k.inputSet, k.errorGet = k.fns["input_set"], k.fns["error_get"]
	k.outputOffset, k.outputLength = k.fns["output_offset"], k.fns["output_length"]
	return k
}

// export returns the main module's export name, looked up once.
func (k *fastKernel) export(name string) api.Function {
	f, ok := k.exports[name]
	if !ok {
		f = k.main.ExportedFunction(name)
		k.exports[name] = f
	}
	return f
}

// call1 calls a kernel function with up to two arguments and returns its
// first result (0 when it has none). A kernel function fails only on a
// broken kernel; the error says which one.
func (k *fastKernel) call1(ctx context.Context, f api.Function, args ...uint64) (uint64, error) {
	s := k.stack[:]
	copy(s, args)
	if err := f.CallWithStack(ctx, s); err != nil {
		return 0, fmt.Errorf("extism kernel %s: %w", f.Definition().Name(), err)
	}
	return s[0], nil
}

// read copies the kernel block at off (nil for offset 0).
func (k *fastKernel) read(ctx context.Context, off uint64) ([]byte, error) {
	if off == 0 {
		return nil, nil
	}
	n, err := k.call1(ctx, k.length, off)
	if err != nil {
		return nil, err
	}
	b, ok := k.mem.Read(uint32(off), uint32(n))
	if !ok {
		return nil, errors.New("invalid memory block")
	}
	return append([]byte(nil), b...), nil
}

// write copies b into a new kernel block and returns its offset.
func (k *fastKernel) write(ctx context.Context, b []byte) (uint64, error) {
	off, err := k.call1(ctx, k.alloc, uint64(len(b)))
	if err != nil {
		return 0, err
	}
	if !k.mem.Write(uint32(off), b) {
		return 0, errors.New("failed to write to memory")
	}
	return off, nil
}

// errUnknownExport is go-sdk's wording for a call of a missing export.
func errUnknownExport(name string) error { return fmt.Errorf("unknown function: %s", name) }

// call runs export the way Plugin.CallWithContext does, with the looked-up
// functions: reset the kernel, set the input (unless the plugin reads it
// through the bulk path, bulkInput), run the export, then read the error
// and, unless output_write set it (st.output), the output. The guest
// runtime must already be initialised (the instance's first call goes
// through go-sdk, which runs _initialize; see instance.call). The caller's
// context carries the call's deadline.
func (k *fastKernel) call(ctx context.Context, p *extism.Plugin, st *callState, export string, input []byte, bulkInput bool) (uint32, []byte, error) {
	if k.main.IsClosed() {
		return 0, nil, errors.New("module is closed")
	}
	f := k.export(export)
	if f == nil {
		return 1, nil, errUnknownExport(export)
	}
	if n := len(f.Definition().ResultTypes()); n > 1 {
		return 1, nil, fmt.Errorf("function %s has %v results, expected 0 or 1", export, n)
	}
	// go-sdk's trampolines and host-function wrappers find the kernel and
	// the plugin under these keys.
	ctx = context.WithValue(ctx, extism.PluginCtxKey("extism"), api.Module(k.view))
	ctx = context.WithValue(ctx, extism.PluginCtxKey("plugin"), p)
	if _, err := k.call1(ctx, k.reset); err != nil {
		return 1, nil, err
	}
	var inOff uint64
	if !bulkInput {
		off, err := k.write(ctx, input)
		if err != nil {
			return 1, nil, err
		}
		if _, err := k.call1(ctx, k.inputSet, off, uint64(len(input))); err != nil {
			return 1, nil, err
		}
		inOff = off
	}
	ctx = context.WithValue(ctx, extism.InputOffsetKey("inputOffset"), inOff)

	var res [1]uint64
	err := f.CallWithStack(ctx, res[:])
	// As go-sdk: exit(0) is a success; the exit code is the return code.
	var rc uint32
	hasResult := err == nil && len(f.Definition().ResultTypes()) == 1
	if exitErr, ok := err.(*sys.ExitError); ok {
		if exitErr.ExitCode() == 0 {
			err = nil
		}
		res[0], hasResult = api.EncodeU32(exitErr.ExitCode()), true
	}
	switch {
	case hasResult:
		rc = api.DecodeU32(res[0])
	case err != nil:
		rc = 1
	}
	if err != nil {
		return rc, nil, err
	}

	var returnErr error
	if msg := k.errorText(ctx); msg != "" {
		returnErr = errors.New(msg)
	}
	if st.outputSet {
		return rc, st.output, returnErr
	}
	off, err1 := k.call1(ctx, k.outputOffset)
	n, err2 := k.call1(ctx, k.outputLength)
	if err := errors.Join(err1, err2); err != nil {
		return rc, nil, errors.Join(returnErr, fmt.Errorf("failed to get output: %w", err))
	}
	var out []byte
	if b, ok := k.mem.Read(uint32(off), uint32(n)); ok {
		out = append(make([]byte, 0, len(b)), b...)
	}
	return rc, out, returnErr
}

// errorText is the error the plugin set with error_set, "" when none.
func (k *fastKernel) errorText(ctx context.Context) string {
	off, err := k.call1(ctx, k.errorGet)
	if err != nil || off == 0 {
		return ""
	}
	n, err := k.call1(ctx, k.length, off)
	if err != nil {
		return ""
	}
	b, _ := k.mem.Read(uint32(off), uint32(n))
	return string(b)
}
