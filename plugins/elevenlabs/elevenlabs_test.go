//go:build !wasip1

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// wasmPath is the real plugin, built from this directory once per run.
var wasmPath string

func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, ".", &wasmPath)) }

// setup starts a fake ElevenLabs API and loads the plugin against it.
// extra config values override the defaults.
func setup(t testing.TB, opts plugintest.Options, extra ...string) (*plugintest.Harness, *elevenfake.API) {
	t.Helper()
	api := elevenfake.New(t)
	base, host := plugintest.Loopback(t, api)
	opts.Config = map[string]string{"base_url": base, "default_voice": elevenfake.VoiceDefault}
	for i := 0; i+1 < len(extra); i += 2 {
		opts.Config[extra[i]] = extra[i+1]
	}
	opts.AllowedHosts = []string{host}
	if opts.Key == "" {
		opts.Key = elevenfake.KeyGood
	}
	return plugintest.New(t, wasmPath, opts), api
}

// speak calls the speak export. A trap fails the test; a typed error is
// returned for the test to check.
func speak(t testing.TB, h *plugintest.Harness, req abi.SpeakRequest) (abi.SpeakResponse, plugintest.Result, *abi.Error) {
	t.Helper()
	res := h.Call(abi.SpeakExport, req)
	if res.Trap != nil {
		t.Fatalf("speak trapped: %v\n%s", res.Trap, res.Stderr)
	}
	if res.Err != nil {
		return abi.SpeakResponse{}, res, res.Err
	}
	var out abi.SpeakResponse
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("speak output is not a SpeakResponse: %v\n%s", err, res.Output)
	}
	return out, res, nil
}

// settingsJSON is the settings object the host builds from a voice config.
func settingsJSON(s string) json.RawMessage { return json.RawMessage(s) }

func noKeyIn(t *testing.T, h *plugintest.Harness, res plugintest.Result, keys ...string) {
	t.Helper()
	all := fmt.Sprint(h.Logs(), res.Err, string(res.Output))
	for _, k := range keys {
		if strings.Contains(all, k) || strings.Contains(all, k[:12]) {
			t.Fatalf("a key leaked to what the user or logs see: %s", all)
		}
	}
}

func TestDescribeAndVoiceSchema(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) || !h.HasExport(abi.SpeakExport) || !h.HasExport(abi.CloneVoiceExport) || !h.HasExport(abi.ValidateKeyExport) {
		t.Fatal("missing an export (marker, speak, clone_voice or validate_key)")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "elevenlabs" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "voice.speak,voice.clone,llm.validate_key" || len(d.ParametersSchema) != 0 {
		t.Fatalf("describe = %+v", d)
	}
	// The host checks voice configs against this schema (as it checks
	// advanced_parameters), so a personality cannot save stability 1.2.
	valid := plugintest.ParamsSchema(t, d.VoiceSchema)
	for settings, ok := range map[string]bool{
		`{}`: true,
		`{"stability":0.5,"similarity_boost":0.75,"style":0,"speaker_boost":true}`:         true,
		`{"stability":0,"similarity_boost":1,"style":1,"speaker_boost":false,"speed":0.7}`: true,
		`{"speed":1.2}`:             true,
		`{"stability":1.2}`:         false,
		`{"similarity_boost":-0.1}`: false,
		`{"style":2}`:               false,
		`{"speed":1.5}`:             false,
		`{"speed":0.5}`:             false,
		`{"speaker_boost":"yes"}`:   false,
		`{"stabilty":0.5}`:          false, // a typo is refused, not ignored
		`{"instructions":"sad"}`:    false, // OpenAI's knob, not ElevenLabs'
	} {
		if err := valid(settings); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", settings, err == nil, ok, err)
		}
	}
}

// TestSpeakSendsEveryVoiceSetting is the heart of the plugin: every field
// of the personality's voice config reaches ElevenLabs (the reference
// implementation stored them and never sent them), and the MP3 comes back
// unchanged as a blob.
func TestSpeakSendsEveryVoiceSetting(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	text := "Hello there, traveller. Ça va? 🌙"
	out, res, e := speak(t, h, abi.SpeakRequest{
		Text: text, VoiceID: elevenfake.VoiceRachel, Model: "eleven_multilingual_v2",
		Settings: settingsJSON(`{"stability":0.35,"similarity_boost":0.8,"style":0.25,"speaker_boost":false,"speed":1.1}`),
	})
	if e != nil {
		t.Fatalf("speak: %v", e)
	}
	got := api.LastRequest()
	if got.Method != "POST" || got.Path != "/v1/text-to-speech/"+elevenfake.VoiceRachel || got.Query != "output_format=mp3_44100_128" {
		t.Fatalf("request went to %s %s?%s", got.Method, got.Path, got.Query)
	}
	if got.Header.Get("xi-api-key") != elevenfake.KeyGood || got.Header.Get("Accept") != "audio/mpeg" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", got.Header)
	}
	want := map[string]any{
		"text": text, "model_id": "eleven_multilingual_v2",
		"voice_settings": map[string]any{
			"stability": 0.35, "similarity_boost": 0.8, "style": 0.25, "use_speaker_boost": false, "speed": 1.1,
		},
	}
	if !reflect.DeepEqual(got.Body, want) {
		t.Fatalf("request body = %v\nwant %v", got.Body, want)
	}

	// The audio is the provider's bytes, untouched, in a blob the plugin
	// never read.
	if out.Audio.MimeType != "audio/mpeg" || out.Audio.Blob <= 0 {
		t.Fatalf("audio = %+v", out.Audio)
	}
	if b := res.Blobs[out.Audio.Blob]; !bytes.Equal(b, elevenfake.MP3(text)) {
		t.Fatalf("the blob holds %d bytes, not the %d MP3 bytes ElevenLabs sent", len(b), len(elevenfake.MP3(text)))
	}
	// ElevenLabs bills characters: runes, not bytes (the emoji is one).
	wantUsage := abi.Usage{Kind: abi.UsageVoice, Model: "eleven_multilingual_v2", Characters: int64(len([]rune(text)))}
	if out.Usage != wantUsage || wantUsage.Characters != 32 {
		t.Fatalf("usage = %+v, want %+v", out.Usage, wantUsage)
	}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != wantUsage || u[0].User != plugintest.DefaultUser {
		t.Fatalf("recorded usage = %+v", u)
	}
	noKeyIn(t, h, res, elevenfake.KeyGood)
}

func TestSpeakDefaults(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	// No voice, model or settings: the config's default voice speaks with
	// eleven_flash_v2_5, and ElevenLabs keeps the voice's own settings.
	out, res, e := speak(t, h, abi.SpeakRequest{Text: "  Hi!  "})
	if e != nil {
		t.Fatalf("speak: %v", e)
	}
	got := api.LastRequest()
	want := map[string]any{"text": "Hi!", "model_id": "eleven_flash_v2_5"}
	if got.Path != "/v1/text-to-speech/"+elevenfake.VoiceDefault || !reflect.DeepEqual(got.Body, want) {
		t.Fatalf("request = %s %v, want the default voice and model with no voice_settings", got.Path, got.Body)
	}
	if out.Usage.Model != "eleven_flash_v2_5" || out.Usage.Characters != 3 || !bytes.Equal(res.Blobs[out.Audio.Blob], elevenfake.MP3("Hi!")) {
		t.Fatalf("response = %+v", out)
	}

	// Zero is a setting, not "unset": stability 0 and style 0 are sent.
	if _, _, e := speak(t, h, abi.SpeakRequest{Text: "Hi", Settings: settingsJSON(`{"stability":0,"style":0,"speaker_boost":true}`)}); e != nil {
		t.Fatal(e)
	}
	vs, _ := api.LastRequest().Body["voice_settings"].(map[string]any)
	if !reflect.DeepEqual(vs, map[string]any{"stability": 0.0, "style": 0.0, "use_speaker_boost": true}) {
		t.Fatalf("voice_settings = %v", vs)
	}

	// plugins.toml may change the default model and the MP3 quality.
	h2, api2 := setup(t, plugintest.Options{}, "default_model", "eleven_turbo_v2_5", "output_format", "mp3_22050_32")
	if _, _, e := speak(t, h2, abi.SpeakRequest{Text: "Hi", VoiceID: elevenfake.VoiceRachel}); e != nil {
		t.Fatal(e)
	}
	if got := api2.LastRequest(); got.Body["model_id"] != "eleven_turbo_v2_5" || got.Query != "output_format=mp3_22050_32" {
		t.Fatalf("request = %s %v", got.Query, got.Body)
	}
}

func TestSpeakRefusesBadInputBeforeAnyRequest(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	for _, c := range []struct {
		name string
		req  abi.SpeakRequest
		want string
	}{
		{"stability 1.2", abi.SpeakRequest{Text: "Hi", Settings: settingsJSON(`{"stability":1.2}`)}, "stability: must be between 0 and 1 (it is 1.2)"},
		{"speed 2", abi.SpeakRequest{Text: "Hi", Settings: settingsJSON(`{"speed":2}`)}, "speed: must be between 0.7 and 1.2 (it is 2)"},
		{"unknown setting", abi.SpeakRequest{Text: "Hi", Settings: settingsJSON(`{"instructions":"whisper"}`)}, `no voice setting "instructions"`},
		{"wrong type", abi.SpeakRequest{Text: "Hi", Settings: settingsJSON(`{"speaker_boost":"yes"}`)}, "speaker_boost"},
		{"empty text", abi.SpeakRequest{Text: " \n "}, "no text to speak"},
		{"path in voice id", abi.SpeakRequest{Text: "Hi", VoiceID: "../../v1/voices/x"}, "is not an ElevenLabs voice id"},
		{"not mp3", abi.SpeakRequest{Text: "Hi", Format: "wav"}, `MP3 here, not "wav"`},
	} {
		_, res, e := speak(t, h, c.req)
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: c.want})
		if len(res.Usage) != 0 || len(res.Blobs) != 0 {
			t.Errorf("%s: a refused request recorded %v and made blobs %v", c.name, res.Usage, res.Blobs)
		}
	}
	if n := api.Requests(); n != 0 {
		t.Fatalf("ElevenLabs got %d requests for input the plugin must refuse first", n)
	}

	// Without a default_voice, a personality must name its voice.
	h2, api2 := setup(t, plugintest.Options{}, "default_voice", "")
	_, _, e := speak(t, h2, abi.SpeakRequest{Text: "Hi"})
	plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: "no ElevenLabs voice id is set"})
	if api2.Requests() != 0 {
		t.Fatal("a request went out without a voice")
	}
}

// TestSpeakProviderErrors: each way ElevenLabs (or the network) can fail
// ends in a typed error a user understands, never a blob of something
// that is not speech, and never the key.
func TestSpeakProviderErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		key   string
		voice string
		want  plugintest.WantError
	}{
		{"401", elevenfake.KeyBadOne, elevenfake.VoiceRachel, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 401, Message: "ElevenLabs refused the API key (Invalid API key)"}},
		{"429 with Retry-After", elevenfake.KeyGood, elevenfake.VoiceRateLimit, plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "it asks to wait 7 s"}},
		{"500", elevenfake.KeyGood, elevenfake.VoiceBroken, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 500, Message: "ElevenLabs is having trouble right now"}},
		{"body cut half way", elevenfake.KeyGood, elevenfake.VoiceCutOff, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "broke off before it was complete"}},
		{"non-audio 200", elevenfake.KeyGood, elevenfake.VoiceHTML, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "not audio (text/html; charset=utf-8)"}},
		{"unknown voice id", elevenfake.KeyGood, elevenfake.VoiceUnknown, plugintest.WantError{Code: abi.ErrBadRequest, HTTPStatus: 404, Message: "ElevenLabs does not know the voice id " + elevenfake.VoiceUnknown}},
		{"quota exceeded (sent as 401)", elevenfake.KeyBroke, elevenfake.VoiceRachel, plugintest.WantError{Code: abi.ErrNoCredit, HTTPStatus: 401, Message: "no characters left"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, api := setup(t, plugintest.Options{Key: c.key})
			out, res, e := speak(t, h, abi.SpeakRequest{Text: "Hello", VoiceID: c.voice, Settings: settingsJSON(`{"stability":0.5}`)})
			plugintest.CheckError(t, e, c.want)
			if out.Audio.Blob != 0 || len(res.Usage) != 0 {
				t.Fatalf("a failed speech returned audio %+v or usage %v", out.Audio, res.Usage)
			}
			if api.Requests() != 1 {
				t.Fatalf("ElevenLabs got %d requests, want 1 (the plugin must not retry on its own)", api.Requests())
			}
			noKeyIn(t, h, res, c.key)
		})
	}
}

func TestValidateKey(t *testing.T) {
	for _, c := range []struct {
		key, status, msg string
	}{
		{elevenfake.KeyGood, abi.KeyValid, ""},
		{elevenfake.KeyBadOne, abi.KeyInvalid, "Invalid API key"},
		{elevenfake.KeyBroke, abi.KeyNoCredit, "used all 10000 characters"},
		{elevenfake.KeyScoped, abi.KeyValid, "may not read the account"},
		{elevenfake.KeyFlaky, abi.KeyUnreachable, "ElevenLabs is having trouble"},
	} {
		h, api := setup(t, plugintest.Options{Key: c.key})
		res, e := h.ValidateKey()
		if e != nil || res.Status != c.status || !strings.Contains(res.Message, c.msg) {
			t.Errorf("%s: validate_key = %+v, %v; want %s containing %q", c.key[:9], res, e, c.status, c.msg)
			continue
		}
		if got := api.LastRequest(); got.Method != "GET" || got.Path != "/v1/user/subscription" || got.Header.Get("xi-api-key") != c.key {
			t.Errorf("%s: key check went to %s %s", c.key[:9], got.Method, got.Path)
		}
		if strings.Contains(res.Message, c.key[:12]) {
			t.Errorf("the key leaked into %q", res.Message)
		}
	}
	// No key at all is an error the host words ("set a key first").
	h, _ := setup(t, plugintest.Options{Key: "-"})
	h = h.As("nobody")
	if _, e := h.ValidateKey(); e == nil || e.Code != abi.ErrNoKey {
		t.Fatalf("validate_key without a key = %v, want no_key", e)
	}
}

func TestBadConfigIsNamed(t *testing.T) {
	for k, v := range map[string]string{"output_format": "pcm_16000", "default_voice": "a/b", "base_url": "ftp://x", "remove_background_noise": "maybe"} {
		h, api := setup(t, plugintest.Options{}, k, v)
		_, _, e := speak(t, h, abi.SpeakRequest{Text: "Hi", VoiceID: elevenfake.VoiceRachel})
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrInternal, Message: "plugin config " + k})
		if api.Requests() != 0 {
			t.Fatalf("%s=%s: a request went out with a broken config", k, v)
		}
	}
}
