//go:build wasip1

// Command hostile is a test plugin for the chat pipeline: a chat provider
// that starts a reply (emitting text and recording usage) and then traps,
// as a buggy or malicious third-party plugin might. The pipeline must answer
// with the personality's error message and keep serving other personalities.
package main

import (
	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:         "hostile",
		Version:      "0.0.1",
		Summary:      "Traps in the middle of every reply (a test plugin).",
		Capabilities: []string{abi.CapChat},
	})
}

// chat panics outside sdk.Handle (which would turn a panic into a typed
// error), so the Go runtime aborts the module: a real trap.
//
//go:wasmexport chat
func chat() int32 {
	sdk.Emit("I was about to say something import")
	_ = sdk.RecordUsage(abi.Usage{Kind: abi.UsageText, Model: "hostile-1", InputTokens: 10, OutputTokens: 3})
	var crash []int
	req, _ := sdk.Input[abi.ChatRequest]()
	_ = crash[len(req.Messages)+7] // index out of range, unrecovered
	return 0
}

func main() {}
