//go:build wasip1

package main

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// greetArgs are the arguments of the greet tool.
type greetArgs struct {
	Name string `json:"name"`
}

// tools are the probe's tools: greet answers with the name and the
// personality it works for; an empty name is an is_error result.
var tools = []sdk.ToolHandler{
	sdk.TypedTool(abi.Tool{Name: "greet", Description: "Greets someone by name.",
		Parameters: json.RawMessage(`{"type":"object","required":["name"],"additionalProperties":false,"properties":{"name":{"type":"string"}}}`)},
		func(tc abi.ToolContext, a greetArgs) (abi.InvokeResult, error) {
			if a.Name == "" {
				return sdk.ToolError("whom should I greet?"), nil
			}
			return sdk.ToolText("hello " + a.Name + " from " + tc.PersonalityName), nil
		}),
}

//go:wasmexport invoke
func invoke() int32 { return sdk.Invoke(tools...) }

// generate_image answers a PNG made in the plugin, or for prompt "html"
// an HTML page declared image/png (which the harness refuses, as the host
// does).
//
//go:wasmexport generate_image
func generateImage() int32 {
	return sdk.HandleImage(func(req abi.ImageRequest) (abi.ImageResponse, error) {
		data := []byte("\x89PNG\r\n\x1a\n made in the plugin")
		if req.Prompt == "html" {
			data = []byte("<html>quota</html>")
		}
		img, err := sdk.ImageFromBytes(data, "image/png")
		return abi.ImageResponse{Images: []abi.Image{img}, Usage: abi.Usage{Kind: abi.UsageImage, Images: 1}}, err
	})
}
