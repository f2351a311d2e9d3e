//go:build wasip1

package sdk

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Helpers for tool plugins (capability tool, export invoke) and image
// plugins (capability image.generate, export generate_image); see
// docs/plugin-abi.md, "Tools and images".

// ToolHandler is one tool a plugin offers: its declaration (what describe
// lists and the model reads) and the function that runs it. Build one
// with TypedTool.
type ToolHandler struct {
	Tool abi.Tool
	Run  func(abi.ToolContext, json.RawMessage) (abi.InvokeResult, error)
}

// TypedTool is a ToolHandler whose arguments are decoded into A. The host
// has already checked them against tool.Parameters, so A only needs the
// fields the schema declares.
func TypedTool[A any](tool abi.Tool, run func(abi.ToolContext, A) (abi.InvokeResult, error)) ToolHandler {
	return ToolHandler{Tool: tool, Run: func(tc abi.ToolContext, raw json.RawMessage) (abi.InvokeResult, error) {
		var args A
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &args); err != nil {
				return abi.InvokeResult{}, Errorf(abi.ErrBadRequest, "tool %s: the arguments do not fit: %v", tool.Name, err)
			}
		}
		return run(tc, args)
	}}
}

// ToolList is the tools' declarations, for Description.Tools.
func ToolList(tools ...ToolHandler) []abi.Tool {
	out := make([]abi.Tool, len(tools))
	for i, t := range tools {
		out[i] = t.Tool
	}
	return out
}

// Invoke is the whole body of the invoke export: it decodes the
// InvokeRequest, runs the tool it names and writes its InvokeResult. An
// unknown tool is a bad_request (the host never sends one it was not
// told about).
func Invoke(tools ...ToolHandler) int32 {
	return Handle(func(req abi.InvokeRequest) (abi.InvokeResult, error) {
		for _, t := range tools {
			if t.Tool.Name == req.Tool {
				return t.Run(req.Context, req.Arguments)
			}
		}
		return abi.InvokeResult{}, Errorf(abi.ErrBadRequest, "this plugin has no tool named %q", req.Tool)
	})
}

// ToolText is a successful tool result with content s.
func ToolText(s string) abi.InvokeResult { return abi.InvokeResult{Content: s} }

// ToolError is a failure the model reads and may recover from ("no such
// city"): content s with is_error set. Return an error instead for a
// failure the user must see.
func ToolError(s string) abi.InvokeResult { return abi.InvokeResult{Content: s, IsError: true} }

// HandleImage is the whole body of a generate_image export: typed like
// Handle, with the request already checked by the host (settings valid
// against the image_schema, count 1..4).
func HandleImage(fn func(abi.ImageRequest) (abi.ImageResponse, error)) int32 {
	return Handle(fn)
}

// ImageFromResponse is an abi.Image for an image the provider sent as the
// body of r, kept host-side (the request set ResponseBlob): the bytes
// never enter the plugin. mime "" takes the response's Content-Type; the
// host checks the bytes are an image either way.
func ImageFromResponse(r *Response, mime string) (abi.Image, error) {
	a, err := AudioFromResponse(r, mime)
	if err != nil {
		return abi.Image{}, err
	}
	return abi.Image{Blob: a.Blob, MimeType: a.MimeType}, nil
}

// ImageFromBytes stores an image the plugin holds (e.g. decoded from a
// base64 or data URL answer) as a blob of the call.
func ImageFromBytes(b []byte, mime string) (abi.Image, error) {
	h, err := NewBlob(b)
	if err != nil {
		return abi.Image{}, err
	}
	return abi.Image{Blob: h, MimeType: mime}, nil
}

// AttachmentFromBytes stores a file a tool returns (an image or audio) as
// a blob of the call, to list in InvokeResult.Attachments.
func AttachmentFromBytes(b []byte, mime, filename string) (abi.Attachment, error) {
	h, err := NewBlob(b)
	if err != nil {
		return abi.Attachment{}, err
	}
	return abi.Attachment{Blob: h, MimeType: mime, Filename: filename}, nil
}
