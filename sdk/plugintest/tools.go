package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Invoke calls invoke (capability tool) as the host does: the tool must be
// one describe declares and req.Arguments ("" means {}) must be valid
// against its parameters, or the test fails, since the host would never
// send such a call. A typed error is returned for the test to inspect; a
// trap fails the test. The host also cuts content over 64 KiB and checks
// attachments by their magic bytes, which a test should assert too.
func (h *Harness) Invoke(req abi.InvokeRequest) (abi.InvokeResult, *abi.Error) {
	h.tb.Helper()
	var tool *abi.Tool
	d := h.Describe()
	for i := range d.Tools {
		if d.Tools[i].Name == req.Tool {
			tool = &d.Tools[i]
		}
	}
	if tool == nil {
		h.tb.Fatalf("invoke: the plugin declares no tool %q; the host refuses the call", req.Tool)
	}
	if len(bytes.TrimSpace(req.Arguments)) == 0 {
		req.Arguments = json.RawMessage("{}")
	}
	if len(tool.Parameters) > 0 {
		if err := ParamsSchema(h.tb, tool.Parameters)(string(req.Arguments)); err != nil {
			h.tb.Fatalf("invoke %s: arguments %s do not match the tool's parameters, so the host would refuse them: %v", req.Tool, req.Arguments, err)
		}
	}
	var out abi.InvokeResult
	e := h.mustOK(abi.InvokeExport, h.Call(abi.InvokeExport, req), &out)
	return out, e
}

// GenerateImage calls generate_image (capability image.generate) and
// returns the response with the bytes of each image, read from the blobs
// the response names. Like the host, it refuses a blob that does not
// exist, an empty image and bytes that are not PNG, JPEG, GIF or WebP.
func (h *Harness) GenerateImage(req abi.ImageRequest) (abi.ImageResponse, [][]byte, *abi.Error) {
	h.tb.Helper()
	var out abi.ImageResponse
	res := h.Call(abi.GenerateImageExport, req)
	if e := h.mustOK(abi.GenerateImageExport, res, &out); e != nil {
		return out, nil, e
	}
	if len(out.Images) == 0 {
		return out, nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the image plugin returned no image"}
	}
	var images [][]byte
	for _, img := range out.Images {
		b, ok := res.Blobs[img.Blob]
		switch {
		case img.Blob == 0 || !ok:
			return out, nil, &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the image plugin named blob %d, which does not exist", img.Blob)}
		case len(b) == 0:
			return out, nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the image plugin returned an empty file"}
		case !isImage(b):
			return out, nil, &abi.Error{Code: abi.ErrUnavailable, Message: "the image plugin returned something that is not an image"}
		}
		images = append(images, b)
	}
	return out, images, nil
}

// isImage is the host's image check (host/internal/media.SniffImage),
// which this module cannot import: PNG, JPEG, GIF or WebP magic bytes.
func isImage(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) ||
		(len(b) >= 4 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) ||
		bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")) ||
		(len(b) >= 16 && bytes.HasPrefix(b, []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")))
}
