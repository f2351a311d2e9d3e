// Command nomarker is a valid Extism plugin that lacks the tzurot ABI marker.
package main

import "github.com/extism/go-pdk"

func main() {}

//go:wasmexport describe
func describe() int32 {
	pdk.OutputString(`{"abi":1,"name":"nomarker","version":"1.0.0","capabilities":["llm.chat"]}`)
	return 0
}

//go:wasmexport chat
func chat() int32 { return 0 }
