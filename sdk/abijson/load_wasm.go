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
