package plugintest

import (
	"context"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/experimental"
)

// The blob host functions copy straight to and from the plugin's own
// linear memory, but Extism hands host functions only the kernel's memory.
// So each instance is created with our own memory allocator, which lets us
// keep the memory that is not the kernel's: that one is the plugin's.

// linearMemory is one wasm memory backed by a Go slice.
type linearMemory struct {
	buf      []byte
	capacity uint64
	max      uint64
}

// Reallocate implements experimental.LinearMemory, growing like wazero's
// own allocator (zeroed new bytes, geometric capacity).
func (m *linearMemory) Reallocate(size uint64) []byte {
	switch {
	case size > m.max:
		return nil
	case m.buf == nil:
		m.buf = make([]byte, size, max(size, m.capacity))
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { m.buf = nil }

// span returns the plugin's bytes [addr, addr+n), or false when the range
// is outside its memory.
func (m *linearMemory) span(addr, n uint32) ([]byte, bool) {
	if m == nil || uint64(addr)+uint64(n) > uint64(len(m.buf)) {
		return nil, false
	}
	return m.buf[addr : addr+n], true
}

// newInstanceWithGuestMemory creates an instance and finds its guest memory.
func newInstanceWithGuestMemory(compiled *extism.CompiledPlugin, cfg extism.PluginInstanceConfig) (*extism.Plugin, *linearMemory, error) {
	var mems []*linearMemory
	ctx := experimental.WithMemoryAllocator(context.Background(), experimental.MemoryAllocatorFunc(
		func(capacity, maxBytes uint64) experimental.LinearMemory {
			m := &linearMemory{capacity: capacity, max: maxBytes}
			mems = append(mems, m)
			return m
		}))
	inst, err := compiled.Instance(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	var kernel unsafe.Pointer
	if view, ok := inst.Memory().Read(0, 1); ok {
		kernel = unsafe.Pointer(unsafe.SliceData(view))
	}
	var guest *linearMemory
	for _, m := range mems {
		if len(m.buf) > 0 && unsafe.Pointer(unsafe.SliceData(m.buf)) != kernel {
			guest = m
		}
	}
	return inst, guest, nil
}
