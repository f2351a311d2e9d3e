package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// imageAPIServer is a fake of both APIs plugins/images speaks, as the real
// ones answer: OpenRouter's POST /api/v1/chat/completions with
// modalities ["image","text"] answering data URLs in message.images, and
// OpenAI's POST /v1/images/generations answering b64_json; errors are
// {"error":{…}}. The last body is kept for the test.
type imageAPIServer struct {
	key       string
	png, jpeg []byte

	mu   sync.Mutex
	last map[string]any
}

// noisyImage is a real PNG or JPEG whose pixels do not compress to
// nothing, so "byte for byte" means something.
func noisyImage(t *testing.T, w, h int, format string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * y), uint8(x ^ y), uint8(x + 3*y), 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (s *imageAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": code}})
	}
	if r.Header.Get("Authorization") != "Bearer "+s.key {
		fail(http.StatusUnauthorized, "Incorrect API key provided", "invalid_api_key")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(http.StatusBadRequest, "We could not parse the JSON body of your request.", "")
		return
	}
	s.mu.Lock()
	s.last = body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v1/chat/completions":
		if fmt.Sprint(body["modalities"]) != "[image text]" {
			fail(http.StatusBadRequest, "this test wants image output", "")
			return
		}
		images := []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + base64.StdEncoding.EncodeToString(s.png)}}}
		if body["model"] == "text-model" {
			images = nil
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"model": body["model"], "object": "chat.completion",
			"choices": []any{map[string]any{"finish_reason": "stop", "native_finish_reason": "STOP",
				"message": map[string]any{"role": "assistant", "content": "A cat, as asked.", "images": images}}},
			"usage": map[string]any{"prompt_tokens": 9, "completion_tokens": 1290, "total_tokens": 1299}})
	case "/v1/images/generations":
		if strings.Contains(fmt.Sprint(body["prompt"]), "forbidden") {
			fail(http.StatusBadRequest, "Your request was rejected as a result of our safety system.", "content_policy_violation")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"created": 1733100000,
			"data": []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString(s.jpeg)}}})
	default:
		fail(http.StatusNotFound, "Invalid URL", "")
	}
}

// The real plugins/images under the real host, through Invoke (the
// export generate_image) with the caller's blob store: in both modes the
// image comes back byte for byte in the blob the answer names, usage is
// kind image, billed to the entry's key slot, and a provider's refusal or
// a 200 without an image is a typed error a user can read.
func TestImagesPluginInRealHost(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wasm := plugintest.Build(t, filepath.Join(root, "plugins", "images"))
	const key = "sk-images-0123456789abcdef"
	fake := &imageAPIServer{key: key, png: noisyImage(t, 300, 200, "png"), jpeg: noisyImage(t, 200, 300, "jpeg")}
	s, _ := newServer(t, fake.ServeHTTP)
	keys := &MemoryKeys{}
	keys.Set("u1", "openrouter", key)
	keys.Set("u1", "openai", key)
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.openrouter-images]
path = %[1]q
key_slot = "openrouter"
capabilities = ["image.generate", "llm.validate_key"]
allowed_hosts = [%[2]q]
allow_private = true
[plugins.openrouter-images.limits]
http_attempts = 1
[plugins.openrouter-images.config]
api = "chat"
base_url = "%[3]s/api/v1"
auth = "bearer"

[plugins.openai-images]
path = %[1]q
key_slot = "openai"
capabilities = ["image.generate", "llm.validate_key"]
allowed_hosts = [%[2]q]
allow_private = true
[plugins.openai-images.limits]
http_attempts = 1
[plugins.openai-images.config]
api = "images"
base_url = %[3]q
auth = "bearer"
`, wasm, hostPort(t, s), s.URL), keys)

	// generate runs generate_image and reads the images from the blobs.
	generate := func(t *testing.T, entry string, req abi.ImageRequest) (abi.ImageResponse, [][]byte, []abi.Usage, error) {
		t.Helper()
		blobs := NewBlobs()
		ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "req-img", Blobs: blobs})
		in, _ := json.Marshal(req)
		r, err := h.Invoke(ctx, entry, abi.GenerateImageExport, in)
		if err != nil {
			return abi.ImageResponse{}, nil, r.Usage, err
		}
		var out abi.ImageResponse
		if err := json.Unmarshal(r.Output, &out); err != nil {
			t.Fatalf("output: %v", err)
		}
		var got [][]byte
		for _, im := range out.Images {
			b, ok := blobs.Get(im.Blob)
			if !ok {
				t.Fatalf("the plugin named blob %d, which is not in the call's store", im.Blob)
			}
			got = append(got, b)
		}
		return out, got, r.Usage, nil
	}

	t.Run("openrouter", func(t *testing.T) {
		out, got, usage, err := generate(t, "openrouter-images", abi.ImageRequest{Prompt: "a cat", Size: "1024x1792"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0], fake.png) || out.Images[0].MimeType != "image/png" ||
			out.Images[0].Width != 300 || out.Images[0].Height != 200 || out.Text != "A cat, as asked." {
			t.Fatalf("answer = %+v (%d images)", out, len(got))
		}
		if http.DetectContentType(got[0]) != "image/png" {
			t.Fatalf("the bytes are %s", http.DetectContentType(got[0]))
		}
		if len(usage) != 1 || usage[0].Kind != abi.UsageImage || usage[0].Images != 1 || usage[0].OutputTokens != 1290 ||
			usage[0].Model != "google/gemini-2.5-flash-image" || usage[0].Provider != "openrouter" || usage[0].Plugin != "openrouter-images" {
			t.Fatalf("usage = %+v", usage)
		}
		fake.mu.Lock()
		body := fake.last
		fake.mu.Unlock()
		if fmt.Sprint(body["image_config"]) != "map[aspect_ratio:9:16]" || fmt.Sprint(body["messages"]) != "[map[content:a cat role:user]]" {
			t.Fatalf("body = %v", body)
		}
	})
	t.Run("openai", func(t *testing.T) {
		out, got, usage, err := generate(t, "openai-images", abi.ImageRequest{Prompt: "a cat", Model: "dall-e-3", Style: "natural"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0], fake.jpeg) || out.Images[0].MimeType != "image/jpeg" || out.Images[0].Width != 200 {
			t.Fatalf("answer = %+v (%d images)", out, len(got))
		}
		if len(usage) != 1 || usage[0].Kind != abi.UsageImage || usage[0].Images != 1 || usage[0].Provider != "openai" {
			t.Fatalf("usage = %+v", usage)
		}
		fake.mu.Lock()
		body := fake.last
		fake.mu.Unlock()
		if body["style"] != "natural" || body["response_format"] != "b64_json" || body["n"] != 1.0 {
			t.Fatalf("body = %v", body)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, _, _, err := generate(t, "openai-images", abi.ImageRequest{Prompt: "something forbidden"})
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != abi.ErrContent || !strings.Contains(e.Message, "safety system") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no image", func(t *testing.T) {
		_, _, _, err := generate(t, "openrouter-images", abi.ImageRequest{Prompt: "a cat", Model: "text-model"})
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != abi.ErrUnavailable || !strings.Contains(e.Message, "text-model answered without an image: A cat, as asked.") {
			t.Fatalf("err = %v", err)
		}
	})
}
