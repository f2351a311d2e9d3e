//go:build wasip1

package main

import (
	"time"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

func main() {}

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:         "clock",
		Version:      version,
		Summary:      "Tells the model the current time in the user's timezone (tool time_now).",
		Capabilities: []string{abi.CapTool},
		Tools:        sdk.ToolList(tools...),
	})
}

// tools are the tools this plugin serves.
var tools = []sdk.ToolHandler{
	sdk.TypedTool(timeNowTool, func(tc abi.ToolContext, args timeNowArgs) (abi.InvokeResult, error) {
		return timeNow(args, tc, time.Now()), nil
	}),
}

//go:wasmexport invoke
func invoke() int32 { return sdk.Invoke(tools...) }
