//go:build !wasip1

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// fakeAPI serves both APIs the plugin speaks, on loopback, as the real
// ones answer where the plugin can tell:
//
//   - OpenRouter (under /api/v1): POST /chat/completions taking
//     modalities ["image","text"] and answering choices[0].message.images
//     as data URLs, usage in tokens; GET /auth/key; and OpenRouter's way
//     of failing (an error object, sometimes inside a 200).
//   - OpenAI images: POST /v1/images/generations taking each model's own
//     fields (gpt-image-1 refuses response_format, dall-e-3 refuses n > 1,
//     sizes per model) and answering {"created","data":[{"b64_json",
//     "revised_prompt"}]}; GET /v1/models; content policy refusals as a
//     400 with code content_policy_violation.
//
// Errors are {"error":{"message","type","code"}} with Retry-After on 429,
// and the Authorization header is checked. The model picks a scenario.
type fakeAPI struct {
	t testing.TB
	plugintest.Recorder
}

const (
	keyGood = "sk-good-0123456789abcdefghij"
	keyBad  = "sk-wrong-0123456789abcdefgh"
)

// testPNG and testJPEG are real images with noisy pixels (so they do not
// compress to nothing): the test checks they come back byte for byte.
var (
	testPNG  = makeImage(320, 200, "png")
	testJPEG = makeImage(256, 256, "jpeg")
)

func makeImage(w, h int, format string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(r.Uint32()), uint8(x), uint8(y), 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		panic(err)
	}
	return b.Bytes()
}

func dataURL(mime string, b []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
}

func apiError(w http.ResponseWriter, status int, msg, typ string, code any) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "7")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if key := strings.TrimPrefix(auth, "Bearer "); !strings.HasPrefix(auth, "Bearer ") || key != keyGood {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			apiError(w, http.StatusUnauthorized, "No auth credentials found", "", 401)
		} else {
			apiError(w, http.StatusUnauthorized, "Incorrect API key provided: "+key+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
		}
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/auth/key":
		f.Record(f.t, r)
		plugintest.WriteJSON(w, map[string]any{"data": map[string]any{"label": "sk-or-v1-abc...", "usage": 0.25, "limit": nil, "is_free_tier": false}})
	case r.Method == "POST" && r.URL.Path == "/api/v1/chat/completions":
		f.chat(w, f.Record(f.t, r).Body)
	case r.Method == "GET" && r.URL.Path == "/v1/models":
		f.Record(f.t, r)
		plugintest.WriteJSON(w, map[string]any{"object": "list", "data": []any{map[string]any{"id": "gpt-image-1", "object": "model"}}})
	case r.Method == "POST" && r.URL.Path == "/v1/images/generations":
		f.images(w, f.Record(f.t, r).Body)
	default:
		apiError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", nil)
	}
}

// chat serves OpenRouter's chat completions for image models.
func (f *fakeAPI) chat(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	msgs, _ := body["messages"].([]any)
	mods := fmt.Sprint(body["modalities"])
	if len(msgs) == 0 {
		apiError(w, http.StatusBadRequest, "Input required: specify \"prompt\" or \"messages\"", "", 400)
		return
	}
	if mods != "[image text]" {
		// Without image output the model only talks.
		plugintest.WriteJSON(w, chatCompletion(model, "I can only describe it: a cat.", nil, "stop", "STOP"))
		return
	}
	switch model {
	case "busy":
		apiError(w, http.StatusTooManyRequests, "Rate limit exceeded: google/gemini-2.5-flash-image", "", 429)
		return
	case "broke":
		apiError(w, http.StatusPaymentRequired, "Insufficient credits. Add more using https://openrouter.ai/settings/credits", "", 402)
		return
	case "down":
		apiError(w, http.StatusBadGateway, "Provider returned error", "", 502)
		return
	case "flagged": // OpenRouter's moderation refusing the prompt
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 403,
			"message":  "google/gemini-2.5-flash-image requires moderation on Google. Your input was flagged for \"sexual\".",
			"metadata": map[string]any{"reasons": []string{"sexual"}, "flagged_input": "a cat", "provider_name": "Google", "model_slug": "google/gemini-2.5-flash-image"}}})
		return
	case "upstream": // an upstream failure reported inside a 200
		plugintest.WriteJSON(w, map[string]any{"id": "gen-1", "object": "chat.completion", "model": model,
			"error": map[string]any{"code": 503, "message": "Google AI Studio is temporarily unavailable"}})
		return
	case "html":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Cloudflare: 200 but not JSON</body></html>"))
		return
	case "textonly":
		plugintest.WriteJSON(w, chatCompletion(model, "I'd rather describe it in words: a sleepy tabby cat.", nil, "stop", "STOP"))
		return
	case "blocked":
		plugintest.WriteJSON(w, chatCompletion(model, "", nil, "stop", "IMAGE_SAFETY"))
		return
	case "notbase64":
		plugintest.WriteJSON(w, chatCompletion(model, "Here it is.", []string{"data:image/png,%89PNG%0D%0A"}, "stop", "STOP"))
		return
	case "badbase64":
		plugintest.WriteJSON(w, chatCompletion(model, "Here it is.", []string{"data:image/png;base64,iVBORw0KGgo!!!notbase64"}, "stop", "STOP"))
		return
	case "notimage":
		plugintest.WriteJSON(w, chatCompletion(model, "Here it is.", []string{dataURL("image/png", []byte("<html>not an image</html>"))}, "stop", "STOP"))
		return
	case "two":
		plugintest.WriteJSON(w, chatCompletion(model, "A cat, twice.", []string{dataURL("image/png", testPNG), dataURL("image/jpeg", testJPEG)}, "stop", "STOP"))
		return
	}
	plugintest.WriteJSON(w, chatCompletion(model, "Here is your cat!", []string{dataURL("image/png", testPNG)}, "stop", "STOP"))
}

// chatCompletion is an OpenRouter chat completion with images.
func chatCompletion(model, text string, urls []string, finish, native string) map[string]any {
	images := []any{}
	for _, u := range urls {
		images = append(images, map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}})
	}
	msg := map[string]any{"role": "assistant", "content": text}
	if len(images) > 0 {
		msg["images"] = images
	}
	return map[string]any{
		"id": "gen-1733100000-abc", "provider": "Google", "model": model, "object": "chat.completion", "created": 1733100000,
		"choices": []any{map[string]any{"index": 0, "logprobs": nil, "finish_reason": finish, "native_finish_reason": native, "message": msg}},
		"usage":   map[string]any{"prompt_tokens": 12, "completion_tokens": 1290, "total_tokens": 1302},
	}
}

// images serves OpenAI's /v1/images/generations.
func (f *fakeAPI) images(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	prompt, _ := body["prompt"].(string)
	size, _ := body["size"].(string)
	n := 1
	if v, ok := body["n"].(float64); ok {
		n = int(v)
	}
	if prompt == "" {
		apiError(w, http.StatusBadRequest, "Missing required parameter: 'prompt'.", "invalid_request_error", "missing_required_parameter")
		return
	}
	if strings.Contains(prompt, "forbidden") {
		apiError(w, http.StatusBadRequest, "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.", "image_generation_user_error", "content_policy_violation")
		return
	}
	allowed := map[string]string{
		"gpt-image-1": "1024x1024 1536x1024 1024x1536 auto",
		"dall-e-3":    "1024x1024 1792x1024 1024x1792",
		"dall-e-2":    "256x256 512x512 1024x1024",
	}[model]
	switch {
	case strings.HasPrefix(model, "gpt-image") && body["response_format"] != nil:
		apiError(w, http.StatusBadRequest, "Unknown parameter: 'response_format'.", "invalid_request_error", "unknown_parameter")
		return
	case model == "dall-e-3" && n != 1:
		apiError(w, http.StatusBadRequest, "You must provide n=1 for this model.", "invalid_request_error", nil)
		return
	case !strings.HasPrefix(model, "gpt-image") && body["moderation"] != nil:
		apiError(w, http.StatusBadRequest, "Unknown parameter: 'moderation'.", "invalid_request_error", "unknown_parameter")
		return
	case size != "" && allowed != "" && !strings.Contains(allowed, size):
		apiError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", size, allowed), "invalid_request_error", "invalid_value")
		return
	case model == "busy":
		apiError(w, http.StatusTooManyRequests, "Rate limit reached for images per minute.", "requests", "rate_limit_exceeded")
		return
	case model == "broke":
		apiError(w, http.StatusTooManyRequests, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")
		return
	case model == "down":
		apiError(w, http.StatusInternalServerError, "The server had an error while processing your request. Sorry about that!", "server_error", nil)
		return
	case model == "empty":
		plugintest.WriteJSON(w, map[string]any{"created": 1733100000, "data": []any{}})
		return
	case model == "link": // response_format url ignored
		plugintest.WriteJSON(w, map[string]any{"created": 1733100000, "data": []any{map[string]any{"url": "https://oaidalleapiprodscus.blob.core.windows.net/private/img.png"}}})
		return
	case model == "garbage":
		plugintest.WriteJSON(w, map[string]any{"created": 1733100000, "data": []any{map[string]any{"b64_json": "%%%not base64%%%"}}})
		return
	case model == "big":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bigAnswer())
		return
	}
	if !strings.HasPrefix(model, "gpt-image") && body["response_format"] != "b64_json" {
		// dall-e answers links unless asked for b64_json.
		plugintest.WriteJSON(w, map[string]any{"created": 1733100000, "data": []any{map[string]any{"url": "https://example.invalid/img.png"}}})
		return
	}
	img := testPNG
	if model == "jpeg-server" { // a local server answering JPEG
		img = testJPEG
	}
	data := []any{}
	for range n {
		d := map[string]any{"b64_json": base64.StdEncoding.EncodeToString(img)}
		if model == "dall-e-3" {
			d["revised_prompt"] = "A fluffy ginger cat sitting on a windowsill at sunset, " + prompt
		}
		data = append(data, d)
	}
	out := map[string]any{"created": 1733100000, "data": data}
	if strings.HasPrefix(model, "gpt-image") {
		out["usage"] = map[string]any{"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210,
			"input_tokens_details": map[string]any{"text_tokens": 50, "image_tokens": 0}}
	}
	plugintest.WriteJSON(w, out)
}

// bigPNG is a large image (about 3 MiB), as gpt-image-1 answers at high
// quality, for the benchmark.
var bigPNG = sync.OnceValue(func() []byte { return makeImage(1024, 1024, "png") })

// bigAnswer is the images answer holding bigPNG, encoded once so the
// benchmark measures the plugin, not the fake.
var bigAnswer = sync.OnceValue(func() []byte {
	b, _ := json.Marshal(map[string]any{"created": 1733100000, "data": []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString(bigPNG())}}})
	return b
})
