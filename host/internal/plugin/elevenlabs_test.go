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

// asUser is the context of a call made for user (with a fresh blob store).
func asUser(user string) context.Context {
	return WithCall(context.Background(), Call{UserID: user})
}

// TestElevenLabsSpeakInRealHost: a personality's voice config goes through
// the real host to ElevenLabs whole, and the MP3 comes back to the caller
// byte for byte, with characters metered.
func TestElevenLabsSpeakInRealHost(t *testing.T) {
	h, api, logs := elevenlabsHost(t)
	const text = "I have waited a long time for you."
	resp, audio, usage, err := h.Speak(asUser("u1"), "elevenlabs", abi.SpeakRequest{
		Text: text, VoiceID: elevenfake.VoiceRachel,
		Settings: json.RawMessage(`{"stability":0.3,"similarity_boost":0.9,"style":0.4,"speaker_boost":true,"speed":0.9}`),
	})
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
	if resp.Audio.MimeType != "audio/mpeg" || !bytes.Equal(audio, elevenfake.MP3(text)) {
		t.Fatalf("audio = %+v, %d bytes", resp.Audio, len(audio))
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageVoice || usage[0].Characters != 34 || usage[0].Model != "eleven_flash_v2_5" ||
		usage[0].Plugin != "elevenlabs" || usage[0].Provider != "elevenlabs" {
		t.Fatalf("usage = %+v", usage)
	}
	if strings.Contains(logs.String(), elevenfake.KeyGood) {
		t.Fatal("the key leaked into the log")
	}
}

// TestElevenLabsVoiceSchemaInRealHost: the host holds a voice config to
// the plugin's voice_schema, so stability 1.2 (or a knob ElevenLabs does
// not have) is refused with the field named, before any request.
func TestElevenLabsVoiceSchemaInRealHost(t *testing.T) {
	h, api, _ := elevenlabsHost(t)
	if err := h.ValidateVoiceSettings("elevenlabs", json.RawMessage(`{"stability":0.5,"similarity_boost":0.75,"style":0,"speaker_boost":true,"speed":1.2}`)); err != nil {
		t.Fatalf("a voice config in range was refused: %v", err)
	}
	for settings, want := range map[string]string{
		`{"stability":1.2}`:          "stability",
		`{"speed":0.5}`:              "speed",
		`{"instructions":"whisper"}`: "instructions",
	} {
		_, _, _, err := h.Speak(asUser("u1"), "elevenlabs", abi.SpeakRequest{Text: "Hi", VoiceID: elevenfake.VoiceRachel, Settings: json.RawMessage(settings)})
		var se *SettingsError
		var e *abi.Error
		if !errors.As(err, &se) || !errors.As(err, &e) || e.Code != abi.ErrBadRequest || !strings.Contains(strings.Join(se.Problems, ";"), want) {
			t.Errorf("%s: %v, want a bad_request naming %s", settings, err, want)
		}
	}
	if n := api.Requests(); n != 0 {
		t.Fatalf("ElevenLabs got %d requests for settings the host must refuse first", n)
	}
}

// TestElevenLabsCloneInRealHost: the stored samples go to ElevenLabs as one
// multipart upload the host builds, every sample its own "files" part with
// its exact bytes, and the new voice id comes back.
func TestElevenLabsCloneInRealHost(t *testing.T) {
	h, api, _ := elevenlabsHost(t)
	big := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x64, 1, 2, 3, 4}, 256<<10)...) // 2 MiB
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 48000)...)
	third := elevenfake.MP3("third")
	req := abi.CloneVoiceRequest{Name: "Lilith", Description: "Calm and low.", Samples: []abi.AudioRef{
		{MimeType: "audio/mpeg", Filename: "take one.mp3"}, {MimeType: "audio/wav"}, {MimeType: "audio/mpeg"},
	}}
	out, _, err := h.CloneVoice(asUser("u1"), "elevenlabs", req, [][]byte{big, wav, third})
	if err != nil {
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
		{Filename: "sample-3.mp3", ContentType: "audio/mpeg", Data: third},
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
	out, _, err = h.CloneVoice(asUser("broke"), "elevenlabs", abi.CloneVoiceRequest{Name: "Lilith", Samples: req.Samples[:1]}, [][]byte{third})
	var e *abi.Error
	if !errors.As(err, &e) || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "no room for another voice") || out.VoiceID != "" {
		t.Fatalf("clone with a full account: %+v, %v", out, err)
	}
}

// TestElevenLabsBrokenAnswersInRealHost: speech that breaks off half way,
// a 200 that is not audio (by its Content-Type or by its bytes), or a voice id ElevenLabs does not know reach
// the caller as an error in words, never as audio.
func TestElevenLabsBrokenAnswersInRealHost(t *testing.T) {
	h, _, _ := elevenlabsHost(t)
	for voice, want := range map[string]struct {
		abi.Error
		billed bool
	}{
		elevenfake.VoiceCutOff:  {abi.Error{Code: abi.ErrUnavailable, Retryable: true, Message: "broke off before it was complete"}, false},
		elevenfake.VoiceHTML:    {abi.Error{Code: abi.ErrUnavailable, Retryable: true, Message: "not audio (text/html"}, false},
		elevenfake.VoiceUnknown: {abi.Error{Code: abi.ErrBadRequest, Message: "ElevenLabs does not know the voice id " + elevenfake.VoiceUnknown}, false},
		// Labelled audio/mpeg, so only the host's sniffing of the bytes
		// tells; the plugin saw a 2xx speech, so the characters stay
		// metered, as ElevenLabs bills them.
		elevenfake.VoiceJunk: {abi.Error{Code: abi.ErrUnavailable, Message: "not audio"}, true},
	} {
		_, audio, usage, err := h.Speak(asUser("u1"), "elevenlabs", abi.SpeakRequest{Text: "Hello", VoiceID: voice})
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != want.Code || e.Retryable != want.Retryable || !strings.Contains(e.Message, want.Message) || audio != nil || (len(usage) != 0) != want.billed {
			t.Errorf("%s: %v (audio %d bytes, usage %v), want %+v", voice, err, len(audio), usage, want)
		}
	}
}
