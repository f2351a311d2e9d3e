package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync/atomic"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// What one call's stdout/stderr may put in the host log: enough for a Go
// panic's message and stack, not enough to flood it.
const (
	maxStdioBytes = 16 << 10
	maxStdioLines = 64
)

// instance is one live plugin instance. It is used by one call at a time.
type instance struct {
	plugin *extism.Plugin
	stdio  *cappedBuffer
	// ended is set when one of the instance's modules closed: the guest
	// exited (proc_exit) or was stopped, or close was called.
	ended atomic.Bool
	// guestMem is the guest module's own linear memory, for the bulk host
	// functions; nil when the guest has none.
	guestMem *linearMemory
	// running is the context of the guest code running now (see sleep.go).
	running atomic.Pointer[guestRun]
	// exposure is every key this instance was served (see scrub.go);
	// owner is "user:<id>" once it read a user's raw key with api_key, and
	// then it serves that user only.
	exposure exposure
	owner    string
	// kern is the instance's kernel with its functions looked up once
	// (kernel.go); nil means every call goes through go-sdk.
	kern *fastKernel
	// initialized is set once go-sdk ran the instance's first call, which
	// initialises the guest runtime.
	initialized bool
}

// newInstance makes an instance with the settings every instance needs:
// real clocks and a sleep that ends with the call (the defaults are fake
// and deterministic; see sleep.go), real
// crypto randomness (the default repeats across instances), stdout and
// stderr captured for the host log, no filesystem, no environment.
func newInstance(ctx context.Context, compiled *extism.CompiledPlugin) (*instance, error) {
	inst := &instance{stdio: &cappedBuffer{max: maxStdioBytes}, exposure: newExposure()}
	cfg := wazero.NewModuleConfig().
		WithSysWalltime().WithSysNanotime().WithNanosleep(inst.nanosleep).
		WithRandSource(rand.Reader).
		WithStdout(inst.stdio).WithStderr(inst.stdio)

	// wazero tells us when a module closes. Outside inst.close that means
	// the guest ended itself (WASI proc_exit, even with code 0, which
	// Extism reports as a successful call) or was stopped at a deadline:
	// either way the instance is dead and must never serve another call.
	ctx = experimental.WithCloseNotifier(ctx, experimental.CloseNotifyFunc(func(context.Context, uint32) {
		inst.ended.Store(true)
	}))
	// The module's start function (AssemblyScript's top-level code, a wasm
	// start section) runs inside Instance. It is plugin code like any
	// other, so it runs under a deadline (start.go): without one, a loop
	// there hangs start-up (or the call that needed a new instance) forever.
	parent := ctx
	ctx, cancel := startDeadline(ctx)
	defer cancel()

	// Extism hands host functions the kernel's memory, never the guest's.
	// The bulk path needs the guest's, so we supply the allocator for the
	// memories created while instantiating and keep the one that is not the
	// kernel's. The allocator grows like wazero's default one.
	var mems []*linearMemory
	actx := experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		m := &linearMemory{cap: capacity, max: max}
		mems = append(mems, m)
		return m
	}))
	restore := inst.runUnder(ctx) // a start function may sleep too
	p, err := compiled.Instance(actx, extism.PluginInstanceConfig{ModuleConfig: cfg})
	restore()
	if err != nil {
		return nil, startFailure(parent, ctx, err)
	}
	inst.plugin = p
	inst.kern = newFastKernel(p)
	if inst.ended.Load() {
		inst.close()
		return nil, &startError{cause: errClosedItself, export: "start function"}
	}
	kernel := p.Memory()
	var kernelBase unsafe.Pointer
	if view, ok := kernel.Read(0, 1); ok {
		kernelBase = unsafe.Pointer(unsafe.SliceData(view))
	}
	for _, m := range mems {
		if len(m.buf) > 0 && unsafe.Pointer(unsafe.SliceData(m.buf)) != kernelBase {
			inst.guestMem = m
		}
	}
	return inst, nil
}

func (i *instance) close() { _ = i.plugin.Close(context.Background()) }

// flushStdio forwards what the guest printed during a call into the log,
// one record per line.
func (i *instance) flushStdio(ctx context.Context, log *slog.Logger, st *callState) {
	requestID := st.call.RequestID
	if i.stdio.buf.Len() == 0 && i.stdio.dropped == 0 {
		return
	}
	text := strings.TrimRight(i.stdio.buf.String(), "\n")
	if i.stdio.dropped > 0 {
		// The cap may have cut a key in two: mask the start left behind.
		text = scrubCutTail(text, st.secrets())
	}
	lines, droppedLines := 0, 0
	for line := range strings.SplitSeq(text, "\n") {
		if lines >= maxStdioLines {
			droppedLines++
			continue
		}
		lines++
		log.WarnContext(ctx, "plugin output", "request_id", requestID, "line", st.redact(line))
	}
	// Count every line the guest wrote, kept or not: the kept 16 KiB hold a
	// few hundred lines of a flood, and the rest used to be counted only as
	// bytes (a 200,000-line flood reported 686 lines dropped).
	droppedLines = i.stdio.lines() - lines
	if i.stdio.dropped > 0 || droppedLines > 0 {
		log.WarnContext(ctx, "plugin output truncated", "request_id", requestID,
			"lines_dropped", droppedLines, "bytes_dropped", i.stdio.dropped)
	}
	i.stdio.reset()
}

// stdioText returns what the guest printed so far in this call.
func (i *instance) stdioText() string { return i.stdio.buf.String() }

// cappedBuffer keeps the first max bytes written and counts the rest, in
// bytes and in lines.
type cappedBuffer struct {
	buf      bytes.Buffer
	max      int
	dropped  int  // bytes
	newlines int  // in everything written
	open     bool // the last byte written was not a newline
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.newlines += bytes.Count(p, []byte{'\n'})
	c.open = p[len(p)-1] != '\n'
	room := c.max - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
	} else {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		c.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

// lines is how many lines were written: one per newline, plus an
// unterminated last one.
func (c *cappedBuffer) lines() int {
	if c.open {
		return c.newlines + 1
	}
	return c.newlines
}

func (c *cappedBuffer) reset() {
	c.buf.Reset()
	c.dropped, c.newlines, c.open = 0, 0, false
}

// linearMemory backs one wasm memory with a Go slice (see newInstance).
type linearMemory struct {
	buf []byte
	cap uint64
	max uint64
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	switch {
	case m.buf == nil:
		m.buf = make([]byte, size, max(size, m.cap))
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
		// Double the capacity (at most to the limit): every growth past it
		// copies the whole memory, and a Go guest's runtime grows its
		// memory many times while it starts. append's growth for large
		// slices (1.25×) made that copying a sixth of a warm start's CPU
		// (docs/performance.md). The new bytes are zero, as wasm requires.
		newCap := max(size, min(2*uint64(cap(m.buf)), m.max))
		buf := make([]byte, size, newCap)
		copy(buf, m.buf)
		m.buf = buf
	}
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { m.buf = nil }

// bytes returns n bytes of guest memory at ptr, or false when out of range.
func (m *linearMemory) bytes(ptr, n uint32) ([]byte, bool) {
	if m == nil || uint64(ptr)+uint64(n) > uint64(len(m.buf)) {
		return nil, false
	}
	return m.buf[ptr : ptr+n], true
}
