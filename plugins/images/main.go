//go:build wasip1

// Command images is tzurot's image plugin (capability image.generate). It
// speaks two APIs, chosen by config api in plugins.toml:
//
//   - chat: OpenRouter's image-output chat models (google/gemini-2.5-flash-image
//     and the like): POST {base_url}/chat/completions with modalities
//     ["image","text"]; the images come back as data URLs.
//   - images: OpenAI's POST {base_url}/v1/images/generations and every
//     server that copies it, answering base64 (b64_json).
//
// Either answer is JSON holding the images as base64, several MiB of it:
// it is kept host-side (HTTPRequest.ResponseBlob) and copied into the
// plugin in one bulk read (sdk.ReadBlob) rather than through kernel
// memory, decoded here, and each image handed back as a blob of its own.
// The plugin never holds a key: the host injects it (abi.Auth).
package main

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

func config() (settings, error) {
	s, err := newSettings(sdk.Config)
	if err != nil {
		return s, sdk.Errorf(abi.ErrInternal, "%v", err)
	}
	return s, nil
}

//go:wasmexport describe
func describe() int32 {
	s, err := config()
	return sdk.Describe(abi.Description{
		Name:         "images",
		Version:      version,
		Summary:      "Image generation through OpenRouter's image chat models or an OpenAI-compatible images API.",
		Capabilities: []string{abi.CapImage, abi.CapValidateKey},
		NeedsKey:     err != nil || s.UseAuth,
		NeedsNetwork: true,
		ImageSchema:  json.RawMessage(imageSchema),
	})
}

//go:wasmexport generate_image
func generateImage() int32 {
	return sdk.Handle(func(req abi.ImageRequest) (abi.ImageResponse, error) {
		s, err := config()
		if err != nil {
			return abi.ImageResponse{}, err
		}
		j, err := s.resolve(req)
		if err != nil {
			// Refused before any request: nothing spent, nothing sent.
			return abi.ImageResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		if s.API == apiImages {
			return s.generateImages(j)
		}
		return s.generateChat(j)
	})
}

// generateChat asks a chat image model (OpenRouter) for j.
func (s settings) generateChat(j job) (abi.ImageResponse, error) {
	body, dropped := buildChat(j)
	logDropped(j.Model, dropped)
	raw, status, err := s.post("/chat/completions", body)
	if err != nil {
		return abi.ImageResponse{}, err
	}
	a, err := decodeChatAnswer(raw)
	if err != nil {
		return abi.ImageResponse{}, notAnAnswer(status, "a chat completion", raw)
	}
	if a.Error != nil && len(a.Choices) == 0 {
		// OpenRouter reports an upstream failure inside a 200; its code is
		// the HTTP status it stands for.
		code, _ := strconv.Atoi(strings.Trim(string(a.Error.Code), `"`))
		if code < 400 {
			code = 502
		}
		return abi.ImageResponse{}, provider.OpenAIError(code, raw, "")
	}
	model := a.Model
	if model == "" {
		model = j.Model
	}
	usage := abi.Usage{Kind: abi.UsageImage, Model: model}
	if a.Usage != nil {
		usage.InputTokens, usage.OutputTokens = a.Usage.PromptTokens, a.Usage.CompletionTokens
	}
	if len(a.Choices) == 0 {
		recordSpent(usage)
		return abi.ImageResponse{}, notAnAnswer(status, "a chat completion with a choice", raw)
	}
	c := a.Choices[0]
	text := ""
	if c.Message.Content != nil {
		text = strings.TrimSpace(*c.Message.Content)
	}
	usage.Images = int64(len(c.Message.Images))
	// The provider billed what it made, usable or not.
	recordSpent(usage)
	if len(c.Message.Images) == 0 {
		return abi.ImageResponse{}, noImage(model, c.FinishReason, c.NativeFinishReason, text, c.Message.Refusal)
	}
	out := abi.ImageResponse{Text: provider.Scrub(text), Usage: usage}
	for i, im := range c.Message.Images {
		p, err := fromDataURL(im.ImageURL.URL)
		if err != nil {
			return abi.ImageResponse{}, badImage(i, len(c.Message.Images), err)
		}
		img, err := toBlob(p)
		if err != nil {
			return abi.ImageResponse{}, err
		}
		out.Images = append(out.Images, img)
	}
	return out, nil
}

// generateImages asks an OpenAI-compatible images API for j.
func (s settings) generateImages(j job) (abi.ImageResponse, error) {
	body, dropped := buildImages(j)
	logDropped(j.Model, dropped)
	raw, status, err := s.post("/v1/images/generations", body)
	if err != nil {
		return abi.ImageResponse{}, err
	}
	a, err := decodeImagesAnswer(raw)
	if err != nil || a.Data == nil {
		return abi.ImageResponse{}, notAnAnswer(status, "an images answer", raw)
	}
	usage := abi.Usage{Kind: abi.UsageImage, Model: j.Model, Images: int64(len(a.Data))}
	if a.Usage != nil {
		usage.InputTokens, usage.OutputTokens = a.Usage.InputTokens, a.Usage.OutputTokens
	}
	recordSpent(usage)
	if len(a.Data) == 0 {
		return abi.ImageResponse{}, noImage(j.Model, "", "", "", nil)
	}
	out := abi.ImageResponse{Usage: usage}
	for i, d := range a.Data {
		var p picture
		var err error
		switch {
		case d.B64JSON != "":
			p, err = fromBase64(d.B64JSON)
		case d.URL != "":
			p, err = fromDataURL(d.URL) // a link is refused with its own words
		default:
			err = errNoData
		}
		if err != nil {
			return abi.ImageResponse{}, badImage(i, len(a.Data), err)
		}
		img, err := toBlob(p)
		if err != nil {
			return abi.ImageResponse{}, err
		}
		img.RevisedPrompt = provider.Scrub(d.RevisedPrompt)
		out.Images = append(out.Images, img)
	}
	return out, nil
}

// post sends body as JSON to path and returns the 2xx answer's bytes. The
// answer is kept host-side and read in one bulk copy: base64 images run
// to several MiB, and kernel memory copies them at about 18 ms/MiB.
func (s settings) post(path string, body any) ([]byte, int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, 0, sdk.Errorf(abi.ErrInternal, "encode request: %v", err)
	}
	hr := s.httpRequest("POST", path)
	hr.Body = string(b)
	hr.Headers["Content-Type"] = "application/json"
	hr.Headers["Accept"] = "application/json"
	hr.ResponseBlob = true
	r, err := sdk.HTTP(hr)
	if err != nil {
		e := *sdk.AsError(err)
		if e.Code == abi.ErrUnavailable || e.Code == abi.ErrTimeout {
			e.Message = "the image did not arrive whole from " + who + ": " + e.Message
		}
		return nil, 0, &e
	}
	raw, err := answerBytes(r)
	if err != nil {
		return nil, r.Status, err
	}
	if !r.OK() {
		return nil, r.Status, providerError(r.Status, raw, r.Headers["retry-after"])
	}
	return raw, r.Status, nil
}

// answerBytes is the response body, from its blob when the host kept it.
func answerBytes(r *sdk.Response) ([]byte, error) {
	if r.BodyBlob == 0 {
		return r.Body, nil
	}
	return sdk.ReadBlob(r.BodyBlob)
}

// toBlob hands a decoded image to the host.
func toBlob(p picture) (abi.Image, error) {
	h, err := sdk.NewBlob(p.Bytes)
	if err != nil {
		return abi.Image{}, err
	}
	return abi.Image{Blob: h, MimeType: p.Mime, Width: p.Width, Height: p.Height}, nil
}

// recordSpent bills what the provider made, once it answered 200: the
// host takes recorded rows over the response's usage, so a call that then
// fails (an image that will not decode) is billed the same.
func recordSpent(u abi.Usage) {
	if u.Images > 0 || u.InputTokens > 0 || u.OutputTokens > 0 {
		sdk.RecordSpentUsage(u)
	}
}

func logDropped(model string, dropped []string) {
	if len(dropped) > 0 {
		sdk.Log(abi.LogDebug, "settings this image model does not take were left out",
			map[string]string{"model": model, "dropped": strings.Join(dropped, ", ")})
	}
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s, err := config()
		if err != nil {
			return abi.ValidateKeyResult{}, err
		}
		// OpenRouter lists models without a key, so its key endpoint is the
		// check; an images API lists models only for a good key.
		path := "/auth/key"
		if s.API == apiImages {
			path = "/v1/models"
		}
		req := s.httpRequest("GET", path)
		req.Headers["Accept"] = "application/json"
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		if !r.OK() {
			return provider.KeyCheckRefused(who, r.Status, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])), nil
		}
		return abi.ValidateKeyResult{Status: abi.KeyValid}, nil
	})
}

func main() {}
