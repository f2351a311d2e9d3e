// Command toolkit is the host's test plugin for tools (invoke) and image
// generation (generate_image). What it answers is chosen by the tool name
// or the prompt, so one host serves every case: well-behaved answers and
// hostile ones (50 MB of output, an HTML page as an image, an image over
// the cap, a blob that does not exist, the key in a tool result). Like
// echo it talks to the host through raw tzurot:host/v1 imports and
// encoding/json: the host must not depend on the SDK to be tested.
package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"unsafe"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmimport tzurot:host/v1 api_key
func hostAPIKey(slot uint64) uint64

//go:wasmimport tzurot:host/v1 blob_create
func hostBlobCreate(src unsafe.Pointer, n uint32) int64

//go:wasmimport extism:host/env output_set
func extismOutputSet(offset, length uint64)

func main() {}

func fail(code, msg string) int32 {
	b, _ := json.Marshal(abi.Error{Code: code, Message: msg})
	pdk.SetErrorString(string(b))
	return 1
}

func output(v any) int32 {
	b, err := json.Marshal(v)
	if err != nil {
		return fail("internal", err.Error())
	}
	pdk.Output(b)
	return 0
}

func input(v any) bool { return json.Unmarshal(pdk.Input(), v) == nil }

func newBlob(b []byte) int64 {
	if len(b) == 0 {
		b = make([]byte, 0, 1)
	}
	return hostBlobCreate(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
}

// png returns n bytes starting with a PNG signature and IHDR of 2x1.
func png(n int) []byte {
	b := make([]byte, max(n, 24))
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x02\x00\x00\x00\x01")
	return b[:max(n, 24)]
}

// huge outputs n bytes without the guest holding them: the bytes are
// allocated in Extism's kernel memory and handed to output_set directly,
// as a hostile plugin would.
func huge(n int) int32 {
	mem := pdk.Allocate(n)
	extismOutputSet(mem.Offset(), uint64(n))
	return 0
}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

// describe declares the tools in config "tools" (JSON), else the default
// set; config "caps" overrides the capabilities and "image_schema" the
// image schema.
//
//go:wasmexport describe
func describe() int32 {
	caps := []string{abi.CapTool, abi.CapImage}
	if v, ok := pdk.GetConfig("caps"); ok {
		caps = strings.Split(v, ",")
	}
	tools := []abi.Tool{
		{Name: "weather", Description: "The weather in a city.", Parameters: json.RawMessage(`{"type":"object","required":["city"],"additionalProperties":false,"properties":{"city":{"type":"string","minLength":1},"days":{"type":"integer","minimum":1,"maximum":7}}}`)},
		{Name: "behave", Description: "Answers as its mode says.", Parameters: json.RawMessage(`{"type":"object","properties":{"mode":{"type":"string"},"n":{"type":"integer"}}}`)},
	}
	if v, ok := pdk.GetConfig("tools"); ok {
		tools = nil
		if err := json.Unmarshal([]byte(v), &tools); err != nil {
			return fail("internal", "config tools: "+err.Error())
		}
	}
	d := abi.Description{ABI: abi.Version, Name: "toolkit", Version: "1.0.0", Summary: "tool and image test plugin",
		Capabilities: caps, Tools: tools,
		ImageSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{"quality":{"enum":["standard","hd"]},"steps":{"type":"integer","minimum":1,"maximum":50}}}`)}
	if v, ok := pdk.GetConfig("image_schema"); ok {
		d.ImageSchema = json.RawMessage(v)
	}
	return output(d)
}

// invoke answers by tool and, for "behave", by arguments.mode:
//
//	weather            "sunny in CITY" plus the context it was given
//	behave mode=...
//	  "huge"           n bytes of output (50 MB in the hostile test)
//	  "long"           n bytes of content
//	  "key"            the key it was served, in the content and filename
//	  "attach"         a PNG attachment of n bytes
//	  "attach-html"    an HTML page declared image/png
//	  "attach-missing" a blob that does not exist
//	  "error"          an is_error result
//	  "fail"           an error object (rc 1)
//	  "usage"          content plus usage in the result
//	anything else      the arguments it received
//
//go:wasmexport invoke
func invoke() int32 {
	var req abi.InvokeRequest
	if !input(&req) {
		return fail("bad_request", "not an invoke request")
	}
	var args struct {
		City string `json:"city"`
		Mode string `json:"mode"`
		N    int    `json:"n"`
	}
	_ = json.Unmarshal(req.Arguments, &args)
	res := abi.InvokeResult{}
	switch {
	case req.Tool == "weather":
		ctx, _ := json.Marshal(req.Context)
		res.Content = "sunny in " + args.City + " " + string(ctx)
	case req.Tool != "behave":
		return fail("bad_request", "no tool "+req.Tool)
	case args.Mode == "huge":
		return huge(args.N)
	case args.Mode == "long":
		res.Content = strings.Repeat("é", args.N/2)
	case args.Mode == "key":
		km := pdk.FindMemory(hostAPIKey(0))
		k := string(km.ReadBytes())
		res.Content = "the key is " + k
		res.Attachments = []abi.Attachment{{Blob: newBlob(png(100)), MimeType: "image/png", Filename: k + ".png"}}
	case args.Mode == "attach":
		res.Content = "here is a picture"
		res.Attachments = []abi.Attachment{{Blob: newBlob(png(args.N)), MimeType: "image/jpeg", Filename: "pic.png", Description: "a test picture"}}
	case args.Mode == "attach-html":
		res.Attachments = []abi.Attachment{{Blob: newBlob([]byte("<html><body>not found</body></html>")), MimeType: "image/png"}}
	case args.Mode == "attach-missing":
		res.Attachments = []abi.Attachment{{Blob: 4242, MimeType: "image/png"}}
	case args.Mode == "error":
		res.Content, res.IsError = "no such city", true
	case args.Mode == "fail":
		return fail("unavailable", "the weather service is down")
	case args.Mode == "usage":
		res.Content = "metered"
		res.Usage = abi.Usage{InputTokens: 7, Model: "tool-model"}
	default:
		res.Content = string(req.Arguments)
	}
	return output(res)
}

// generate_image answers by req.Prompt:
//
//	"html"       an HTML error page declared image/png
//	"missing"    a blob handle that does not exist
//	"size:N"     one PNG of N bytes
//	"huge:N"     N bytes of output
//	anything     req.Count PNGs (1 when 0) of 100 bytes, usage images =
//	             count; the settings it received come back as the text
//
//go:wasmexport generate_image
func generateImage() int32 {
	var req abi.ImageRequest
	if !input(&req) {
		return fail("bad_request", "not an image request")
	}
	count := max(req.Count, 1)
	resp := abi.ImageResponse{Text: string(req.Settings), Usage: abi.Usage{Kind: abi.UsageImage, Model: req.Model, Images: int64(count)}}
	switch p := req.Prompt; {
	case p == "html":
		resp.Images = []abi.Image{{Blob: newBlob([]byte("<!DOCTYPE html><html>rate limited</html>")), MimeType: "image/png"}}
	case p == "missing":
		resp.Images = []abi.Image{{Blob: 4242, MimeType: "image/png"}}
	case strings.HasPrefix(p, "size:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(p, "size:"))
		resp.Images = []abi.Image{{Blob: newBlob(png(n)), MimeType: "image/png"}}
	case strings.HasPrefix(p, "huge:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(p, "huge:"))
		return huge(n)
	default:
		for range count {
			resp.Images = append(resp.Images, abi.Image{Blob: newBlob(png(100)), MimeType: "image/png", RevisedPrompt: "a " + p})
		}
	}
	return output(resp)
}
