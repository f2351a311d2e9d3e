//go:build wasip1

// Command tools is a test tool plugin for the agent loop (capability
// "tool"): time_now tells the time in an IANA timezone (the user's when
// none is given, from the ToolContext), echo_context hands back the
// context the host gave it, and huge answers with more bytes than any
// plugin output may hold (50 MB), as a hostile tool would.
package main

import (
	"encoding/json"
	"strings"
	"time"
	_ "time/tzdata" // wasm has no zoneinfo files

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:         "tools",
		Version:      "0.0.1",
		Summary:      "Test tools for the agent loop.",
		Capabilities: []string{abi.CapTool},
		Tools: []abi.Tool{
			{Name: "time_now", Description: "The current date and time in a timezone.",
				Parameters: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{"timezone":{"type":"string","minLength":1,"description":"IANA timezone, e.g. Asia/Tokyo"}}}`)},
			{Name: "echo_context", Description: "Echoes what the host told the tool about the caller.",
				Parameters: json.RawMessage(`{"type":"object","additionalProperties":false}`)},
			{Name: "huge", Description: "Answers with 50 MB.",
				Parameters: json.RawMessage(`{"type":"object"}`)},
		},
	})
}

//go:wasmexport invoke
func invoke() int32 {
	return sdk.Handle(func(req abi.InvokeRequest) (abi.InvokeResult, error) {
		switch req.Tool {
		case "time_now":
			var args struct {
				Timezone string `json:"timezone"`
			}
			_ = json.Unmarshal(req.Arguments, &args)
			tz := args.Timezone
			if tz == "" {
				tz = req.Context.Timezone
			}
			if tz == "" {
				tz = "UTC"
			}
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return abi.InvokeResult{Content: "unknown timezone " + tz, IsError: true}, nil
			}
			return abi.InvokeResult{Content: "It is " + time.Now().In(loc).Format("Monday 2 January 2006, 15:04") + " in " + tz + "."}, nil
		case "echo_context":
			b, _ := json.Marshal(req.Context)
			return abi.InvokeResult{Content: string(b)}, nil
		case "huge":
			return abi.InvokeResult{Content: strings.Repeat("x", 50<<20)}, nil
		}
		return abi.InvokeResult{}, &abi.Error{Code: abi.ErrBadRequest, Message: "no such tool"}
	})
}

func main() {}
