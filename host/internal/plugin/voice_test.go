package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

const voiceKey = "sk-voice-secret-0123456789abcdef"

// voiceHost starts a host with the voice test plugin as entry "voice"
// (key slot elevenlabs, allowed the given loopback host), speech capped
// at 64 KiB, and user u1 holding voiceKey.
func voiceHost(t testing.TB, allowed, config string) (*Host, *logBuffer) {
	t.Helper()
	if allowed == "" {
		allowed = "127.0.0.1:9"
	}
	toml := fmt.Sprintf(`
[plugins.voice]
path = %q
key_slot = "elevenlabs"
raw_key = true
capabilities = ["voice.speak", "voice.clone", "voice.transcribe"]
allowed_hosts = [%q]
allow_private = true
auth_headers = ["Authorization", "xi-api-key"]
[plugins.voice.limits]
pool_size = 1
max_response_bytes = 1048576
[plugins.voice.config]
%s
`, buildExtra(t, "voice"), allowed, config)
	keys := &MemoryKeys{}
	keys.Set("u1", "elevenlabs", voiceKey)
	logs := &logBuffer{}
	h, err := NewHost(context.Background(), Options{
		Config: parseTestConfig(t, toml), Keys: keys, MaxSpeechBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	if st := statusOf(t, h, "voice"); st.State != StateLoaded {
		t.Fatalf("voice plugin %s: %s", st.State, st.Reason)
	}
	return h, logs
}

func voiceCtx() context.Context {
	return WithCall(context.Background(), Call{UserID: "u1", RequestID: "voice-test"})
}

func wantAbiError(t *testing.T, err error, code, words string) {
	t.Helper()
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != code || !strings.Contains(err.Error(), words) {
		t.Fatalf("error = %v, want %s saying %q", err, code, words)
	}
	if strings.Contains(err.Error(), voiceKey) {
		t.Fatalf("error leaks the key: %v", err)
	}
}

// TestSpeakReturnsAudio: the speech comes back as bytes with its type and
// length, the settings reach the plugin as given, and the usage row is
// the response's, kind voice, billed to the key slot.
func TestSpeakReturnsAudio(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	settings := json.RawMessage(`{"stability":0.4,"similarity_boost":0.75,"style":0,"speaker_boost":true,"speed":1.1}`)
	resp, data, usage, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "Hello there", VoiceID: "v1", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := audio.Sniff(data); !ok || m != "audio/mpeg" || len(data) != 1024 {
		t.Fatalf("audio: %d bytes sniffed %q", len(data), m)
	}
	if resp.Audio.MimeType != "audio/mpeg" || resp.Audio.DurationMS != 1500 {
		t.Fatalf("audio ref %+v", resp.Audio)
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageVoice || usage[0].Characters != int64(len("Hello there")) ||
		usage[0].Provider != "elevenlabs" || usage[0].Plugin != "voice" {
		t.Fatalf("usage %+v", usage)
	}
	if usage[0].Model != string(settings) {
		t.Fatalf("the plugin received settings %s, want %s", usage[0].Model, settings)
	}
}

// TestSpeakUsageRules: recorded rows win over the response's usage; an
// invalid response usage is not billed but the speech stands.
func TestSpeakUsageRules(t *testing.T) {
	h, logs := voiceHost(t, "", "")
	_, _, usage, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "record"})
	if err != nil || len(usage) != 1 || usage[0].Model != "recorded" || usage[0].Characters != 6 {
		t.Fatalf("recorded row: %+v, %v", usage, err)
	}
	_, data, usage, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "bad-usage"})
	if err != nil || len(data) == 0 || len(usage) != 0 {
		t.Fatalf("negative characters: %d bytes, usage %+v, %v", len(data), usage, err)
	}
	if !strings.Contains(logs.String(), "characters = -5") {
		t.Errorf("the rejected usage was not logged: %s", logs.String())
	}
}

// TestSpeakHostileAudio: what a broken or hostile voice plugin returns is
// never handed on as a voice message.
func TestSpeakHostileAudio(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	for _, c := range []struct {
		text, code, words string
	}{
		{"missing", abi.ErrInternal, "named audio blob 4242, which does not exist"},
		{"empty", abi.ErrUnavailable, "returned empty audio"},
		{"html", abi.ErrUnavailable, "the voice plugin returned something that is not audio"},
		{"mime", abi.ErrInternal, `"text/plain", not an audio/* MIME type`},
		{"size:100000", abi.ErrDenied, "the speech is 97 KiB, over the 64 KiB limit"},
	} {
		t.Run(c.text, func(t *testing.T) {
			_, data, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: c.text})
			wantAbiError(t, err, c.code, c.words)
			if data != nil {
				t.Fatalf("%d bytes of audio came back with the error", len(data))
			}
		})
	}
	// The bytes, not the plugin's word, decide the type.
	resp, _, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "ogg-as-mpeg"})
	if err != nil || resp.Audio.MimeType != "audio/ogg" {
		t.Fatalf("Ogg declared as MPEG: %q, %v", resp.Audio.MimeType, err)
	}
	// At the cap is fine.
	if _, data, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "size:65536"}); err != nil || len(data) != 65536 {
		t.Fatalf("64 KiB of speech: %d bytes, %v", len(data), err)
	}
	if _, _, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "  "}); err == nil {
		t.Fatal("blank text was spoken")
	}
}

// TestSpeakProviderBody: a plugin that keeps the provider's body host-side
// (response_blob) hands over real audio untouched; a provider answering
// 200 with an HTML page gets the user a clear error instead of a broken
// voice message.
func TestSpeakProviderBody(t *testing.T) {
	speech := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x64}, 4000)...)
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+voiceKey {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/broken" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>upstream error</body></html>")
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(speech)
	})
	h, _ := voiceHost(t, hostPort(t, s), "")
	_, data, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "fetch:" + s.URL + "/speech"})
	if err != nil || !bytes.Equal(data, speech) {
		t.Fatalf("provider audio: %d bytes, %v", len(data), err)
	}
	_, _, _, err = h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "fetch:" + s.URL + "/broken"})
	wantAbiError(t, err, abi.ErrUnavailable, "not audio (it starts with \"<html><body>upst\")")
}

// TestSpeakSettingsCheckedFirst: a voice config the plugin's voice_schema
// refuses never reaches the plugin, and the error names the field.
func TestSpeakSettingsCheckedFirst(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	before := statusOf(t, h, "voice").Calls
	_, _, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "hi", Settings: json.RawMessage(`{"stability":1.2}`)})
	var se *SettingsError
	if !errors.As(err, &se) || len(se.Problems) != 1 || se.Problems[0] != "stability: must be at most 1 (it is 1.2)" {
		t.Fatalf("stability 1.2: %v", err)
	}
	wantAbiError(t, err, abi.ErrBadRequest, "stability: must be at most 1 (it is 1.2)")
	if after := statusOf(t, h, "voice").Calls; after != before {
		t.Fatalf("the plugin was called %d times with refused settings", after-before)
	}
}

func TestValidateVoiceSettings(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	for _, ok := range []string{``, `null`, `{}`, `{"stability":0,"similarity_boost":1,"style":0.5,"speaker_boost":false,"speed":0.7}`} {
		if err := h.ValidateVoiceSettings("voice", json.RawMessage(ok)); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for settings, want := range map[string]string{
		`{"stability":1.2}`:                    "stability: must be at most 1 (it is 1.2)",
		`{"similarity_boost":-0.1}`:            "similarity_boost: must be at least 0 (it is -0.1)",
		`{"speaker_boost":"yes"}`:              "speaker_boost: must be boolean (it is string)",
		`{"stabilty":0.5}`:                     "stabilty is not a setting this plugin takes",
		`[0.5]`:                                "must be a JSON object",
		`{"stability":`:                        "not valid JSON",
		`{"speed":3,"style":2,"stability":-1}`: "speed: must be at most 1.2 (it is 3)",
	} {
		err := h.ValidateVoiceSettings("voice", json.RawMessage(settings))
		var se *SettingsError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", settings, err, want)
		}
	}
	if err := h.ValidateVoiceSettings("nosuch", json.RawMessage(`{}`)); err == nil {
		t.Error("an unknown plugin validated settings")
	}
}

// TestVoiceSchemaRefusedAtLoad: a voice_schema that does not compile, or
// names a host file, refuses the plugin with a reason naming voice_schema.
func TestVoiceSchemaRefusedAtLoad(t *testing.T) {
	for name, schema := range map[string]string{
		"bad type":      `{"type":12}`,
		"$schema file":  `{"$schema":"file:///etc/passwd","type":"object"}`,
		"ref to a file": `{"$ref":"file:///etc/passwd"}`,
	} {
		t.Run(name, func(t *testing.T) {
			toml := fmt.Sprintf(`
[plugins.voice]
path = %q
key_slot = "elevenlabs"
capabilities = ["voice.speak", "voice.clone", "voice.transcribe"]
allowed_hosts = ["api.example.com:443"]
[plugins.voice.config]
voice_schema = '''%s'''
`, buildExtra(t, "voice"), schema)
			h, _ := testHost(t, toml, nil)
			st := statusOf(t, h, "voice")
			if st.State != StateRefused || !strings.Contains(st.Reason, "voice_schema is not a valid JSON Schema") || strings.Contains(st.Reason, "root:") {
				t.Fatalf("%s: %s", st.State, st.Reason)
			}
		})
	}
}

// TestVoiceCapabilityGrant: a plugin is asked for a voice capability only
// when it requests it and plugins.toml grants it.
func TestVoiceCapabilityGrant(t *testing.T) {
	toml := fmt.Sprintf(`
[plugins.voice]
path = %q
key_slot = "openai"
capabilities = ["voice.transcribe"]
allowed_hosts = ["api.example.com:443"]
[plugins.voice.config]
caps = "voice.transcribe"
`, buildExtra(t, "voice"))
	h, _ := testHost(t, toml, nil)
	_, _, _, err := h.Speak(voiceCtx(), "voice", abi.SpeakRequest{Text: "hi"})
	wantAbiError(t, err, abi.ErrDenied, "does not offer voice.speak")
	_, _, err = h.CloneVoice(voiceCtx(), "voice", abi.CloneVoiceRequest{Name: "x", Samples: []abi.AudioRef{{}}}, [][]byte{[]byte("ID3\x04\x00\x00\x00\x00\x00\x00")})
	wantAbiError(t, err, abi.ErrDenied, "does not offer voice.clone")
	// A plugin asking for voice.speak without a speak export is refused.
	toml = fmt.Sprintf(`
[plugins.rogue]
path = %q
capabilities = ["voice.speak"]
[plugins.rogue.config]
describe = '{"abi":1,"name":"rogue","version":"1","capabilities":["voice.speak"]}'
`, buildExtra(t, "rogue"))
	h, _ = testHost(t, toml, nil)
	if st := statusOf(t, h, "rogue"); st.State != StateRefused || !strings.Contains(st.Reason, "does not export speak") {
		t.Fatalf("speak without export: %s %s", st.State, st.Reason)
	}
}

// TestTranscribe: a voice message goes in as a blob (its type sniffed when
// the caller does not say), the transcript comes out, usage is kind voice
// with the audio's length.
func TestTranscribe(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	msg := append([]byte("OggS\x00\x02"), make([]byte, 3000)...)
	resp, usage, err := h.Transcribe(voiceCtx(), "voice", abi.TranscribeRequest{}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "heard 3006 bytes of audio/ogg" || resp.Language != "en" || resp.DurationMS != 2500 {
		t.Fatalf("transcript %+v", resp)
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageVoice || usage[0].AudioMS != 2500 || usage[0].Model != "whisper-test" || usage[0].Provider != "elevenlabs" {
		t.Fatalf("usage %+v", usage)
	}
	_, usage, err = h.Transcribe(voiceCtx(), "voice", abi.TranscribeRequest{Model: "record"}, msg)
	if err != nil || len(usage) != 1 || usage[0].AudioMS != 1234 {
		t.Fatalf("recorded usage %+v, %v", usage, err)
	}
	// A caller's own blob store works too.
	blobs := NewBlobs()
	ref := abi.AudioRef{Blob: blobs.Put(msg), MimeType: "audio/ogg"}
	resp, _, err = h.Transcribe(WithCall(context.Background(), Call{UserID: "u1", Blobs: blobs}), "voice", abi.TranscribeRequest{Audio: ref}, nil)
	if err != nil || resp.Text != "heard 3006 bytes of audio/ogg" {
		t.Fatalf("caller blob: %+v, %v", resp, err)
	}
	// A text file is refused before the plugin runs.
	_, _, err = h.Transcribe(voiceCtx(), "voice", abi.TranscribeRequest{}, []byte("just some text, renamed .ogg"))
	wantAbiError(t, err, abi.ErrBadRequest, "is not audio")
	_, _, err = h.Transcribe(voiceCtx(), "voice", abi.TranscribeRequest{Audio: abi.AudioRef{Blob: 77}}, nil)
	wantAbiError(t, err, abi.ErrBadRequest, "there is no blob 77 in this call")
}

// TestTranscribeScrubsKey: a transcribe plugin that puts the key it was
// served into its transcript does not get it to the user.
func TestTranscribeScrubsKey(t *testing.T) {
	h, _ := voiceHost(t, "", "")
	resp, _, err := h.Transcribe(voiceCtx(), "voice", abi.TranscribeRequest{Model: "key"}, []byte("OggS\x00\x02 voice"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(resp.Text, voiceKey) || strings.Contains(resp.Language, voiceKey) || strings.Contains(resp.Text, voiceKey[:20]) {
		t.Fatalf("the transcript leaks the key: %+v", resp)
	}
	if !strings.HasPrefix(resp.Text, "the key is ") {
		t.Fatalf("transcript %q", resp.Text)
	}
}

// TestCloneVoiceUploadsSamples: the samples go to an ElevenLabs-style
// server as a multipart form built by the host (with the key in
// xi-api-key), and the voice id it answers comes back.
func TestCloneVoiceUploadsSamples(t *testing.T) {
	var got []formPart
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/voices/add" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("xi-api-key") != voiceKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}`)
			return
		}
		parts, ok := readForm(w, r)
		if !ok {
			return
		}
		got = parts
		_, _ = io.WriteString(w, `{"voice_id":"JBFqnCBsd6RMkjVDRZzb","requires_verification":false}`)
	})
	h, _ := voiceHost(t, hostPort(t, s), fmt.Sprintf("base_url = %q", s.URL))
	a := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{1}, 5000)...)
	b := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{2}, 7000)...)
	resp, usage, err := h.CloneVoice(voiceCtx(), "voice", abi.CloneVoiceRequest{Name: "Ada", Samples: []abi.AudioRef{
		{Filename: "one.mp3"}, {Filename: "two.wav", MimeType: "audio/x-wav"},
	}}, [][]byte{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if resp.VoiceID != "JBFqnCBsd6RMkjVDRZzb" || len(usage) != 0 {
		t.Fatalf("clone: %+v usage %+v", resp, usage)
	}
	if len(got) != 3 || string(got[0].data) != "Ada" ||
		got[1].filename != "one.mp3" || got[1].contentType != "audio/mpeg" || !bytes.Equal(got[1].data, a) ||
		got[2].filename != "two.wav" || got[2].contentType != "audio/x-wav" || !bytes.Equal(got[2].data, b) {
		t.Fatalf("server got %d parts: %+v", len(got), got)
	}
	// Samples named by handle must be in this call's store.
	_, _, err = h.CloneVoice(voiceCtx(), "voice", abi.CloneVoiceRequest{Name: "Ada", Samples: []abi.AudioRef{{Blob: 1}}}, nil)
	wantAbiError(t, err, abi.ErrBadRequest, "sample 1: there is no blob 1 in this call")
	_, _, err = h.CloneVoice(voiceCtx(), "voice", abi.CloneVoiceRequest{Name: "Ada"}, nil)
	wantAbiError(t, err, abi.ErrBadRequest, "no voice samples")
}
