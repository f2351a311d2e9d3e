// Command initloop is a hostile test plugin whose package initialisation
// never ends: a Go plugin's package-level initialisers run in the WASI
// _initialize function, before any export can answer. The host must give
// up on it in bounded time and say why.
package main

import "github.com/extism/go-pdk"

// spins never returns; the Go compiler cannot see that, so the loop runs.
var spins = spin()

func spin() int {
	n := 0
	for {
		n++
		if n < 0 {
			return n
		}
	}
}

func main() {}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	pdk.OutputString(`{"abi":1,"name":"initloop","version":"1.0.0","capabilities":[]}`)
	return int32(spins & 0)
}
