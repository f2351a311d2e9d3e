//go:build wasm

package abijson

import "unsafe"

// load64 reads 8 bytes at b[i:] as a little-endian word with one wasm
// load; the caller guarantees i+8 <= len(b).
func load64(b []byte, i int) uint64 { return *(*uint64)(unsafe.Pointer(&b[i])) }

// load64s is load64 for a string.
func load64s(s string, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}

// load256 reads the 32 bytes at b[i:] as four words with a single bounds
// check; the caller guarantees i+32 <= len(b).
func load256(b []byte, i int) (x0, x1, x2, x3 uint64) {
	_ = b[i+31]
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i)
	return *(*uint64)(p), *(*uint64)(unsafe.Add(p, 8)), *(*uint64)(unsafe.Add(p, 16)), *(*uint64)(unsafe.Add(p, 24))
}

// load256s is load256 for a string.
func load256s(s string, i int) (x0, x1, x2, x3 uint64) {
	_ = s[i+31]
	p := unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i)
	return *(*uint64)(p), *(*uint64)(unsafe.Add(p, 8)), *(*uint64)(unsafe.Add(p, 16)), *(*uint64)(unsafe.Add(p, 24))
}
