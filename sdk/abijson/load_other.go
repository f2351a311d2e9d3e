//go:build !wasm

package abijson

import "encoding/binary"

// load64 reads 8 bytes at b[i:] as a little-endian word (one load on
// amd64 and arm64); the caller guarantees i+8 <= len(b).
func load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// load64s is load64 for a string.
func load64s(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// load256 reads the 32 bytes at b[i:] as four words; the caller
// guarantees i+32 <= len(b).
func load256(b []byte, i int) (x0, x1, x2, x3 uint64) {
	return load64(b, i), load64(b, i+8), load64(b, i+16), load64(b, i+24)
}

// load256s is load256 for a string.
func load256s(s string, i int) (x0, x1, x2, x3 uint64) {
	return load64s(s, i), load64s(s, i+8), load64s(s, i+16), load64s(s, i+24)
}
