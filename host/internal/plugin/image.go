package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/host/internal/media"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// MaxImagesPerRequest is the most images one generate_image call may ask
// for: each is an upload on the reply, and a Discord message carries at
// most 10 files.
const MaxImagesPerRequest = 4

// errNotImage is the cause when an image plugin's image is not an image.
var errNotImage = errors.New("the image plugin returned something that is not an image")

// GeneratedImage is one checked image of a GenerateImage call.
type GeneratedImage struct {
	Data []byte
	// MimeType is the sniffed type: image/png, image/jpeg, image/gif or
	// image/webp.
	MimeType string
	// Width and Height are what the plugin said, else what a PNG or GIF
	// header says; 0 when unknown.
	Width, Height int
	RevisedPrompt string
}

// ImageResult is what GenerateImage returns.
type ImageResult struct {
	Images []GeneratedImage
	// Text is what a chat-style image model said beside the images.
	Text string
}

// GenerateImage asks plugin entry (capability image.generate) for images
// for the call in ctx. req.Settings is checked against the plugin's
// image_schema first (a bad value is a bad_request naming the field).
// req.Count is 1 when 0 and at most MaxImagesPerRequest. Every image must
// name a blob of the call, be non-empty, at most the image cap
// (Options.MaxImageBytes) and be PNG, JPEG, GIF or WebP by its magic
// bytes: an HTML error page served with status 200 is an error, never an
// attachment. A plugin returning more images than asked for has the rest
// dropped. Usage follows Chat's rules, with kind image and Images set to
// the number of images when the plugin counts none; it is returned with
// an unusable-image error too (the provider may have billed the images).
func (h *Host) GenerateImage(ctx context.Context, entry string, req abi.ImageRequest) (ImageResult, []abi.Usage, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		return ImageResult{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "there is no prompt to draw"}
	}
	if req.Count <= 0 {
		req.Count = 1
	}
	if req.Count > MaxImagesPerRequest {
		return ImageResult{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: fmt.Sprintf("at most %d images can be made at once (%d were asked for)", MaxImagesPerRequest, req.Count)}
	}
	if err := h.ValidateImageSettings(entry, req.Settings); err != nil {
		return ImageResult{}, nil, err
	}
	ctx, blobs := voiceCall(ctx)
	in, err := json.Marshal(req)
	if err != nil {
		return ImageResult{}, nil, fmt.Errorf("plugin %s: generate_image: encode request: %w", entry, err)
	}
	r, err := h.invoke(ctx, entry, abi.CapImage, abi.GenerateImageExport, in)
	if err != nil {
		return ImageResult{}, nil, err
	}
	var resp abi.ImageResponse
	if err := json.Unmarshal(r.Output, &resp); err != nil {
		return ImageResult{}, nil, badAnswer(entry, abi.GenerateImageExport, abi.ErrInternal, "the plugin's answer was not an image response", err)
	}
	if len(r.Usage) == 0 && (resp.Usage.Kind == "" || resp.Usage.Kind == abi.UsageImage) && resp.Usage.Images == 0 && len(resp.Images) > 0 {
		// Images are what image usage counts; a plugin that says nothing
		// still made them.
		resp.Usage.Images = int64(min(len(resp.Images), req.Count))
	}
	usage := h.pluginUsage(ctx, entry, abi.GenerateImageExport, r, &resp.Usage, abi.UsageImage)
	if len(resp.Images) == 0 {
		return ImageResult{}, usage, badAnswer(entry, abi.GenerateImageExport, abi.ErrUnavailable, "the image plugin returned no image", nil)
	}
	if len(resp.Images) > req.Count {
		h.log.WarnContext(ctx, "image plugin returned more images than asked for", "plugin", entry, "asked", req.Count, "got", len(resp.Images))
		resp.Images = resp.Images[:req.Count]
	}
	out := ImageResult{Text: r.redact(resp.Text)}
	for _, img := range resp.Images {
		b, err := h.checkBlob(entry, abi.GenerateImageExport, blobs, img.Blob, "the image plugin", media.SniffImage, errNotImage)
		if err != nil {
			return ImageResult{}, usage, err
		}
		g := GeneratedImage{Data: b.bytes, MimeType: b.mime, Width: img.Width, Height: img.Height, RevisedPrompt: r.redact(img.RevisedPrompt)}
		if g.Width <= 0 || g.Height <= 0 {
			g.Width, g.Height, _ = media.ImageSize(b.bytes)
		}
		out.Images = append(out.Images, g)
	}
	return out, usage, nil
}

// ImageSettingsError is an image config the plugin's image_schema
// refuses. It reads as a bad_request *abi.Error too (errors.As).
type ImageSettingsError struct {
	Plugin string
	// Problems name each wrong field: "steps: must be at most 50, but it is 80".
	Problems []string
}

func (e *ImageSettingsError) Error() string {
	return fmt.Sprintf("image settings for plugin %s: %s", e.Plugin, strings.Join(e.Problems, "; "))
}

// Unwrap lets callers treat it as the bad_request it is.
func (e *ImageSettingsError) Unwrap() error {
	return &abi.Error{Code: abi.ErrBadRequest, Message: "the image settings are not valid: " + strings.Join(e.Problems, "; ")}
}

// ValidateImageSettings checks an image settings object (ImageRequest
// .Settings) against the image_schema plugin entry declared; the commands
// that save an image config call it, and GenerateImage calls it before
// every call. Empty settings are valid; settings must be a JSON object; a
// plugin without an image_schema accepts any object. A refusal is an
// *ImageSettingsError naming each field.
func (h *Host) ValidateImageSettings(entry string, settings json.RawMessage) error {
	s, l, err := h.acquire(entry)
	if err != nil {
		return err
	}
	defer s.leave()
	problems, err := checkSettings(l.imageSchema, settings, `{"quality": "hd"}`)
	if err != nil {
		return fmt.Errorf("plugin %s: validate image settings: %w", entry, err)
	}
	if len(problems) > 0 {
		return &ImageSettingsError{Plugin: entry, Problems: problems}
	}
	return nil
}
