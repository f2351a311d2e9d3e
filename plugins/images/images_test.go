//go:build !wasip1

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// wasmPath is the real plugin, built from this directory once per run.
var wasmPath string

func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, ".", &wasmPath)) }

// setup starts the fake provider and loads the plugin against it in mode
// api (chat: OpenRouter's layout under /api/v1; images: OpenAI's root).
func setup(t testing.TB, api string, opts plugintest.Options) (*plugintest.Harness, *fakeAPI) {
	t.Helper()
	fake := &fakeAPI{t: t}
	url, host := plugintest.Loopback(t, fake)
	if opts.Config == nil {
		opts.Config = map[string]string{}
	}
	opts.Config["api"] = api
	if api == apiChat {
		url += "/api/v1"
	}
	opts.Config["base_url"] = url
	// The fake is plain http on loopback, which the plugin would take for
	// a keyless local server: say it needs the key.
	opts.Config["auth"] = "bearer"
	if opts.Key == "" {
		opts.Key = keyGood
	}
	opts.AllowedHosts = []string{host}
	return plugintest.New(t, wasmPath, opts), fake
}

// generated is one generate_image call as the host sees it: the answer,
// each image's bytes read from the blob it names, and the usage recorded.
type generated struct {
	abi.ImageResponse
	Bytes [][]byte
	Usage []plugintest.Usage
}

func generate(t *testing.T, h *plugintest.Harness, req abi.ImageRequest) (generated, *abi.Error) {
	t.Helper()
	res := h.Call(abi.GenerateImageExport, req)
	g := generated{Usage: res.Usage}
	if res.Trap != nil {
		t.Fatalf("generate_image trapped: %v\n%s", res.Trap, res.Stderr)
	}
	if res.Err != nil {
		return g, res.Err
	}
	if err := json.Unmarshal(res.Output, &g.ImageResponse); err != nil {
		t.Fatalf("output is not an ImageResponse: %v: %.200s", err, res.Output)
	}
	for _, im := range g.Images {
		b, ok := res.Blobs[im.Blob]
		if !ok || im.Blob == 0 {
			t.Fatalf("the plugin named image blob %d, which does not exist", im.Blob)
		}
		g.Bytes = append(g.Bytes, b)
	}
	return g, nil
}

func TestDescribeAndImageSchema(t *testing.T) {
	h, _ := setup(t, apiChat, plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("missing ABI marker export")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "images" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "image.generate,llm.validate_key" {
		t.Fatalf("describe = %+v", d)
	}
	for _, name := range []string{abi.GenerateImageExport, abi.ValidateKeyExport} {
		if !h.HasExport(name) {
			t.Errorf("missing export %s", name)
		}
	}
	valid := plugintest.ParamsSchema(t, d.ImageSchema)
	for settings, ok := range map[string]bool{
		`{}`: true,
		`{"size":"1024x1024","quality":"hd","style":"vivid"}`:                     true,
		`{"size":"1536x1024","quality":"high","style":"watercolour, soft light"}`: true,
		`{"size":"auto","quality":"auto"}`:                                        true,
		`{"size":"1000x1000"}`:                                                    false,
		`{"size":1024}`:                                                           false,
		`{"quality":"ultra"}`:                                                     false,
		`{"style":3}`:                                                             false,
		`{"style":"` + strings.Repeat("a", maxStyleChars+1) + `"}`:                false,
		`{"sise":"1024x1024"}`:                                                    false, // a typo is refused, not ignored
	} {
		if err := valid(settings); (err == nil) != ok {
			t.Errorf("%.80s: valid=%v, want %v (%v)", settings, err == nil, ok, err)
		}
		// The plugin itself agrees with its schema.
		if _, err := parseSettings(json.RawMessage(settings)); (err == nil) != ok {
			t.Errorf("%.80s: the plugin says valid=%v, its schema %v (%v)", settings, err == nil, ok, err)
		}
	}
}

// An OpenRouter image model: the prompt goes out as a user message with
// modalities image and text; the PNG in the data URL comes back byte for
// byte, with its type and size, the model's text beside it, and usage in
// tokens plus the image counted.
func TestChatImage(t *testing.T) {
	h, api := setup(t, apiChat, plugintest.Options{})
	g, e := generate(t, h, abi.ImageRequest{Prompt: "a sleepy tabby cat on a windowsill", Size: "1536x1024",
		Settings: json.RawMessage(`{"style":"watercolour","quality":"high"}`)})
	if e != nil {
		t.Fatalf("generate_image: %v", e)
	}
	if len(g.Images) != 1 || !bytes.Equal(g.Bytes[0], testPNG) {
		t.Fatalf("got %d images, want the server's PNG unchanged", len(g.Images))
	}
	if im := g.Images[0]; im.MimeType != "image/png" || im.Width != 320 || im.Height != 200 {
		t.Errorf("image = %+v, want image/png 320x200", im)
	}
	if g.Text != "Here is your cat!" {
		t.Errorf("text = %q", g.Text)
	}
	want := abi.Usage{Kind: abi.UsageImage, Model: defaultChatModel, InputTokens: 12, OutputTokens: 1290, Images: 1}
	if g.ImageResponse.Usage != want || len(g.Usage) != 1 || g.Usage[0].Usage != want {
		t.Errorf("usage = %+v, recorded %+v, want %+v once", g.ImageResponse.Usage, g.Usage, want)
	}

	got := api.Last(t)
	if got.Method != "POST" || got.Path != "/api/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer "+keyGood ||
		got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request: %s %s auth %q type %q", got.Method, got.Path, got.Header.Get("Authorization"), got.Header.Get("Content-Type"))
	}
	wantBody := map[string]any{
		"model":        defaultChatModel,
		"messages":     []any{map[string]any{"role": "user", "content": "a sleepy tabby cat on a windowsill\n\nStyle: watercolour"}},
		"modalities":   []any{"image", "text"},
		"image_config": map[string]any{"aspect_ratio": "3:2"},
		"stream":       false,
	}
	if fmt.Sprint(got.Body) != fmt.Sprint(wantBody) {
		t.Fatalf("body = %v\nwant %v", got.Body, wantBody)
	}
	for _, l := range h.Logs() {
		if strings.Contains(fmt.Sprint(l), keyGood) {
			t.Fatalf("the key leaked into a log entry: %+v", l)
		}
	}
}

// Two images of different types in one answer both arrive intact, each
// with its own type, and the count is billed.
func TestChatPNGAndJPEG(t *testing.T) {
	h, _ := setup(t, apiChat, plugintest.Options{})
	g, e := generate(t, h, abi.ImageRequest{Prompt: "two cats", Model: "two"})
	if e != nil {
		t.Fatal(e)
	}
	if len(g.Images) != 2 || !bytes.Equal(g.Bytes[0], testPNG) || !bytes.Equal(g.Bytes[1], testJPEG) {
		t.Fatalf("got %d images, want the PNG and the JPEG unchanged", len(g.Images))
	}
	if g.Images[0].MimeType != "image/png" || g.Images[1].MimeType != "image/jpeg" || g.Images[1].Width != 256 {
		t.Fatalf("images = %+v", g.Images)
	}
	if g.ImageResponse.Usage.Images != 2 || g.ImageResponse.Usage.Model != "two" {
		t.Fatalf("usage = %+v", g.ImageResponse.Usage)
	}
}

func TestChatErrors(t *testing.T) {
	h, _ := setup(t, apiChat, plugintest.Options{})
	for _, tc := range []struct {
		model  string
		want   plugintest.WantError
		billed bool // the provider answered 200 and billed tokens
	}{
		{"busy", plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "wait 7 s"}, false},
		{"broke", plugintest.WantError{Code: abi.ErrNoCredit, HTTPStatus: 402, Message: "Insufficient credits"}, false},
		{"down", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 502, Message: "Provider returned error"}, false},
		{"flagged", plugintest.WantError{Code: abi.ErrContent, HTTPStatus: 403, Message: "Your input was flagged"}, false},
		{"upstream", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "temporarily unavailable"}, false},
		{"html", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "not a chat completion: <html>"}, false},
		// A 200 without an image: the model's words, and it is still billed.
		{"textonly", plugintest.WantError{Code: abi.ErrUnavailable, Message: "textonly answered without an image: I'd rather describe it"}, true},
		{"blocked", plugintest.WantError{Code: abi.ErrContent, Message: "refused to make this image (IMAGE_SAFETY)"}, true},
		{"notbase64", plugintest.WantError{Code: abi.ErrUnavailable, Message: "sent the image as a data URL that is not base64 data"}, true},
		{"badbase64", plugintest.WantError{Code: abi.ErrUnavailable, Message: "not base64 data"}, true},
		{"notimage", plugintest.WantError{Code: abi.ErrUnavailable, Message: "25 bytes that are not a PNG, JPEG, GIF or WebP image"}, true},
	} {
		t.Run(tc.model, func(t *testing.T) {
			g, e := generate(t, h, abi.ImageRequest{Prompt: "a cat", Model: tc.model})
			plugintest.CheckError(t, e, tc.want)
			if billed := len(g.Usage) == 1 && g.Usage[0].OutputTokens == 1290; billed != tc.billed {
				t.Errorf("usage recorded = %+v, want billed %v", g.Usage, tc.billed)
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		bad, _ := setup(t, apiChat, plugintest.Options{Key: keyBad})
		_, e := generate(t, bad, abi.ImageRequest{Prompt: "a cat"})
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 401})
	})
}

// OpenAI's images API: each model gets the fields it takes, the safe
// moderation level unless the channel allows adult content, and the
// images come back intact with the revised prompt.
func TestImagesAPI(t *testing.T) {
	h, api := setup(t, apiImages, plugintest.Options{Config: map[string]string{"default_size": "1024x1536"}})

	t.Run("gpt-image-1", func(t *testing.T) {
		g, e := generate(t, h, abi.ImageRequest{Prompt: "a lighthouse", Count: 2, Style: "oil painting",
			Settings: json.RawMessage(`{"quality":"hd"}`)})
		if e != nil {
			t.Fatal(e)
		}
		if len(g.Images) != 2 || !bytes.Equal(g.Bytes[0], testPNG) || !bytes.Equal(g.Bytes[1], testPNG) || g.Images[1].MimeType != "image/png" {
			t.Fatalf("got %d images, want two PNGs unchanged", len(g.Images))
		}
		want := abi.Usage{Kind: abi.UsageImage, Model: "gpt-image-1", InputTokens: 50, OutputTokens: 4160, Images: 2}
		if g.ImageResponse.Usage != want || len(g.Usage) != 1 || g.Usage[0].Usage != want {
			t.Fatalf("usage = %+v, recorded %+v", g.ImageResponse.Usage, g.Usage)
		}
		got := api.Last(t)
		wantBody := map[string]any{"model": "gpt-image-1", "prompt": "a lighthouse\n\nStyle: oil painting", "n": 2.0,
			"size": "1024x1536", "quality": "high", "moderation": "auto"}
		if got.Path != "/v1/images/generations" || fmt.Sprint(got.Body) != fmt.Sprint(wantBody) {
			t.Fatalf("%s body = %v\nwant %v", got.Path, got.Body, wantBody)
		}
		// In an age-restricted channel the moderation is OpenAI's lower one.
		if _, e := generate(t, h, abi.ImageRequest{Prompt: "a lighthouse", NSFWAllowed: true}); e != nil {
			t.Fatal(e)
		}
		if m := api.Last(t).Body["moderation"]; m != "low" {
			t.Fatalf("moderation with nsfw allowed = %v, want low", m)
		}
	})
	t.Run("dall-e-3", func(t *testing.T) {
		g, e := generate(t, h, abi.ImageRequest{Prompt: "a lighthouse", Model: "dall-e-3", Size: "1792x1024", Count: 3,
			Settings: json.RawMessage(`{"quality":"high","style":"Vivid"}`)})
		if e != nil {
			t.Fatal(e)
		}
		if len(g.Images) != 1 || !bytes.Equal(g.Bytes[0], testPNG) || !strings.HasPrefix(g.Images[0].RevisedPrompt, "A fluffy ginger cat") {
			t.Fatalf("images = %+v", g.Images)
		}
		wantBody := map[string]any{"model": "dall-e-3", "prompt": "a lighthouse", "n": 1.0, "size": "1792x1024",
			"response_format": "b64_json", "quality": "hd", "style": "vivid"}
		if got := api.Last(t).Body; fmt.Sprint(got) != fmt.Sprint(wantBody) {
			t.Fatalf("body = %v\nwant %v", got, wantBody)
		}
	})
	t.Run("dall-e-2", func(t *testing.T) {
		// dall-e-2 takes neither quality nor the config's portrait size.
		if _, e := generate(t, h, abi.ImageRequest{Prompt: "a lighthouse", Model: "dall-e-2", Settings: json.RawMessage(`{"quality":"standard"}`)}); e != nil {
			t.Fatal(e)
		}
		wantBody := map[string]any{"model": "dall-e-2", "prompt": "a lighthouse", "n": 1.0, "response_format": "b64_json"}
		if got := api.Last(t).Body; fmt.Sprint(got) != fmt.Sprint(wantBody) {
			t.Fatalf("body = %v\nwant %v", got, wantBody)
		}
	})
	t.Run("local server answering JPEG", func(t *testing.T) {
		g, e := generate(t, h, abi.ImageRequest{Prompt: "a lighthouse", Model: "jpeg-server"})
		if e != nil {
			t.Fatal(e)
		}
		if len(g.Images) != 1 || !bytes.Equal(g.Bytes[0], testJPEG) || g.Images[0].MimeType != "image/jpeg" || g.Images[0].Height != 256 {
			t.Fatalf("images = %+v", g.Images)
		}
	})
}

func TestImagesErrors(t *testing.T) {
	h, _ := setup(t, apiImages, plugintest.Options{})
	for _, tc := range []struct {
		model, prompt string
		want          plugintest.WantError
	}{
		{"gpt-image-1", "something forbidden", plugintest.WantError{Code: abi.ErrContent, HTTPStatus: 400, Message: "rejected as a result of our safety system"}},
		{"busy", "a cat", plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "wait 7 s"}},
		{"broke", "a cat", plugintest.WantError{Code: abi.ErrNoCredit, HTTPStatus: 429, Message: "quota"}},
		{"down", "a cat", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 500}},
		{"empty", "a cat", plugintest.WantError{Code: abi.ErrUnavailable, Message: "empty answered without an image"}},
		{"link", "a cat", plugintest.WantError{Code: abi.ErrUnavailable, Message: "a link to the image instead of its data"}},
		{"garbage", "a cat", plugintest.WantError{Code: abi.ErrUnavailable, Message: "not base64 data"}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			_, e := generate(t, h, abi.ImageRequest{Prompt: tc.prompt, Model: tc.model})
			plugintest.CheckError(t, e, tc.want)
		})
	}
	t.Run("bad key", func(t *testing.T) {
		bad, _ := setup(t, apiImages, plugintest.Options{Key: keyBad})
		_, e := generate(t, bad, abi.ImageRequest{Prompt: "a cat"})
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 401, Message: "Incorrect API key"})
		if strings.Contains(e.Message, keyBad) {
			t.Fatalf("the key is in the error: %s", e.Message)
		}
	})
}

// A request the plugin can tell is wrong is refused in words before
// anything is sent or spent.
func TestBadRequestsSendNothing(t *testing.T) {
	h, api := setup(t, apiImages, plugintest.Options{})
	for _, tc := range []struct {
		req  abi.ImageRequest
		want string
	}{
		{abi.ImageRequest{Prompt: "  "}, "there is no prompt"},
		{abi.ImageRequest{Prompt: "a cat", Count: 9}, "9 images were asked for"},
		{abi.ImageRequest{Prompt: "a cat", Size: "800x600"}, `size "800x600" is not one of`},
		{abi.ImageRequest{Prompt: "a cat", Settings: json.RawMessage(`{"colour":"red"}`)}, `unknown field "colour"`},
		{abi.ImageRequest{Prompt: strings.Repeat("cat ", maxPromptChars/4+1)}, "characters long"},
	} {
		_, e := generate(t, h, tc.req)
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: tc.want})
	}
	if n := api.Count(); n != 0 {
		t.Fatalf("the provider got %d requests for refused input", n)
	}
}

func TestValidateKey(t *testing.T) {
	for _, mode := range []string{apiChat, apiImages} {
		t.Run(mode, func(t *testing.T) {
			h, api := setup(t, mode, plugintest.Options{})
			if r, e := h.ValidateKey(); e != nil || r.Status != abi.KeyValid {
				t.Fatalf("good key: %+v %v", r, e)
			}
			want := map[string]string{apiChat: "/api/v1/auth/key", apiImages: "/v1/models"}[mode]
			if p := api.Last(t).Path; p != want {
				t.Fatalf("checked %s, want %s", p, want)
			}
			bad, _ := setup(t, mode, plugintest.Options{Key: keyBad})
			if r, e := bad.ValidateKey(); e != nil || r.Status != abi.KeyInvalid || strings.Contains(r.Message, keyBad) {
				t.Fatalf("bad key: %+v %v", r, e)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	get := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	s, err := newSettings(get(map[string]string{}))
	if err != nil || s.API != apiChat || s.BaseURL != defaultChatBaseURL || s.Model != defaultChatModel || !s.UseAuth {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = newSettings(get(map[string]string{"api": "images", "base_url": "https://api.openai.com/v1/"}))
	if err != nil || s.BaseURL != "https://api.openai.com" || s.Model != defaultImagesModel {
		t.Fatalf("images: %+v %v (a /v1 base_url must not give /v1/v1)", s, err)
	}
	s, err = newSettings(get(map[string]string{"api": "images", "base_url": "http://127.0.0.1:8080"}))
	if err != nil || s.UseAuth {
		t.Fatalf("a local server takes no key: %+v %v", s, err)
	}
	for cfg, want := range map[string]string{
		`{"api":"dalle"}`:           `api "dalle" is not one of chat, images`,
		`{"base_url":"openrouter"}`: "is not an http(s) URL",
		`{"default_size":"big"}`:    `default_size "big" is not one of`,
		`{"auth":"basic"}`:          `auth "basic" is not one of`,
	} {
		var m map[string]string
		_ = json.Unmarshal([]byte(cfg), &m)
		if _, err := newSettings(get(m)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}
