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

// setup starts a fake server and loads the plugin against it. local
// configures it as a keyless local server (Speaches, LocalAI).
func setup(t testing.TB, local bool, opts plugintest.Options) (*plugintest.Harness, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{t: t, noAuth: local}
	url, host := plugintest.Loopback(t, api)
	if opts.Config == nil {
		opts.Config = map[string]string{}
	}
	opts.Config["base_url"] = url
	if !local {
		// The fake is plain http on loopback, which the plugin would take
		// for a local server: say it is OpenAI, with a key.
		opts.Config["auth"] = "bearer"
		if opts.Key == "" {
			opts.Key = keyGood
		}
	}
	opts.AllowedHosts = []string{host}
	return plugintest.New(t, wasmPath, opts), api
}

// speak calls the speak export and returns its answer and the audio bytes
// of the blob it names.
func speak(t *testing.T, h *plugintest.Harness, req abi.SpeakRequest) (abi.SpeakResponse, []byte, *abi.Error) {
	t.Helper()
	res := h.Call(abi.SpeakExport, req)
	if res.Trap != nil {
		t.Fatalf("speak trapped: %v\n%s", res.Trap, res.Stderr)
	}
	if res.Err != nil {
		return abi.SpeakResponse{}, nil, res.Err
	}
	var out abi.SpeakResponse
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("speak output: %v: %s", err, res.Output)
	}
	audio, ok := res.Blobs[out.Audio.Blob]
	if !ok {
		t.Fatalf("speak named blob %d, which does not exist (blobs: %d)", out.Audio.Blob, len(res.Blobs))
	}
	return out, audio, nil
}

func TestDescribeAndVoiceSchema(t *testing.T) {
	h, _ := setup(t, false, plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("missing ABI marker export")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "openai-speech" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "voice.speak,voice.transcribe,llm.validate_key" {
		t.Fatalf("describe = %+v", d)
	}
	for _, name := range []string{abi.SpeakExport, abi.TranscribeExport, abi.ValidateKeyExport} {
		if !h.HasExport(name) {
			t.Errorf("missing export %s", name)
		}
	}
	if local, _ := setup(t, true, plugintest.Options{}); local.Describe().NeedsKey {
		t.Fatal("a local speech server must not ask for a key")
	}

	valid := plugintest.ParamsSchema(t, d.VoiceSchema)
	for settings, ok := range map[string]bool{
		// The portable settings every personality has are accepted.
		`{"stability":0.5,"similarity_boost":0.75,"style":0,"speaker_boost":true}`: true,
		`{"stability":0.5,"speed":1.25,"instructions":"Speak like a pirate."}`:     true,
		`{"speed":0.25}`:     true,
		`{"speed":4}`:        true,
		`{}`:                 true,
		`{"speed":5}`:        false,
		`{"speed":0.1}`:      false,
		`{"stability":1.2}`:  false,
		`{"instructions":3}`: false,
		`{"sped":1}`:         false, // a typo is refused, not ignored
		`{"instructions":"` + strings.Repeat("a", maxInstructionsChars+1) + `"}`: false,
		`{"speaker_boost":"yes"}`: false,
		`{"stability":0.1,"similarity_boost":0.2,"style":0.3,"speaker_boost":false,"speed":2.5}`: true,
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

func TestSpeak(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{})
	text := "Hello, I am Lilith. Ça va?"
	out, audio, e := speak(t, h, abi.SpeakRequest{
		Text:     text,
		VoiceID:  "nova",
		Settings: json.RawMessage(`{"stability":0.4,"similarity_boost":0.8,"style":0.1,"speaker_boost":true,"speed":1.5,"instructions":"Whisper mysteriously."}`),
	})
	if e != nil {
		t.Fatalf("speak: %v", e)
	}
	// The audio the server sent reaches the caller byte for byte.
	if want := speechAudio(text); !bytes.Equal(audio, want) {
		t.Fatalf("audio: got %d bytes, want the server's %d bytes unchanged", len(audio), len(want))
	}
	if out.Audio.MimeType != "audio/mpeg" {
		t.Errorf("mime type = %q, want audio/mpeg", out.Audio.MimeType)
	}
	want := abi.Usage{Kind: abi.UsageVoice, Model: "gpt-4o-mini-tts", Characters: int64(len([]rune(text)))}
	if out.Usage != want {
		t.Errorf("usage = %+v, want %+v (characters, not bytes)", out.Usage, want)
	}

	got := api.Last(t)
	if got.Path != "/v1/audio/speech" || got.Method != "POST" || got.Header.Get("Authorization") != "Bearer "+keyGood ||
		got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request: %s %s auth %q type %q", got.Method, got.Path, got.Header.Get("Authorization"), got.Header.Get("Content-Type"))
	}
	wantBody := map[string]any{"model": "gpt-4o-mini-tts", "input": text, "voice": "nova", "response_format": "mp3",
		"speed": 1.5, "instructions": "Whisper mysteriously."}
	if fmt.Sprint(got.Body) != fmt.Sprint(wantBody) {
		t.Fatalf("body = %v\nwant %v (the portable settings are not OpenAI fields and must not be sent)", got.Body, wantBody)
	}
	for _, l := range h.Logs() {
		if strings.Contains(fmt.Sprint(l), keyGood) {
			t.Fatalf("the key leaked into a log entry: %+v", l)
		}
	}
}

func TestSpeakDefaultsAndFormats(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{Config: map[string]string{"default_model": "tts-1", "default_voice": "shimmer"}})
	// The plugin's defaults fill what the personality leaves empty; tts-1
	// takes no instructions, so they are left out rather than refused.
	if _, _, e := speak(t, h, abi.SpeakRequest{Text: "Hi", Settings: json.RawMessage(`{"instructions":"Be calm."}`)}); e != nil {
		t.Fatal(e)
	}
	b := api.Last(t).Body
	if b["model"] != "tts-1" || b["voice"] != "shimmer" || b["response_format"] != "mp3" || b["instructions"] != nil || b["speed"] != nil {
		t.Fatalf("body = %v", b)
	}
	for format, mime := range map[string]string{"opus": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac", "pcm": "audio/pcm"} {
		out, audio, e := speak(t, h, abi.SpeakRequest{Text: "Hi " + format, VoiceID: "echo", Model: "gpt-4o-mini-tts", Format: format})
		if e != nil {
			t.Fatalf("%s: %v", format, e)
		}
		if b := api.Last(t).Body; b["response_format"] != format || b["model"] != "gpt-4o-mini-tts" {
			t.Errorf("%s: body = %v", format, b)
		}
		if out.Audio.MimeType != mime || !bytes.Equal(audio, speechAudio("Hi "+format)) {
			t.Errorf("%s: mime %q (want %s), %d bytes", format, out.Audio.MimeType, mime, len(audio))
		}
	}
}

// A local server (Speaches, LocalAI) gets no key and the same requests.
func TestSpeakLocalServer(t *testing.T) {
	h, api := setup(t, true, plugintest.Options{Config: map[string]string{"default_model": "speaches-ai/Kokoro-82M-v1.0-ONNX", "default_voice": "alloy"}})
	out, audio, e := speak(t, h, abi.SpeakRequest{Text: "Local voice"})
	if e != nil {
		t.Fatal(e)
	}
	if !bytes.Equal(audio, speechAudio("Local voice")) || out.Usage.Model != "speaches-ai/Kokoro-82M-v1.0-ONNX" {
		t.Fatalf("out = %+v, %d bytes", out, len(audio))
	}
	if got := api.Last(t); got.Header.Get("Authorization") != "" || got.Path != "/v1/audio/speech" {
		t.Fatalf("request %s with auth %q", got.Path, got.Header.Get("Authorization"))
	}
}

func TestSpeakRefusedBeforeARequest(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{})
	for _, c := range []struct {
		name string
		req  abi.SpeakRequest
		msg  string
	}{
		{"speed 5", abi.SpeakRequest{Text: "Hi", Settings: json.RawMessage(`{"speed":5}`)}, "speed: must be between 0.25 and 4 (it is 5)"},
		{"stability 1.2", abi.SpeakRequest{Text: "Hi", Settings: json.RawMessage(`{"stability":1.2}`)}, "stability: must be between 0 and 1 (it is 1.2)"},
		{"unknown setting", abi.SpeakRequest{Text: "Hi", Settings: json.RawMessage(`{"pitch":2}`)}, `unknown field "pitch"`},
		{"unknown format", abi.SpeakRequest{Text: "Hi", Format: "ogg"}, `format "ogg" is not one of mp3, opus, aac, flac, wav, pcm`},
		{"no text", abi.SpeakRequest{Text: "  "}, "there is no text to speak"},
		{"too long", abi.SpeakRequest{Text: strings.Repeat("é", maxInputChars+1)}, "the text is 4097 characters long; the speech API takes at most 4096"},
	} {
		_, _, e := speak(t, h, c.req)
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: c.msg})
	}
	if n := api.Count(); n != 0 {
		t.Fatalf("%d requests reached the server; bad input must be refused before any is sent", n)
	}
}

func TestSpeakProviderErrors(t *testing.T) {
	h, _ := setup(t, false, plugintest.Options{})
	for _, c := range []struct {
		voice string
		want  plugintest.WantError
	}{
		{"busy", plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "Rate limit reached for gpt-4o-mini-tts in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1. (the provider asks to wait 7 s before trying again)"}},
		{"broke", plugintest.WantError{Code: abi.ErrNoCredit, HTTPStatus: 429, Message: "You exceeded your current quota"}},
		{"down", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 500, Message: "The server had an error while processing your request."}},
		{"robot", plugintest.WantError{Code: abi.ErrBadRequest, HTTPStatus: 400, Message: "Invalid value: 'robot'. Supported values are: 'alloy'"}},
		{"html", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 200, Message: "the speech server answered with text/html; charset=utf-8 instead of audio: <html><body><h1>Welcome to nginx!</h1>"}},
		{"cut", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "the audio did not arrive whole from the speech server"}},
	} {
		t.Run(c.voice, func(t *testing.T) {
			_, _, e := speak(t, h, abi.SpeakRequest{Text: "Hello", VoiceID: c.voice})
			plugintest.CheckError(t, e, c.want)
		})
	}

	t.Run("invalid key", func(t *testing.T) {
		bad, _ := setup(t, false, plugintest.Options{Key: keyBad})
		_, _, e := speak(t, bad, abi.SpeakRequest{Text: "Hello"})
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 401, Message: "Incorrect API key provided: sk-wron…"})
		if strings.Contains(e.Message, keyBad) {
			t.Fatalf("the key reached the error message: %q", e.Message)
		}
	})
}

func TestValidateKey(t *testing.T) {
	h, api := setup(t, false, plugintest.Options{})
	r, e := h.ValidateKey()
	if e != nil || r.Status != abi.KeyValid {
		t.Fatalf("good key: %+v %v", r, e)
	}
	if got := api.Last(t); got.Method != "GET" || got.Path != "/v1/models" || got.Header.Get("Authorization") != "Bearer "+keyGood {
		t.Fatalf("key check: %s %s auth %q", got.Method, got.Path, got.Header.Get("Authorization"))
	}
	bad, _ := setup(t, false, plugintest.Options{Key: keyBad})
	if r, e := bad.ValidateKey(); e != nil || r.Status != abi.KeyInvalid || !strings.Contains(r.Message, "Incorrect API key") {
		t.Fatalf("bad key: %+v %v", r, e)
	}
	// 429 (the key works), 500 and a dead server (the check could not be
	// made), through a server that answers only that.
	for status, want := range map[int]string{429: abi.KeyValid, 500: abi.KeyUnreachable, 503: abi.KeyUnreachable} {
		status := status
		url, host := plugintest.Loopback(t, statusServer(status))
		sh := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, AllowedHosts: []string{host},
			Config: map[string]string{"base_url": url, "auth": "bearer"}})
		if r, e := sh.ValidateKey(); e != nil || r.Status != want {
			t.Errorf("HTTP %d: %+v %v, want %s", status, r, e, want)
		}
	}
	gone := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, Config: map[string]string{"base_url": "http://127.0.0.1:1", "auth": "bearer"}})
	if r, e := gone.ValidateKey(); e != nil || r.Status != abi.KeyUnreachable {
		t.Fatalf("no server: %+v %v", r, e)
	}
}
