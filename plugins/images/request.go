package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The two APIs this plugin speaks (config api).
const (
	// apiChat is an OpenRouter-style chat completion with image output:
	// POST {base_url}/chat/completions with modalities ["image","text"],
	// images back as data URLs in choices[0].message.images.
	apiChat = "chat"
	// apiImages is OpenAI's POST {base_url}/v1/images/generations with
	// b64_json answers, and every server that copies it.
	apiImages = "images"
)

// Defaults when plugins.toml sets nothing.
const (
	defaultChatBaseURL   = "https://openrouter.ai/api/v1"
	defaultImagesBaseURL = "https://api.openai.com"
	defaultChatModel     = "google/gemini-2.5-flash-image"
	defaultImagesModel   = "gpt-image-1"

	// maxPromptChars bounds the prompt: OpenAI's gpt-image-1 takes 32000
	// characters, dall-e-3 4000; a longer one is refused here, in words,
	// rather than by the provider.
	maxPromptChars = 32000
	// maxCount is the most images one call asks for (OpenAI takes up to 10;
	// every image is a Discord attachment and billed).
	maxCount = 4
	// maxStyleChars bounds a free-form style hint.
	maxStyleChars = 200
)

// settings is the plugin's config from plugins.toml.
type settings struct {
	API     string // apiChat or apiImages
	BaseURL string // chat: ends in /v1 (…/api/v1); images: the root, without /v1
	Model   string
	Size    string // "" leaves the provider's default
	UseAuth bool
}

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) (settings, error) {
	s := settings{API: apiChat}
	if v, ok := get("api"); ok && v != "" {
		s.API = v
	}
	switch s.API {
	case apiChat:
		s.BaseURL, s.Model = defaultChatBaseURL, defaultChatModel
	case apiImages:
		s.BaseURL, s.Model = defaultImagesBaseURL, defaultImagesModel
	default:
		return s, fmt.Errorf("plugin config api %q is not one of chat, images", s.API)
	}
	if v, ok := get("base_url"); ok && v != "" {
		s.BaseURL = v
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.API == apiImages {
		// The images path carries /v1 already; a base_url copied from a
		// chat entry (https://api.openai.com/v1) must not give /v1/v1/….
		s.BaseURL = strings.TrimSuffix(s.BaseURL, "/v1")
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return s, fmt.Errorf("plugin config base_url %q is not an http(s) URL (for example %s)", s.BaseURL, defaultChatBaseURL)
	}
	if v, ok := get("default_model"); ok && v != "" {
		s.Model = v
	}
	if v, ok := get("default_size"); ok && v != "" {
		if !validSize(v) {
			return s, fmt.Errorf("plugin config default_size %q is not one of %s", v, strings.Join(sizes, ", "))
		}
		s.Size = v
	}
	auth, _ := get("auth")
	if s.UseAuth, err = provider.UsesKey(u, auth); err != nil {
		return s, err
	}
	return s, nil
}

// httpRequest is a request to the provider; the key is never in it: the
// host injects "Authorization: Bearer <key>" (abi.Auth).
func (s settings) httpRequest(method, path string) abi.HTTPRequest {
	r := abi.HTTPRequest{Method: method, URL: s.BaseURL + path, Headers: map[string]string{}}
	if s.UseAuth {
		r.Auth = &abi.Auth{}
	}
	return r
}

// sizes are the sizes image_schema offers: every size OpenAI's image
// models take (dall-e-2: the square ones; dall-e-3: 1024 and 1792 sides;
// gpt-image-1: 1024 and 1536 sides, auto). Chat image models take an
// aspect ratio instead, derived from the size (aspectRatios).
var sizes = []string{"auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"}

func validSize(s string) bool {
	for _, v := range sizes {
		if v == s {
			return true
		}
	}
	return false
}

// aspectRatios maps a size to OpenRouter's image_config.aspect_ratio for
// chat image models (Gemini makes 1024x1024 at 1:1, 1248x832 at 3:2, …).
var aspectRatios = map[string]string{
	"256x256": "1:1", "512x512": "1:1", "1024x1024": "1:1",
	"1536x1024": "3:2", "1024x1536": "2:3",
	"1792x1024": "16:9", "1024x1792": "9:16",
}

// qualities are the quality values image_schema offers: gpt-image-1's
// low/medium/high/auto and dall-e-3's standard/hd; each is mapped to what
// the model takes (quality).
var qualities = []string{"auto", "low", "medium", "high", "standard", "hd"}

// imageSettings is ImageRequest.Settings as this plugin reads it.
type imageSettings struct {
	Size    string `json:"size"`
	Quality string `json:"quality"`
	Style   string `json:"style"`
}

// parseSettings decodes and checks raw against the plugin's image_schema
// (the host checks it too; the plugin does not rely on that).
func parseSettings(raw json.RawMessage) (imageSettings, error) {
	var v imageSettings
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return v, fmt.Errorf("image settings: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if v.Size != "" && !validSize(v.Size) {
		return v, fmt.Errorf("size: %q is not one of %s", v.Size, strings.Join(sizes, ", "))
	}
	if v.Quality != "" && !oneOf(v.Quality, qualities) {
		return v, fmt.Errorf("quality: %q is not one of %s", v.Quality, strings.Join(qualities, ", "))
	}
	if utf8.RuneCountInString(v.Style) > maxStyleChars {
		return v, fmt.Errorf("style: must be at most %d characters", maxStyleChars)
	}
	return v, nil
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// job is one ImageRequest resolved against the settings and the config:
// what to ask for, before it is put in either API's shape.
type job struct {
	Prompt  string
	Model   string
	Size    string
	Quality string
	Style   string
	Count   int
	NSFW    bool
}

// resolve checks req and fills what it leaves empty: the request's own
// fields win over the personality's settings, which win over plugins.toml.
func (s settings) resolve(req abi.ImageRequest) (job, error) {
	j := job{Prompt: strings.TrimSpace(req.Prompt), Model: req.Model, Count: req.Count, NSFW: req.NSFWAllowed}
	switch n := utf8.RuneCountInString(j.Prompt); {
	case n == 0:
		return j, fmt.Errorf("there is no prompt: say what the image should show")
	case n > maxPromptChars:
		return j, fmt.Errorf("the prompt is %d characters long; at most %d are taken", n, maxPromptChars)
	}
	vs, err := parseSettings(req.Settings)
	if err != nil {
		return j, err
	}
	if j.Model == "" {
		j.Model = s.Model
	}
	j.Size = first(req.Size, vs.Size, s.Size)
	if j.Size != "" && !validSize(j.Size) {
		return j, fmt.Errorf("size %q is not one of %s", j.Size, strings.Join(sizes, ", "))
	}
	j.Style = first(req.Style, vs.Style)
	if utf8.RuneCountInString(j.Style) > maxStyleChars {
		return j, fmt.Errorf("the style is longer than %d characters", maxStyleChars)
	}
	j.Quality = vs.Quality
	switch {
	case j.Count == 0:
		j.Count = 1
	case j.Count < 0 || j.Count > maxCount:
		return j, fmt.Errorf("%d images were asked for; one call makes 1 to %d", j.Count, maxCount)
	}
	return j, nil
}

func first(v ...string) string {
	for _, s := range v {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// promptWithStyle adds a style the API has no field for to the prompt, so
// the hint still reaches the model.
func promptWithStyle(prompt, style string) string {
	if style == "" {
		return prompt
	}
	return prompt + "\n\nStyle: " + style
}

// ---- chat API (OpenRouter image models) ----

// chatBody is the JSON body of POST {base_url}/chat/completions asking for
// image output.
type chatBody struct {
	Model       string         `json:"model"`
	Messages    []chatMessage  `json:"messages"`
	Modalities  []string       `json:"modalities"`
	ImageConfig *chatImageConf `json:"image_config,omitempty"`
	Stream      bool           `json:"stream"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatImageConf is OpenRouter's image_config (Gemini image models).
type chatImageConf struct {
	AspectRatio string `json:"aspect_ratio,omitempty"`
}

// buildChat is the chat request for j. Quality has no chat field: it is
// dropped (named in dropped, for a debug log); a count above 1 is made by
// asking again (generateChat). There is no safe-content switch in this
// API either; refusals are the model's.
func buildChat(j job) (body chatBody, dropped []string) {
	body = chatBody{
		Model:      j.Model,
		Messages:   []chatMessage{{Role: "user", Content: promptWithStyle(j.Prompt, j.Style)}},
		Modalities: []string{"image", "text"},
	}
	if ar := aspectRatios[j.Size]; ar != "" {
		body.ImageConfig = &chatImageConf{AspectRatio: ar}
	}
	if j.Quality != "" {
		dropped = append(dropped, "quality")
	}
	return body, dropped
}

// chatAnswer is the part of a chat completion this plugin reads
// (decoded by decodeChatAnswer).
type chatAnswer struct {
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage"`
	// Error is OpenRouter's error inside a 200 (an upstream provider that
	// failed after the answer started).
	Error *chatError `json:"error"`
}

type chatChoice struct {
	Message            chatReply `json:"message"`
	FinishReason       string    `json:"finish_reason"`
	NativeFinishReason string    `json:"native_finish_reason"`
}

type chatReply struct {
	Content *string     `json:"content"`
	Refusal *string     `json:"refusal"`
	Images  []chatImage `json:"images"`
}

type chatImage struct {
	Type     string `json:"type"`
	ImageURL struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

type chatError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// ---- images API (OpenAI /v1/images/generations) ----

// imagesBody is the JSON body of POST /v1/images/generations.
type imagesBody struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              int    `json:"n"`
	Size           string `json:"size,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
	Quality        string `json:"quality,omitempty"`
	Style          string `json:"style,omitempty"`
	Moderation     string `json:"moderation,omitempty"`
}

// modelFamily tells OpenAI's image models apart: each takes other sizes,
// qualities and fields. Any other model (a local server's) gets the
// values as given.
func modelFamily(model string) string {
	switch {
	case strings.HasPrefix(model, "gpt-image"):
		return "gpt-image"
	case model == "dall-e-3":
		return "dall-e-3"
	case model == "dall-e-2":
		return "dall-e-2"
	}
	return ""
}

// buildImages is the images request for j, shaped for the model: gpt-image
// models always answer base64 and refuse response_format, take
// low/medium/high/auto quality and a moderation level; dall-e-3 takes
// standard/hd, vivid/natural style and one image per request; dall-e-2
// takes neither quality nor style. A style the model has no field for
// goes into the prompt. dropped names what was left out.
func buildImages(j job) (body imagesBody, dropped []string) {
	body = imagesBody{Model: j.Model, Prompt: j.Prompt, N: j.Count, Size: j.Size, ResponseFormat: "b64_json", Quality: j.Quality}
	switch modelFamily(j.Model) {
	case "gpt-image":
		body.ResponseFormat = ""
		switch body.Quality {
		case "standard":
			body.Quality = "medium"
		case "hd":
			body.Quality = "high"
		}
		if body.Size == "256x256" || body.Size == "512x512" || body.Size == "1792x1024" || body.Size == "1024x1792" {
			dropped, body.Size = append(dropped, "size "+body.Size), ""
		}
		// The safe setting: "auto" is OpenAI's standard filtering; "low"
		// only where the channel allows adult content.
		body.Moderation = "auto"
		if j.NSFW {
			body.Moderation = "low"
		}
		body.Prompt = promptWithStyle(j.Prompt, j.Style)
	case "dall-e-3":
		switch body.Quality {
		case "", "auto":
			body.Quality = ""
		case "low", "medium", "standard":
			body.Quality = "standard"
		case "high", "hd":
			body.Quality = "hd"
		}
		if body.Size != "" && body.Size != "1024x1024" && body.Size != "1792x1024" && body.Size != "1024x1792" {
			dropped, body.Size = append(dropped, "size "+body.Size), ""
		}
		if body.N > 1 {
			dropped, body.N = append(dropped, "count"), 1
		}
		if s := strings.ToLower(j.Style); s == "vivid" || s == "natural" {
			body.Style = s
		} else {
			body.Prompt = promptWithStyle(j.Prompt, j.Style)
		}
	case "dall-e-2":
		if body.Quality != "" {
			dropped, body.Quality = append(dropped, "quality"), ""
		}
		if body.Size != "" && body.Size != "256x256" && body.Size != "512x512" && body.Size != "1024x1024" {
			dropped, body.Size = append(dropped, "size "+body.Size), ""
		}
		body.Prompt = promptWithStyle(j.Prompt, j.Style)
	default:
		if strings.EqualFold(j.Style, "vivid") || strings.EqualFold(j.Style, "natural") {
			body.Style = strings.ToLower(j.Style)
		} else {
			body.Prompt = promptWithStyle(j.Prompt, j.Style)
		}
	}
	if body.Size == "auto" && modelFamily(j.Model) != "gpt-image" {
		body.Size = ""
	}
	return body, dropped
}

// imagesAnswer is the answer of /v1/images/generations (decoded by
// decodeImagesAnswer).
type imagesAnswer struct {
	Created int64        `json:"created"`
	Data    []imagesItem `json:"data"`
	// Usage is gpt-image-1's token count (dall-e models send none).
	Usage *imagesUsage `json:"usage"`
}

type imagesItem struct {
	B64JSON       string `json:"b64_json"`
	URL           string `json:"url"`
	RevisedPrompt string `json:"revised_prompt"`
}

type imagesUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}
