package plugin

import (
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// markerPrefix starts every ABI marker export: tzurot_abi_v1, tzurot_abi_v2, …
const markerPrefix = "tzurot_abi_"

// checkMarker reads the names a module exports, before it is compiled, and
// refuses a module built for another ABI major with a message that says
// what to do. Without it such a plugin fails later with a confusing
// missing-import error (a v2 plugin imports tzurot:host/v2). A module that
// exports the v1 marker passes, even if it also speaks other majors; a
// module whose bytes cannot be read is left for the compiler to describe.
func checkMarker(wasm []byte) error {
	names, ok := exportNames(wasm)
	if !ok {
		return nil
	}
	var others []string
	for _, n := range names {
		if n == abi.MarkerExport {
			return nil
		}
		if strings.HasPrefix(n, markerPrefix) {
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		return nil // no marker at all: reported after compiling, as before
	}
	m := others[0]
	if v := strings.TrimPrefix(m, markerPrefix+"v"); v != m && v != "" && strings.Trim(v, "0123456789") == "" {
		return fmt.Errorf("it was built for tzurot plugin ABI v%s (it exports %s), but this host speaks only ABI v%d: it needs a newer tzurot host, or a build of the plugin for ABI v%d", v, m, abi.Version, abi.Version)
	}
	return fmt.Errorf("it exports %s, which is no ABI marker this host knows; this host speaks only ABI v%d (marker %s)", m, abi.Version, abi.MarkerExport)
}

// exportNames returns the names in a WebAssembly module's export section.
// ok is false when the bytes are not a well-formed module header and
// section list.
func exportNames(b []byte) (names []string, ok bool) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, false
	}
	r := wasmReader{b: b[8:]}
	for len(r.b) > 0 {
		id := r.byte()
		size := r.u32()
		if r.bad || uint64(size) > uint64(len(r.b)) {
			return nil, false
		}
		sec := wasmReader{b: r.b[:size]}
		r.b = r.b[size:]
		if id != 7 { // the export section
			continue
		}
		n := sec.u32()
		for i := uint32(0); i < n && !sec.bad; i++ {
			name := sec.bytes(sec.u32())
			sec.byte() // kind
			sec.u32()  // index
			names = append(names, string(name))
		}
		return names, !sec.bad
	}
	return nil, true
}

// wasmReader reads the little pieces of the binary format exportNames needs;
// any read past the end sets bad.
type wasmReader struct {
	b   []byte
	bad bool
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// u32 reads an unsigned LEB128 number of at most 5 bytes.
func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.bad {
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.bad = true
	return 0
}

func (r *wasmReader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
