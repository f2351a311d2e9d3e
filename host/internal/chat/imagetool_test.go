package chat_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The real plugins/images, built once, on first use.
var (
	imagesWasmOnce sync.Once
	imagesWasmPath string
	imagesWasmErr  error
)

func imagesWasm(t *testing.T) string {
	t.Helper()
	imagesWasmOnce.Do(func() {
		root, err := plugintest.ModuleRoot()
		if err != nil {
			imagesWasmErr = err
			return
		}
		dir, err := os.MkdirTemp("", "chat-images-wasm")
		if err != nil {
			imagesWasmErr = err
			return
		}
		imagesWasmPath = filepath.Join(dir, "images.wasm")
		imagesWasmErr = plugintest.BuildTo(filepath.Join(root, "plugins", "images"), imagesWasmPath)
	})
	if imagesWasmErr != nil {
		t.Fatal(imagesWasmErr)
	}
	return imagesWasmPath
}

// fakeImagesAPI is OpenAI's POST /v1/images/generations on 127.0.0.1: it
// answers b64_json images, as the real API does, and keeps the prompts.
type fakeImagesAPI struct {
	srv *httptest.Server
	png []byte

	mu      sync.Mutex
	prompts []string
}

func newFakeImagesAPI(t *testing.T) *fakeImagesAPI {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	f := &fakeImagesAPI{png: b.Bytes()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/images/generations" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		var req struct {
			Prompt string `json:"prompt"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		f.mu.Lock()
		f.prompts = append(f.prompts, req.Prompt)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"created": 1764650000,
			"data":    []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString(f.png), "revised_prompt": req.Prompt}},
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

const imagesTOML = `
[plugins.images]
path = "{images}"
key_slot = "openrouter"
capabilities = ["image.generate", "llm.validate_key"]
allowed_hosts = ["{imagehost}"]
allow_private = true
[plugins.images.limits]
call_timeout = "30s"
memory_mib = 192
http_attempts = 1
[plugins.images.config]
api = "images"
base_url = "{imageurl}"
auth = "bearer"
default_model = "gpt-image-1"
`

// imageHarness is the pipeline with the real openai plugin, the real
// plugins/images against the fake images API, and a personality with an
// enabled image config and the generate_image grant, in the database.
func imageHarness(t *testing.T, tune func(*chat.Config)) (*harness, *fakeImagesAPI, int64) {
	t.Helper()
	api := newFakeImagesAPI(t)
	toml := defaultPluginsTOML + strings.NewReplacer("{images}", imagesWasm(t),
		"{imagehost}", strings.TrimPrefix(api.srv.URL, "http://"), "{imageurl}", api.srv.URL).Replace(imagesTOML)
	sg := &storeGrants{}
	var st *store.Store
	h := newHarness(t, harnessOptions{pluginsTOML: toml, config: tune,
		deps: func(d *chat.Deps, host *plugin.Host) {
			d.ToolGrants = sg
			d.Images = imageConfigs{&st}
			d.ImageGen = &chat.PluginImages{Host: host}
		}})
	sg.s, st = h.store, h.store
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	if err := h.store.SetImageConfig(h.ctx, pid, store.ImageConfig{Plugin: "images", Size: "1024x1024", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.GrantTool(h.ctx, pid, chat.ImageToolName); err != nil {
		t.Fatal(err)
	}
	return h, api, pid
}

// imageConfigs reads image configs from the store built with the harness.
type imageConfigs struct{ s **store.Store }

func (c imageConfigs) ImageConfig(ctx context.Context, id int64) (store.ImageConfig, bool, error) {
	return (*c.s).ImageConfig(ctx, id)
}

// TestDrawMeACat: "draw me a cat" -> the model calls generate_image -> the real plugins/images
// draws through the fake images API -> the image is attached to the personality's webhook reply,
// byte for byte, with the model's words; the image is metered as kind image.
func TestDrawMeACat(t *testing.T) {
	t.Parallel()
	h, api, pid := imageHarness(t, nil)
	var offered []string
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) {
			reqs := h.provider.received()
			offered = parseWire(t, reqs[len(reqs)-1]).toolNames()
			answerTools(w, "generate_image", `{"prompt":"a fluffy orange cat"}`)
		},
		func(w http.ResponseWriter, r *http.Request) { answer(w, "Here is your cat!", "") },
	)
	msg := h.send(discordfake.MessageSpec{Content: "@bambi draw me a cat"})
	if len(offered) != 1 || offered[0] != "generate_image" {
		t.Errorf("tools offered = %v, want generate_image", offered)
	}
	api.mu.Lock()
	prompts := append([]string(nil), api.prompts...)
	api.mu.Unlock()
	if len(prompts) != 1 || prompts[0] != "a fluffy orange cat" {
		t.Errorf("image API prompts = %q", prompts)
	}
	posted := h.posted()
	if len(posted) != 1 {
		t.Fatalf("posted %d messages, want 1", len(posted))
	}
	m := posted[0]
	if m.WebhookID == "" || m.Content != "Here is your cat!" || len(m.Files) != 1 || !bytes.Equal(m.Files[0].Data, api.png) || m.Files[0].Name != "image-1.png" {
		t.Fatalf("posted = %q by webhook %q with %d files", m.Content, m.WebhookID, len(m.Files))
	}
	reqID := fmt.Sprintf("%s-%d", msg, pid)
	var images int
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT coalesce(sum(images),0) FROM usage_logs WHERE request_id LIKE $1 AND kind = 'image'`, reqID+"%").Scan(&images); err != nil {
		t.Fatal(err)
	}
	if images != 1 {
		t.Errorf("image usage = %d images, want 1", images)
	}
}

// TestDrawnImageOverTheUploadLimit: an image larger than the server's upload limit is left off
// and the reply says so; the words are still posted.
func TestDrawnImageOverTheUploadLimit(t *testing.T) {
	t.Parallel()
	h, _, _ := imageHarness(t, func(c *chat.Config) { c.UploadLimit = 64 })
	h.provider.then(
		func(w http.ResponseWriter, r *http.Request) { answerTools(w, "generate_image", `{"prompt":"a cat"}`) },
		func(w http.ResponseWriter, r *http.Request) { answer(w, "Here is your cat!", "") },
	)
	h.send(discordfake.MessageSpec{Content: "@bambi draw me a cat"})
	posted := h.posted()
	if len(posted) != 1 || len(posted[0].Files) != 0 || !strings.HasPrefix(posted[0].Content, "Here is your cat!") || !strings.Contains(posted[0].Content, "upload limit") {
		t.Fatalf("posted = %+v, want the words and an upload-limit notice, no file", posted)
	}
}
