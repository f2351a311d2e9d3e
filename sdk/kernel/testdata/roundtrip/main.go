//go:build wasip1

// Command roundtrip is the kernel package's test plugin: it moves bytes
// through every kernel function so the test can compare them with what
// went in.
package main

import "github.com/tzurot-go/tzurot/sdk/kernel"

//go:wasmimport tzurot:host/v1 api_key
func hostAPIKey(slot uint64) uint64

//go:wasmimport tzurot:host/v1 emit
func hostEmit(chunk uint64)

// echo outputs its input.
//
//go:wasmexport echo
func echo() int32 {
	kernel.Output(kernel.Input())
	return 0
}

// emit sends its input to the host as one emitted chunk (kernel.Write).
//
//go:wasmexport emit
func emit() int32 {
	off := kernel.Write(kernel.Input())
	hostEmit(off)
	kernel.Free(off)
	return 0
}

// key outputs the caller's key, read back from the host's kernel block
// (kernel.Read), or "none".
//
//go:wasmexport key
func key() int32 {
	k := kernel.Read(hostAPIKey(0))
	if k == nil {
		k = []byte("none")
	}
	kernel.Output(k)
	return 0
}

// config outputs the config value named by the input, or "absent".
//
//go:wasmexport config
func config() int32 {
	v, ok := kernel.Config(string(kernel.Input()))
	if !ok {
		v = "absent"
	}
	kernel.Output([]byte(v))
	return 0
}

func main() {}
