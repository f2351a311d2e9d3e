package chat

// The built-in generate_image tool (docs/tools.md): offered when the
// personality is granted "generate_image" and has an enabled image config
// whose plugin entry is loaded and granted image.generate. It draws with
// the personality's image config (model, size, style, parameters), the
// model choosing the prompt and, optionally, the size and style; the
// images are attached to the final reply.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// ImageToolName is the name of the built-in image tool, as the model sees
// it and as personality_tools grants it.
const ImageToolName = "generate_image"

// imageToolParameters is the JSON Schema of generate_image's arguments.
const imageToolParameters = `{"type":"object","additionalProperties":false,"required":["prompt"],"properties":{` +
	`"prompt":{"type":"string","minLength":1,"maxLength":4000,"description":"What to draw, in detail."},` +
	`"size":{"type":"string","pattern":"^[0-9]{2,5}x[0-9]{2,5}$","description":"WIDTHxHEIGHT, e.g. 1024x1024; leave out for the default."},` +
	`"style":{"type":"string","maxLength":100,"description":"A style hint, e.g. vivid, natural, anime."}}}`

// ImageConfigs reads a personality's image config (*store.Store does).
type ImageConfigs interface {
	ImageConfig(ctx context.Context, personalityID int64) (store.ImageConfig, bool, error)
}

// ImageGenerator draws images; PluginImages adapts *plugin.Host.
type ImageGenerator interface {
	// GenerateImage asks plugin entry (image.generate) for images; the files
	// are checked to be images by their magic bytes.
	GenerateImage(ctx context.Context, entry string, req abi.ImageRequest) ([]ToolFile, []abi.Usage, error)
}

// imageSpec is the model's view of the built-in tool.
func imageSpec() ToolSpec {
	return ToolSpec{Entry: "", Tool: abi.Tool{Name: ImageToolName,
		Description: "Draw an image and attach it to your reply. Use it when the user asks for a picture.",
		Parameters:  json.RawMessage(imageToolParameters)}}
}

// imageEntry returns the image plugin entry the personality draws with, if
// the built-in tool may be offered: an enabled config and a loaded plugin
// granting image.generate (the config's, else the first such entry).
func (j *job) imageEntry(ctx context.Context) (store.ImageConfig, bool) {
	p := j.p
	if p.images == nil || p.imageGen == nil {
		return store.ImageConfig{}, false
	}
	type found struct {
		cfg store.ImageConfig
		ok  bool
	}
	f, err := retry2(ctx, p.cfg.Retry, func(ctx context.Context) (found, error) {
		c, ok, err := p.images.ImageConfig(ctx, j.personality.ID)
		return found{c, ok}, err
	})
	cfg, ok := f.cfg, f.ok
	if err != nil {
		j.log.Warn("cannot read the personality's image config; generate_image is not offered", "err", err)
		return cfg, false
	}
	if !ok || !cfg.Enabled {
		return cfg, false
	}
	for _, st := range p.plugins.Status() {
		if st.State != plugin.StateLoaded || !slices.Contains(st.Capabilities, abi.CapImage) {
			continue
		}
		if cfg.Plugin == "" || cfg.Plugin == st.Name {
			cfg.Plugin = st.Name
			return cfg, true
		}
	}
	j.log.Info("the personality's image plugin is not loaded or not granted image.generate; generate_image is not offered", "plugin", cfg.Plugin)
	return cfg, false
}

// runImage runs generate_image: arguments checked, the personality's
// config applied, the images returned as files.
func (j *job) runImage(ctx context.Context, cfg store.ImageConfig, tc abi.ToolCall, tctx abi.ToolContext) (ToolOutput, []abi.Usage, error) {
	var args struct {
		Prompt string `json:"prompt"`
		Size   string `json:"size"`
		Style  string `json:"style"`
	}
	schema, err := imageSchema()
	if err != nil {
		return ToolOutput{}, nil, err
	}
	if _, err := checkArgs(schema, ImageToolName, "", json.RawMessage(tc.Arguments)); err != nil {
		return ToolOutput{}, nil, err
	}
	if err := json.Unmarshal([]byte(tc.Arguments), &args); err != nil {
		return ToolOutput{}, nil, &abi.Error{Code: abi.ErrBadRequest, Message: "arguments: they are not valid JSON"}
	}
	req := abi.ImageRequest{Prompt: args.Prompt, Model: cfg.Model, Size: cfg.Size, Style: cfg.Style,
		Settings: cfg.Parameters, NSFWAllowed: tctx.NSFWAllowed}
	if args.Size != "" {
		req.Size = args.Size
	}
	if args.Style != "" {
		req.Style = args.Style
	}
	if len(bytes.TrimSpace(req.Settings)) == 0 || string(req.Settings) == "{}" {
		req.Settings = nil
	}
	files, usage, err := j.p.imageGen.GenerateImage(ctx, cfg.Plugin, req)
	for i := range usage {
		if usage[i].Kind == "" {
			usage[i].Kind = abi.UsageImage
		}
	}
	if err != nil {
		return ToolOutput{}, usage, err
	}
	if len(files) == 0 {
		return ToolOutput{Content: "The image plugin drew nothing.", IsError: true}, usage, nil
	}
	return ToolOutput{Content: fmt.Sprintf("Drew %d image(s) for: %s", len(files), args.Prompt), Files: files}, usage, nil
}

// imageSchema is generate_image's compiled schema.
var imageSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return paramschema.Compile(json.RawMessage(imageToolParameters))
})

// PluginImages is the ImageGenerator of a plugin host: Host.GenerateImage
// (settings checked against the plugin's image_schema, every image checked
// by its magic bytes and size, usage kind image).
type PluginImages struct {
	Host *plugin.Host
}

// GenerateImage implements ImageGenerator.
func (g *PluginImages) GenerateImage(ctx context.Context, entry string, req abi.ImageRequest) ([]ToolFile, []abi.Usage, error) {
	res, usage, err := g.Host.GenerateImage(ctx, entry, req)
	if err != nil {
		return nil, usage, err
	}
	files := make([]ToolFile, 0, len(res.Images))
	for i, im := range res.Images {
		_, ext := sniffImage(im.Data)
		if ext == "" {
			ext = "img"
		}
		files = append(files, ToolFile{Data: im.Data, MimeType: im.MimeType, Filename: fmt.Sprintf("image-%d.%s", i+1, ext), Description: im.RevisedPrompt})
	}
	return files, usage, nil
}

// sniffImage names the file extension of an image the host already
// checked (PNG, JPEG, GIF, WebP by their magic bytes).
func sniffImage(b []byte) (mime, ext string) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", "png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg", "jpg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif", "gif"
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "image/webp", "webp"
	}
	return "", ""
}
