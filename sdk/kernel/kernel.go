//go:build wasip1

// Package kernel moves bytes between a Go plugin and Extism's kernel
// memory: the call's input and output, and the arguments and results of
// host functions. It does what go-pdk's Input, Output, AllocateBytes and
// ReadBytes do with fewer steps.
//
// Why: the kernel memory is not the plugin's own, so every 8 bytes cost a
// host call, and under the host's call timeout every loop step of a Go
// plugin costs a timeout check too (docs/performance.md). go-pdk takes one
// loop step per 8 bytes and one host call per byte of the last 0-7; the
// loops here take 8 host calls per step and finish a block whose length is
// not a multiple of 8 with one overlapping 8-byte host call.
//
// The call's own input and output go through the host's bulk path instead
// (one host call each; Input falls back to Extism's input on older hosts).
//
// The SDK uses it for you.
package kernel

import (
	"runtime"
	"unsafe"
)

//go:wasmimport extism:host/env input_length
func inputLength() uint64

//go:wasmimport extism:host/env input_load_u64
func inputLoadU64(off uint64) uint64

//go:wasmimport extism:host/env input_load_u8
func inputLoadU8(off uint64) uint32

//go:wasmimport extism:host/env load_u64
func loadU64(off uint64) uint64

//go:wasmimport extism:host/env load_u8
func loadU8(off uint64) uint32

//go:wasmimport extism:host/env store_u64
func storeU64(off, v uint64)

//go:wasmimport extism:host/env store_u8
func storeU8(off uint64, v uint32)

//go:wasmimport extism:host/env alloc
func alloc(n uint64) uint64

//go:wasmimport extism:host/env free
func free(off uint64)

//go:wasmimport extism:host/env length
func length(off uint64) uint64

//go:wasmimport extism:host/env output_set
func outputSet(off, n uint64)

//go:wasmimport extism:host/env config_get
func configGet(off uint64) uint64

// put stores v as 8 little-endian bytes at b[i:] (wasm is little-endian).
func put(b []byte, i int, v uint64) { *(*uint64)(unsafe.Pointer(&b[i])) = v }

// get loads 8 bytes at b[i:].
func get(b []byte, i int) uint64 { return *(*uint64)(unsafe.Pointer(&b[i])) }

// The call's input and output through the host's bulk path
// (docs/plugin-abi.md §4.1): one host call copies each in or out of the
// plugin's own memory, where Extism's input and output take a host call per
// 8 bytes (about 16 µs per KiB each way in a Go plugin).

//go:wasmimport tzurot:host/v1 blob_len
func blobLen(handle int64) int64

//go:wasmimport tzurot:host/v1 blob_read
func blobRead(handle, offset int64, dst unsafe.Pointer, n uint32) int64

//go:wasmimport tzurot:host/v1 output_write
func outputWrite(src unsafe.Pointer, n uint32) int32

// inputBlob is abi.InputBlob (this package imports nothing of the SDK's).
const inputBlob = 0

// Input returns a copy of the call's input: through the bulk path, or
// through Extism's input on a host older than it (blob_len of the input
// blob is -1 there).
func Input() []byte {
	n := blobLen(inputBlob)
	if n < 0 {
		return ExtismInput()
	}
	buf := make([]byte, n+1) // +1: &buf[0] must exist for an empty input
	var got int64
	for got < n {
		c := blobRead(inputBlob, got, unsafe.Pointer(&buf[got]), uint32(n-got))
		if c <= 0 {
			// Cannot happen on a host that offers the blob; read it the
			// other way rather than fail.
			return ExtismInput()
		}
		got += c
	}
	return buf[:n:n]
}

// Output sets the call's output to b with one host call (output_write).
// An output over the plugin's max_response_bytes fails the call.
func Output(b []byte) {
	p := unsafe.Pointer(unsafe.SliceData(b))
	if len(b) == 0 {
		var one byte
		p = unsafe.Pointer(&one)
	}
	outputWrite(p, uint32(len(b)))
	runtime.KeepAlive(b)
}

// ExtismInput returns a copy of the call's Extism input, read 8 bytes per
// host call. Input uses it only on hosts without the bulk path; it is
// exported for plugins that compare the two.
func ExtismInput() []byte {
	n := int(inputLength())
	buf := make([]byte, n)
	i := 0
	for ; i+64 <= n; i += 64 {
		o := uint64(i)
		put(buf, i, inputLoadU64(o))
		put(buf, i+8, inputLoadU64(o+8))
		put(buf, i+16, inputLoadU64(o+16))
		put(buf, i+24, inputLoadU64(o+24))
		put(buf, i+32, inputLoadU64(o+32))
		put(buf, i+40, inputLoadU64(o+40))
		put(buf, i+48, inputLoadU64(o+48))
		put(buf, i+56, inputLoadU64(o+56))
	}
	for ; i+8 <= n; i += 8 {
		put(buf, i, inputLoadU64(uint64(i)))
	}
	switch {
	case i == n:
	case n >= 8:
		// The last 1-7 bytes: reload the last 8 (the overlap is unchanged).
		put(buf, n-8, inputLoadU64(uint64(n-8)))
	default:
		for ; i < n; i++ {
			buf[i] = byte(inputLoadU8(uint64(i)))
		}
	}
	return buf
}

// Read returns a copy of the kernel block at off; nil for offset 0.
func Read(off uint64) []byte {
	if off == 0 {
		return nil
	}
	n := int(length(off))
	buf := make([]byte, n)
	i := 0
	for ; i+64 <= n; i += 64 {
		o := off + uint64(i)
		put(buf, i, loadU64(o))
		put(buf, i+8, loadU64(o+8))
		put(buf, i+16, loadU64(o+16))
		put(buf, i+24, loadU64(o+24))
		put(buf, i+32, loadU64(o+32))
		put(buf, i+40, loadU64(o+40))
		put(buf, i+48, loadU64(o+48))
		put(buf, i+56, loadU64(o+56))
	}
	for ; i+8 <= n; i += 8 {
		put(buf, i, loadU64(off+uint64(i)))
	}
	switch {
	case i == n:
	case n >= 8:
		put(buf, n-8, loadU64(off+uint64(n-8)))
	default:
		for ; i < n; i++ {
			buf[i] = byte(loadU8(off + uint64(i)))
		}
	}
	return buf
}

// Write copies b into a new kernel block and returns its offset. The
// block lives until Free or the end of the call.
func Write(b []byte) uint64 {
	n := len(b)
	off := alloc(uint64(n))
	i := 0
	for ; i+64 <= n; i += 64 {
		o := off + uint64(i)
		storeU64(o, get(b, i))
		storeU64(o+8, get(b, i+8))
		storeU64(o+16, get(b, i+16))
		storeU64(o+24, get(b, i+24))
		storeU64(o+32, get(b, i+32))
		storeU64(o+40, get(b, i+40))
		storeU64(o+48, get(b, i+48))
		storeU64(o+56, get(b, i+56))
	}
	for ; i+8 <= n; i += 8 {
		storeU64(off+uint64(i), get(b, i))
	}
	switch {
	case i == n:
	case n >= 8:
		storeU64(off+uint64(n-8), get(b, n-8))
	default:
		for ; i < n; i++ {
			storeU8(off+uint64(i), uint32(b[i]))
		}
	}
	return off
}

// Free releases the kernel block at off. Blocks not freed are released
// when the call ends (Extism resets kernel memory before every call).
func Free(off uint64) {
	if off != 0 {
		free(off)
	}
}

// ExtismOutput sets the call's output through Extism's kernel memory
// (output_set), 8 bytes per host call: Output's slower twin.
func ExtismOutput(b []byte) {
	outputSet(Write(b), uint64(len(b)))
}

// Config returns the plugin's config value for key (Extism's config_get);
// false when it is absent or empty, as go-pdk's GetConfig says.
func Config(key string) (string, bool) {
	k := Write([]byte(key))
	off := configGet(k)
	Free(k)
	v := Read(off)
	Free(off)
	if len(v) == 0 {
		return "", false
	}
	return string(v), true
}
