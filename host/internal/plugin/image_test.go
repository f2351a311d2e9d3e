package plugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// TestGenerateImage: images come back as checked bytes with their sniffed
// type and size, the settings reach the plugin, and usage is one image row
// per image.
func TestGenerateImage(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	res, usage, err := h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "cat", Model: "img-1", Count: 2, Settings: json.RawMessage(`{"quality":"hd"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].MimeType != "image/png" || len(res.Images[0].Data) != 100 ||
		res.Images[0].Width != 2 || res.Images[0].Height != 1 || res.Images[0].RevisedPrompt != "a cat" || res.Text != `{"quality":"hd"}` {
		t.Errorf("result = %+v", res)
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageImage || usage[0].Images != 2 || usage[0].Model != "img-1" || usage[0].Provider != "toolkey" {
		t.Errorf("usage = %+v", usage)
	}
}

// TestGenerateImageHostile: what a broken or hostile image plugin returns
// is never handed on as an image, and usage survives the error.
func TestGenerateImageHostile(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 64<<10)
	_, usage, err := h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "html"})
	wantCode(t, err, abi.ErrUnavailable, "the image plugin returned something that is not an image")
	if !errors.Is(err, errNotImage) || len(usage) != 1 || usage[0].Images != 1 {
		t.Errorf("err = %v, usage = %+v", err, usage)
	}
	_, _, err = h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "size:70000"})
	wantCode(t, err, abi.ErrDenied, "the image plugin returned a file of 68 KiB, over the 64 KiB limit")
	_, _, err = h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "missing"})
	wantCode(t, err, abi.ErrInternal, "blob 4242, which does not exist")
	_, _, err = h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "huge:52428800"})
	wantCode(t, err, abi.ErrInternal, "larger than its 1048576-byte limit")
	if res, _, err := h.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "size:65536"}); err != nil || len(res.Images[0].Data) != 65536 {
		t.Errorf("an image at the cap: %v", err)
	}
}

// TestGenerateImageRequestChecks: a bad request never reaches the plugin.
func TestGenerateImageRequestChecks(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	cases := []struct {
		req  abi.ImageRequest
		want string
	}{
		{abi.ImageRequest{Prompt: "  "}, "there is no prompt to draw"},
		{abi.ImageRequest{Prompt: "cat", Count: 5}, "at most 4 images can be made at once (5 were asked for)"},
		{abi.ImageRequest{Prompt: "cat", Settings: json.RawMessage(`{"steps":80}`)}, "steps: must be at most 50, but it is 80"},
		{abi.ImageRequest{Prompt: "cat", Settings: json.RawMessage(`{"quality":"ultra"}`)}, `quality: must be one of "standard", "hd", not "ultra"`},
		{abi.ImageRequest{Prompt: "cat", Settings: json.RawMessage(`[1]`)}, "the settings must be a JSON object"},
	}
	for _, c := range cases {
		_, _, err := h.GenerateImage(toolCtx(), "toolkit", c.req)
		wantCode(t, err, abi.ErrBadRequest, c.want)
	}
	var se *ImageSettingsError
	if err := h.ValidateImageSettings("toolkit", json.RawMessage(`{"steps":0}`)); !errors.As(err, &se) || !strings.Contains(err.Error(), "steps: must be at least 1") {
		t.Errorf("ValidateImageSettings = %v", err)
	}
	if st := statusOf(t, h, "toolkit"); st.Calls != 0 {
		t.Errorf("the plugin was called %d times", st.Calls)
	}
	// A plugin not granted image.generate is refused.
	h2 := loadedToolkit(t, `"tool"`, `caps = "tool"`, 0)
	_, _, err := h2.GenerateImage(toolCtx(), "toolkit", abi.ImageRequest{Prompt: "cat"})
	wantCode(t, err, abi.ErrDenied, "does not offer image.generate")
}
