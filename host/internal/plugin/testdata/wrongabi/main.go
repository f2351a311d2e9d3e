// Command wrongabi exports the v1 marker but describes itself as ABI v2.
package main

import "github.com/extism/go-pdk"

func main() {}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	pdk.OutputString(`{"abi":2,"name":"wrongabi","version":"2.0.0","capabilities":["llm.chat"]}`)
	return 0
}

//go:wasmexport chat
func chat() int32 { return 0 }
