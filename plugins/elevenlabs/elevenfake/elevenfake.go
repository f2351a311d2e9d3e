// Package elevenfake is a fake ElevenLabs API for tests: the plugin's own
// tests (plugins/elevenlabs) and host tests that run the real plugin in
// the real host (speech, cloning) serve it on loopback. It follows the
// real API's routes, headers, bodies and errors; it is not part of the
// plugin (which is package main one directory up).
package elevenfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// API is ElevenLabs' API on loopback, behaving like the real one where
// the plugin can tell: the same routes (/v1/text-to-speech/{voice_id},
// /v1/voices/add, /v1/user/subscription), the key in xi-api-key, JSON
// request bodies and multipart uploads, audio/mpeg answers and error
// bodies ({"detail": {"status", "message"}}, or FastAPI's 422 list). It
// enforces the request rules the real API does (text required, known
// models, settings in range, an MP3 output_format) with a 4xx. The voice
// id picks a scenario, so one server serves every test.
type API struct {
	t testing.TB

	plugintest.Recorder // every JSON request, for the tests to check

	mu     sync.Mutex
	clones []Upload          // every voices/add upload, parsed
	longs  map[string][]byte // LongMP3 by text, so benchmarks time the plugin, not the fake
	calls  int               // every request, JSON or not
}

// Upload is one multipart upload to /v1/voices/add as the fake read it.
type Upload struct {
	Header http.Header
	Fields map[string][]string // text fields
	Files  []File              // the "files" parts, in order
	Others []string            // names of any other file parts
}

// File is one "files" part of an Upload.
type File struct {
	Filename, ContentType string
	Data                  []byte
}

// Keys the fake API knows. Anything else is refused with a 401.
const (
	KeyGood   = "sk_0123456789abcdef0123456789abcdef0123456789abcdef"
	KeyBroke  = "sk_brokebrokebroke0123456789abcdef0123456789abcdef"  // no characters left
	KeyScoped = "sk_scoped0123456789abcdef0123456789abcdef0123456789" // may not read the account
	KeyFlaky  = "sk_flaky0123456789abcdef0123456789abcdef0123456789a" // the account API answers 503
	KeyBadOne = "sk_wrong0123456789abcdef0123456789abcdef0123456789a"
)

// Voices: the real-looking ones speak; the others pick a failure.
const (
	VoiceRachel    = "21m00Tcm4TlvDq8ikWAM"
	VoiceDefault   = "pNInz6obpgDQGcFmaJgB"
	VoiceRateLimit = "ratelimitedVoice0001"
	VoiceBroken    = "brokenVoice000000001" // 500
	VoiceCutOff    = "cutoffVoice000000001" // the audio breaks off half way
	VoiceHTML      = "htmlVoice00000000001" // 200 with an HTML page
	VoiceJunk      = "junkVoice00000000001" // 200 labelled audio/mpeg holding JSON
	VoiceUnknown   = "unknownVoice00000001"
	VoiceLong      = "longVoice00000000001" // speaks 1 MiB of MP3 (LongMP3)
)

// MP3 is what the fake speaks: an ID3v2 tag followed by MPEG-1 Layer
// III frame headers (0xFFFB), as ElevenLabs' MP3 starts, and bytes that
// depend on the text, so a test can tell one answer from another.
func MP3(text string) []byte {
	if text == "" {
		text = " "
	}
	var b bytes.Buffer
	b.Write([]byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, 0})
	for i := 0; i < 64; i++ {
		b.Write([]byte{0xFF, 0xFB, 0x90, 0x64})
		for j := 0; j < 413; j++ {
			b.WriteByte(byte(i*31+j) ^ text[(i+j)%len(text)])
		}
	}
	return b.Bytes()
}

// LongMP3 is MP3(text) repeated to 1 MiB: about a minute of speech at
// 128 kbit/s, what a long reply weighs.
func LongMP3(text string) []byte {
	one := MP3(text)
	out := make([]byte, 0, 1<<20)
	for len(out) < 1<<20 {
		out = append(out, one[:min(len(one), 1<<20-len(out))]...)
	}
	return out
}

func (f *API) long(text string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.longs[text]; ok {
		return b
	}
	if f.longs == nil {
		f.longs = map[string][]byte{}
	}
	f.longs[text] = LongMP3(text)
	return f.longs[text]
}

// New returns a fake whose recorder and checks report to tb.
func New(tb testing.TB) *API { return &API{t: tb} }

// LastRequest is the latest JSON request; it fails the test when there
// was none.
func (f *API) LastRequest() plugintest.Request { return f.Last(f.t) }

// Requests is how many requests the fake got, JSON or not, refused or not.
func (f *API) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Clones are the voices/add uploads so far, in order.
func (f *API) Clones() []Upload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Upload(nil), f.clones...)
}

// LastClone is the latest voices/add upload; it fails the test when there
// was none.
func (f *API) LastClone() Upload {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.clones) == 0 {
		f.t.Fatal("the fake API got no voice upload")
	}
	return f.clones[len(f.clones)-1]
}

// detail writes ElevenLabs' error body.
func detail(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"detail": map[string]any{"status": status, "message": msg}})
}

// unprocessable writes FastAPI's request validation error, as ElevenLabs
// answers a body that breaks its schema.
func unprocessable(w http.ResponseWriter, loc []any, msg, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_ = json.NewEncoder(w).Encode(map[string]any{"detail": []any{map[string]any{"loc": loc, "msg": msg, "type": typ}}})
}

var ttsPath = regexp.MustCompile(`^/v1/text-to-speech/([^/]+)$`)

func (f *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "" {
		f.t.Errorf("the key must go in xi-api-key only, but Authorization was %q", r.Header.Get("Authorization"))
	}
	key := r.Header.Get("xi-api-key")
	var seen plugintest.Request
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		seen = f.Record(f.t, r)
	}
	switch key {
	case KeyGood, KeyBroke, KeyScoped, KeyFlaky:
	case "":
		detail(w, http.StatusUnauthorized, "needs_authorization", "Neither authorization header nor xi-api-key received, please provide one.")
		return
	default:
		detail(w, http.StatusUnauthorized, "invalid_api_key", "Invalid API key")
		return
	}

	switch m := ttsPath.FindStringSubmatch(r.URL.Path); {
	case r.Method == "GET" && r.URL.Path == "/v1/user/subscription":
		f.subscription(w, key)
	case r.Method == "POST" && m != nil:
		f.speak(w, r, key, m[1], seen.Body)
	case r.Method == "POST" && r.URL.Path == "/v1/voices/add":
		f.addVoice(w, r, key)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"detail":"Not Found"}`)
	}
}

func (f *API) subscription(w http.ResponseWriter, key string) {
	switch key {
	case KeyScoped:
		detail(w, http.StatusUnauthorized, "missing_permissions", "The API key you used is missing the permission user_read to execute this operation.")
		return
	case KeyFlaky:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "upstream connect error or disconnect/reset before headers")
		return
	}
	used := int64(1234)
	if key == KeyBroke {
		used = 10000
	}
	plugintest.WriteJSON(w, map[string]any{
		"tier": "free", "character_count": used, "character_limit": 10000,
		"can_extend_character_limit": false, "allowed_to_extend_character_limit": false,
		"next_character_count_reset_unix": 1767225600, "voice_limit": 3, "max_voice_add_edits": 0,
		"voice_add_edit_counter": 0, "professional_voice_limit": 0, "can_extend_voice_limit": false,
		"can_use_instant_voice_cloning": false, "can_use_professional_voice_cloning": false,
		"currency": "usd", "status": "free", "billing_period": "monthly_period",
	})
}

// models the fake knows, as GET /v1/models would list them.
var knownModels = map[string]bool{"eleven_flash_v2_5": true, "eleven_multilingual_v2": true, "eleven_turbo_v2_5": true, "eleven_v3": true}

func (f *API) speak(w http.ResponseWriter, r *http.Request, key, voice string, body map[string]any) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		detail(w, http.StatusBadRequest, "invalid_content_type", "content-type must be application/json, not "+ct)
		return
	}
	switch of := r.URL.Query().Get("output_format"); {
	case of == "":
	case !strings.HasPrefix(of, "mp3_") && !strings.HasPrefix(of, "pcm_") && !strings.HasPrefix(of, "opus_"):
		unprocessable(w, []any{"query", "output_format"}, "Input should be a valid output format", "enum")
		return
	}
	text, _ := body["text"].(string)
	if text == "" {
		unprocessable(w, []any{"body", "text"}, "Field required", "missing")
		return
	}
	for k := range body {
		switch k {
		case "text", "model_id", "voice_settings", "language_code", "seed", "previous_text", "next_text":
		default:
			unprocessable(w, []any{"body", k}, "Extra inputs are not permitted", "extra_forbidden")
			return
		}
	}
	if model, ok := body["model_id"].(string); ok && !knownModels[model] {
		detail(w, http.StatusBadRequest, "model_not_found", "A model with model ID "+model+" does not exist.")
		return
	}
	if vs, ok := body["voice_settings"].(map[string]any); ok {
		for k, v := range vs {
			lo, hi := 0.0, 1.0
			switch k {
			case "use_speaker_boost":
				if _, ok := v.(bool); !ok {
					unprocessable(w, []any{"body", "voice_settings", k}, "Input should be a valid boolean", "bool_type")
					return
				}
				continue
			case "speed":
				lo, hi = 0.7, 1.2
			case "stability", "similarity_boost", "style":
			default:
				unprocessable(w, []any{"body", "voice_settings", k}, "Extra inputs are not permitted", "extra_forbidden")
				return
			}
			if n, ok := v.(float64); !ok || n < lo || n > hi {
				unprocessable(w, []any{"body", "voice_settings", k}, fmt.Sprintf("Input should be between %g and %g", lo, hi), "range")
				return
			}
		}
	}
	if key == KeyBroke {
		// ElevenLabs really sends quota_exceeded with HTTP 401.
		detail(w, http.StatusUnauthorized, "quota_exceeded", fmt.Sprintf("This request exceeds your quota of 10000. You have 0 credits remaining, while %d credits are required for this request.", len([]rune(text))))
		return
	}
	audio := MP3(text)
	switch voice {
	case VoiceRachel, VoiceDefault:
	case VoiceLong:
		audio = f.long(text)
	case VoiceRateLimit:
		w.Header().Set("Retry-After", "7")
		detail(w, http.StatusTooManyRequests, "too_many_concurrent_requests", "Your current subscription is associated with a maximum of 2 concurrent requests and you have exceeded it.")
		return
	case VoiceBroken:
		detail(w, http.StatusInternalServerError, "internal_error", "An internal server error occurred.")
		return
	case VoiceHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html><body>Service temporarily unavailable</body></html>")
		return
	case VoiceJunk:
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = io.WriteString(w, `{"status":"ok","note":"this is not audio"}`)
		return
	case VoiceCutOff:
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(audio[:len(audio)/2])
		// Drop the connection with half the promised bytes sent.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
		return
	default:
		detail(w, http.StatusNotFound, "voice_not_found", "A voice with the voice_id "+voice+" was not found.")
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
	w.Header().Set("x-character-count", strconv.Itoa(len([]rune(text))))
	w.Header().Set("request-id", "fake0000request0000id")
	_, _ = w.Write(audio)
}

// addVoice is POST /v1/voices/add: multipart/form-data with name, one or
// more "files", and optional description, labels and
// remove_background_noise.
func (f *API) addVoice(w http.ResponseWriter, r *http.Request, key string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		unprocessable(w, []any{"body"}, "Expected multipart/form-data, got "+r.Header.Get("Content-Type"), "model_attributes_type")
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		detail(w, http.StatusBadRequest, "invalid_multipart", "could not parse the upload: "+err.Error())
		return
	}
	up := Upload{Header: r.Header.Clone(), Fields: r.MultipartForm.Value}
	for name, fhs := range r.MultipartForm.File {
		if name != "files" {
			up.Others = append(up.Others, name)
			continue
		}
		for _, fh := range fhs {
			file, err := fh.Open()
			if err != nil {
				f.t.Errorf("open upload %s: %v", fh.Filename, err)
				continue
			}
			data, _ := io.ReadAll(file)
			_ = file.Close()
			up.Files = append(up.Files, File{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data})
		}
	}
	f.mu.Lock()
	f.clones = append(f.clones, up)
	n := len(f.clones)
	f.mu.Unlock()

	for k := range up.Fields {
		switch k {
		case "name", "description", "labels", "remove_background_noise":
		default:
			unprocessable(w, []any{"body", k}, "Extra inputs are not permitted", "extra_forbidden")
			return
		}
	}
	switch {
	case len(up.Fields["name"]) != 1 || up.Fields["name"][0] == "":
		unprocessable(w, []any{"body", "name"}, "Field required", "missing")
		return
	case len(up.Files) == 0:
		unprocessable(w, []any{"body", "files"}, "Field required", "missing")
		return
	case len(up.Others) > 0:
		unprocessable(w, []any{"body", up.Others[0]}, "Extra inputs are not permitted", "extra_forbidden")
		return
	}
	if v := up.Fields["remove_background_noise"]; len(v) > 0 && v[0] != "true" && v[0] != "false" {
		unprocessable(w, []any{"body", "remove_background_noise"}, "Input should be a valid boolean", "bool_parsing")
		return
	}
	if key == KeyBroke {
		detail(w, http.StatusBadRequest, "voice_limit_reached", "You have reached your maximum amount of custom voices (3 / 3).")
		return
	}
	plugintest.WriteJSON(w, map[string]any{"voice_id": fmt.Sprintf("clonedVoice%09d", n), "requires_verification": false})
}
