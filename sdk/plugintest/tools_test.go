package plugintest_test

import (
	"encoding/json"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// TestToolAndImageExportsThroughHarness: a plugin built with the SDK's
// tool and image helpers declares its tools, answers a typed tool call
// and an image as a blob; the harness refuses an image that is not one,
// as the host does.
func TestToolAndImageExportsThroughHarness(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	d := h.Describe()
	if len(d.Tools) != 1 || d.Tools[0].Name != "greet" {
		t.Fatalf("tools = %+v", d.Tools)
	}
	res, e := h.Invoke(abi.InvokeRequest{Tool: "greet", Arguments: json.RawMessage(`{"name":"Ada"}`), Context: abi.ToolContext{PersonalityName: "Lilith"}})
	if e != nil || res.Content != "hello Ada from Lilith" || res.IsError {
		t.Errorf("greet = %+v, %v", res, e)
	}
	res, e = h.Invoke(abi.InvokeRequest{Tool: "greet", Arguments: json.RawMessage(`{"name":""}`)})
	if e != nil || !res.IsError {
		t.Errorf("greet with no name = %+v, %v", res, e)
	}
	// The export refuses a tool it does not have (the host never sends one).
	raw := h.Call(abi.InvokeExport, abi.InvokeRequest{Tool: "nope"})
	if raw.Err == nil || raw.Err.Code != abi.ErrBadRequest {
		t.Errorf("unknown tool: %+v", raw.Err)
	}

	resp, images, e := h.GenerateImage(abi.ImageRequest{Prompt: "cat", Count: 1})
	if e != nil || len(images) != 1 || string(images[0][:4]) != "\x89PNG" || resp.Usage.Images != 1 {
		t.Errorf("image = %+v, %d images, %v", resp, len(images), e)
	}
	if _, _, e := h.GenerateImage(abi.ImageRequest{Prompt: "html"}); e == nil || e.Message != "the image plugin returned something that is not an image" {
		t.Errorf("html image: %v", e)
	}
}
