package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// elevenlabsWasm builds plugins/elevenlabs once per test binary.
var elevenlabsWasm = sync.OnceValues(func() (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(wasmDir, "elevenlabs.wasm")
	return out, plugintest.BuildTo(filepath.Join(root, "plugins", "elevenlabs"), out)
})

// elevenlabsHost runs the real plugins/elevenlabs in the real host, granted
// as plugins.toml ships it (key in xi-api-key only), against the fake
// ElevenLabs API on loopback. User "u1" has a good key; "broke" has a key
// whose account is out of characters and voice slots.
func elevenlabsHost(t *testing.T) (*Host, *elevenfake.API, *logBuffer) {
	t.Helper()
	wasm, err := elevenlabsWasm()
	if err != nil {
		t.Fatal(err)
	}
	api := elevenfake.New(t)
	s := httptest.NewServer(api)
	t.Cleanup(s.Close)
	keys := &MemoryKeys{}
	keys.Set("u1", "elevenlabs", elevenfake.KeyGood)
	keys.Set("broke", "elevenlabs", elevenfake.KeyBroke)
	h, logs := testHost(t, fmt.Sprintf(`
[runtime]
cache_dir = %q
[plugins.elevenlabs]
path = %q
key_slot = "elevenlabs"
capabilities = ["voice.speak", "voice.clone", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
auth_headers = ["xi-api-key"]
[plugins.elevenlabs.limits]
http_attempts = 1
max_response_bytes = 10485760
[plugins.elevenlabs.config]
base_url = %q
`, testCacheDir, wasm, hostPort(t, s), s.URL), keys)
	return h, api, logs
}

// invokeJSON calls export with in as JSON for user with blobs, and
// decodes the output into out.
func invokeJSON(t *testing.T, h *Host, user string, blobs *Blobs, export string, in, out any) (Result, error) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithCall(context.Background(), Call{UserID: user, Blobs: blobs})
	r, err := h.Invoke(ctx, "elevenlabs", export, raw)
	if err == nil {
		if uerr := json.Unmarshal(r.Output, out); uerr != nil {
			t.Fatalf("%s output %q: %v", export, r.Output, uerr)
		}
	}
	return r, err
}

// TestElevenLabsSpeakInRealHost: a personality's voice config goes through
// the real host to ElevenLabs whole, and the MP3 comes back to the caller
// as a blob of its own store, byte for byte, with characters metered.
func TestElevenLabsSpeakInRealHost(t *testing.T) {
	h, api, logs := elevenlabsHost(t)
	blobs := NewBlobs()
	var out abi.SpeakResponse
	r, err := invokeJSON(t, h, "u1", blobs, abi.SpeakExport, abi.SpeakRequest{
		Text: "I have waited a long time for you.", VoiceID: elevenfake.VoiceRachel,
		Settings: json.RawMessage(`{"stability":0.3,"similarity_boost":0.9,"style":0.4,"speaker_boost":true,"speed":0.9}`),
	}, &out)
	if err != nil {
		t.Fatalf("speak: %v", err)
	}
	got := api.LastRequest()
	if got.Header.Get("xi-api-key") != elevenfake.KeyGood || got.Path != "/v1/text-to-speech/"+elevenfake.VoiceRachel {
		t.Fatalf("request = %s with headers %v", got.Path, got.Header)
	}
	vs, _ := got.Body["voice_settings"].(map[string]any)
	want := map[string]any{"stability": 0.3, "similarity_boost": 0.9, "style": 0.4, "use_speaker_boost": true, "speed": 0.9}
	if got.Body["model_id"] != "eleven_flash_v2_5" || fmt.Sprint(vs) != fmt.Sprint(want) {
		t.Fatalf("request body = %v", got.Body)
	}
	audio, ok := blobs.Get(out.Audio.Blob)
	if !ok || out.Audio.MimeType != "audio/mpeg" || !bytes.Equal(audio, elevenfake.MP3("I have waited a long time for you.")) {
		t.Fatalf("audio = %+v: %d bytes in the caller's store (found %v)", out.Audio, len(audio), ok)
	}
	if len(r.Usage) != 1 || r.Usage[0].Kind != abi.UsageVoice || r.Usage[0].Characters != 34 || r.Usage[0].Model != "eleven_flash_v2_5" {
		t.Fatalf("usage = %+v", r.Usage)
	}
	if strings.Contains(logs.String(), elevenfake.KeyGood) || strings.Contains(string(r.Output), elevenfake.KeyGood) {
		t.Fatal("the key leaked")
	}
}

// TestElevenLabsCloneInRealHost: the samples the caller stored go to
// ElevenLabs as one multipart upload the host builds, every sample its
// own "files" part with its exact bytes, and the new voice id comes back.
func TestElevenLabsCloneInRealHost(t *testing.T) {
	h, api, _ := elevenlabsHost(t)
	blobs := NewBlobs()
	big := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x64, 1, 2, 3, 4}, 256<<10)...) // 2 MiB
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 48000)...)
	samples := []abi.AudioRef{
		{Blob: blobs.Put(big), MimeType: "audio/mpeg", Filename: "take one.mp3"},
		{Blob: blobs.Put(wav), MimeType: "audio/wav"},
		{Blob: blobs.Put(elevenfake.MP3("third")), MimeType: "audio/mpeg"},
	}
	var out abi.CloneVoiceResponse
	if _, err := invokeJSON(t, h, "u1", blobs, abi.CloneVoiceExport, abi.CloneVoiceRequest{
		Name: "Lilith", Description: "Calm and low.", Samples: samples,
	}, &out); err != nil {
		t.Fatalf("clone_voice: %v", err)
	}
	if out.VoiceID != "clonedVoice000000001" {
		t.Fatalf("voice id = %q", out.VoiceID)
	}
	up := api.LastClone()
	if up.Header.Get("xi-api-key") != elevenfake.KeyGood || fmt.Sprint(up.Fields["name"]) != "[Lilith]" ||
		fmt.Sprint(up.Fields["description"]) != "[Calm and low.]" || fmt.Sprint(up.Fields["remove_background_noise"]) != "[false]" {
		t.Fatalf("upload fields = %v, headers %v", up.Fields, up.Header)
	}
	wantFiles := []elevenfake.File{
		{Filename: "take one.mp3", ContentType: "audio/mpeg", Data: big},
		{Filename: "sample-2.wav", ContentType: "audio/wav", Data: wav},
		{Filename: "sample-3.mp3", ContentType: "audio/mpeg", Data: elevenfake.MP3("third")},
	}
	if len(up.Files) != len(wantFiles) {
		t.Fatalf("ElevenLabs got %d files, want %d", len(up.Files), len(wantFiles))
	}
	for i, w := range wantFiles {
		g := up.Files[i]
		if g.Filename != w.Filename || g.ContentType != w.ContentType || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("file %d = %q %q (%d bytes), want %q %q (%d bytes)", i, g.Filename, g.ContentType, len(g.Data), w.Filename, w.ContentType, len(w.Data))
		}
	}

	// An account without room for another voice is told so, and nothing
	// comes back as a voice id.
	_, err := invokeJSON(t, h, "broke", blobs, abi.CloneVoiceExport, abi.CloneVoiceRequest{Name: "Lilith", Samples: samples[:1]}, &out)
	var e *abi.Error
	if !errors.As(err, &e) || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "no room for another voice") {
		t.Fatalf("clone with a full account: %v", err)
	}
}

// TestElevenLabsBrokenAnswersInRealHost: speech that breaks off half way
// or a 200 that is not audio reaches the caller as a retryable
// unavailable error in words, never as a blob.
func TestElevenLabsBrokenAnswersInRealHost(t *testing.T) {
	h, _, _ := elevenlabsHost(t)
	for voice, want := range map[string]string{
		elevenfake.VoiceCutOff: "broke off before it was complete",
		elevenfake.VoiceHTML:   "not audio (text/html",
	} {
		var out abi.SpeakResponse
		_, err := invokeJSON(t, h, "u1", NewBlobs(), abi.SpeakExport, abi.SpeakRequest{Text: "Hello", VoiceID: voice}, &out)
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != abi.ErrUnavailable || !e.Retryable || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %v, want retryable unavailable containing %q", voice, err, want)
		}
	}
}
