package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// audioServer is a fake OpenAI audio API on loopback, as the real one
// answers: /v1/audio/speech takes JSON and answers MP3 bytes (chunked,
// audio/mpeg); /v1/audio/transcriptions takes multipart/form-data and
// answers verbose_json or json; errors are {"error":{…}} with Retry-After
// on 429. The upload it got is kept for the test.
type audioServer struct {
	t   *testing.T
	key string

	mu     sync.Mutex
	speech map[string]any // the last speech body
	form   map[string]string
	file   []byte
	fname  string
	ftype  string
}

// speechMP3 is what the fake speaks: an ID3-tagged MP3 stream over 64 KiB.
func speechMP3(text string) []byte {
	var b bytes.Buffer
	b.WriteString("ID3\x04\x00\x00\x00\x00\x00\x00")
	for i := 0; b.Len() < 80_000; i++ {
		b.Write([]byte{0xFF, 0xFB, 0x90, 0x64})
		fmt.Fprintf(&b, "%s#%d", text, i)
	}
	return b.Bytes()
}

func (s *audioServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg, code string) {
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2")
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": code}})
	}
	if r.Header.Get("Authorization") != "Bearer "+s.key {
		fail(http.StatusUnauthorized, "Incorrect API key provided: "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "invalid_api_key")
		return
	}
	switch r.URL.Path {
	case "/v1/audio/speech":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(http.StatusBadRequest, "We could not parse the JSON body of your request.", "")
			return
		}
		s.mu.Lock()
		s.speech = body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(speechMP3(body["input"].(string)))
	case "/v1/audio/transcriptions":
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			fail(http.StatusBadRequest, "expected multipart/form-data", "")
			return
		}
		form, file, fname, ftype := map[string]string{}, []byte(nil), "", ""
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fail(http.StatusBadRequest, "bad multipart body: "+err.Error(), "")
				return
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "file" {
				file, fname, ftype = b, p.FileName(), p.Header.Get("Content-Type")
			} else {
				form[p.FormName()] = string(b)
			}
		}
		s.mu.Lock()
		s.form, s.file, s.fname, s.ftype = form, file, fname, ftype
		s.mu.Unlock()
		switch {
		case form["model"] == "busy":
			fail(http.StatusTooManyRequests, "Rate limit reached for whisper-1.", "rate_limit_exceeded")
		case form["response_format"] == "verbose_json":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"task": "transcribe", "language": "german", "duration": 4.25, "text": " Guten Morgen, Lilith. "})
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"text": "Good morning, Lilith."})
		}
	default:
		fail(http.StatusNotFound, "Invalid URL", "")
	}
}

// The real plugins/openai-speech under the real host: speech audio comes
// back as a blob of the caller's store, byte for byte and recognisably
// audio; the audio to transcribe goes from the caller's blob into a
// multipart form the host builds, and the transcript, language and
// duration come back.
func TestOpenAISpeechPluginInRealHost(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wasm := plugintest.Build(t, filepath.Join(root, "plugins", "openai-speech"))
	const key = "sk-speech-0123456789abcdef"
	fake := &audioServer{t: t, key: key}
	s, _ := newServer(t, fake.ServeHTTP)
	keys := &MemoryKeys{}
	keys.Set("u1", "openai", key)
	h, logs := testHost(t, fmt.Sprintf(`
[plugins.openai-speech]
path = %q
key_slot = "openai"
capabilities = ["voice.speak", "voice.transcribe", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
[plugins.openai-speech.limits]
http_attempts = 1
[plugins.openai-speech.config]
base_url = %q
auth = "bearer"
`, wasm, hostPort(t, s), s.URL), keys)

	t.Run("speak", func(t *testing.T) {
		blobs := NewBlobs()
		ctx := WithCall(context.Background(), Call{UserID: "u1", Blobs: blobs})
		in, _ := json.Marshal(abi.SpeakRequest{Text: "Good evening.", VoiceID: "coral", Settings: json.RawMessage(`{"stability":0.5,"similarity_boost":0.75,"speed":0.9}`)})
		res, err := h.Invoke(ctx, "openai-speech", abi.SpeakExport, in)
		if err != nil {
			t.Fatal(err)
		}
		var out abi.SpeakResponse
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatalf("%v: %s", err, res.Output)
		}
		got, ok := blobs.Get(out.Audio.Blob)
		if !ok || !bytes.Equal(got, speechMP3("Good evening.")) {
			t.Fatalf("blob %d: %d bytes, want the server's audio unchanged", out.Audio.Blob, len(got))
		}
		if mt, ok := audio.Sniff(got); !ok || mt != "audio/mpeg" || out.Audio.MimeType != "audio/mpeg" {
			t.Fatalf("sniffed %q %v, declared %q", mt, ok, out.Audio.MimeType)
		}
		if out.Usage.Kind != abi.UsageVoice || out.Usage.Characters != 13 || out.Usage.Model != "gpt-4o-mini-tts" {
			t.Fatalf("usage = %+v", out.Usage)
		}
		fake.mu.Lock()
		body := fake.speech
		fake.mu.Unlock()
		if body["voice"] != "coral" || body["speed"] != 0.9 || body["response_format"] != "mp3" || body["stability"] != nil {
			t.Fatalf("speech body = %v", body)
		}
	})

	transcribe := func(t *testing.T, req abi.TranscribeRequest, file []byte) (abi.TranscribeResponse, error) {
		t.Helper()
		blobs := NewBlobs()
		req.Audio.Blob = blobs.Put(file)
		ctx := WithCall(context.Background(), Call{UserID: "u1", Blobs: blobs})
		in, _ := json.Marshal(req)
		res, err := h.Invoke(ctx, "openai-speech", abi.TranscribeExport, in)
		if err != nil {
			return abi.TranscribeResponse{}, err
		}
		var out abi.TranscribeResponse
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatalf("%v: %s", err, res.Output)
		}
		return out, nil
	}
	voiceMessage := append([]byte("OggS\x00\x02"), bytes.Repeat([]byte("opus voice message "), 5000)...)

	t.Run("transcribe whisper", func(t *testing.T) {
		out, err := transcribe(t, abi.TranscribeRequest{Language: "de",
			Audio: abi.AudioRef{MimeType: "audio/ogg", Filename: "voice-message.ogg", DurationMS: 4000}}, voiceMessage)
		if err != nil {
			t.Fatal(err)
		}
		want := abi.TranscribeResponse{Text: "Guten Morgen, Lilith.", Language: "de", DurationMS: 4250,
			Usage: abi.Usage{Kind: abi.UsageVoice, Model: "whisper-1", AudioMS: 4250}}
		if out != want {
			t.Fatalf("out = %+v, want %+v", out, want)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if !bytes.Equal(fake.file, voiceMessage) || fake.fname != "voice-message.ogg" || fake.ftype != "audio/ogg" {
			t.Fatalf("file part: %d bytes named %q of type %q", len(fake.file), fake.fname, fake.ftype)
		}
		if fmt.Sprint(fake.form) != fmt.Sprint(map[string]string{"model": "whisper-1", "response_format": "verbose_json", "language": "de"}) {
			t.Fatalf("form = %v", fake.form)
		}
	})

	t.Run("transcribe gpt-4o", func(t *testing.T) {
		out, err := transcribe(t, abi.TranscribeRequest{Model: "gpt-4o-mini-transcribe",
			Audio: abi.AudioRef{MimeType: "audio/mpeg", DurationMS: 2500}}, speechMP3("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Text != "Good morning, Lilith." || out.DurationMS != 2500 || out.Usage.AudioMS != 2500 || out.Language != "" {
			t.Fatalf("out = %+v", out)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.fname != "audio.mp3" || fake.form["response_format"] != "json" || fake.form["model"] != "gpt-4o-mini-transcribe" {
			t.Fatalf("file %q, form %v", fake.fname, fake.form)
		}
	})

	t.Run("transcribe rate limited", func(t *testing.T) {
		_, err := transcribe(t, abi.TranscribeRequest{Model: "busy", Audio: abi.AudioRef{MimeType: "audio/ogg"}}, voiceMessage)
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != abi.ErrRateLimited || !e.Retryable ||
			!strings.Contains(e.Message, "Rate limit reached for whisper-1. (the provider asks to wait 2 s before trying again)") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		keys.Set("u2", "openai", "sk-wrong-key-0123456789")
		ctx := WithCall(context.Background(), Call{UserID: "u2", Blobs: NewBlobs()})
		in, _ := json.Marshal(abi.SpeakRequest{Text: "Hi"})
		_, err := h.Invoke(ctx, "openai-speech", abi.SpeakExport, in)
		var e *abi.Error
		if !errors.As(err, &e) || e.Code != abi.ErrInvalidKey || strings.Contains(err.Error(), "sk-wrong-key-0123456789") {
			t.Fatalf("err = %v", err)
		}
	})

	if strings.Contains(logs.String(), key) {
		t.Fatal("the key reached the host's log")
	}
}
