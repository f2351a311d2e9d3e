//go:build !wasip1

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// fakeAPI is an OpenAI-compatible audio server on loopback that behaves
// like the real API where the plugin can tell: the same routes
// (/v1/audio/speech, /v1/audio/transcriptions, /v1/models), JSON request
// bodies for speech and multipart/form-data for transcription, audio bytes
// as the speech answer with an audio/* Content-Type, error bodies
// ({"error":{"message","type","code"}}), Retry-After on 429 and the
// Authorization check. The voice (speech) or model (transcription) picks
// a scenario, so one server serves every test.
type fakeAPI struct {
	t      testing.TB
	noAuth bool // a local server: no key expected

	plugintest.Recorder // speech and models requests (JSON bodies)

	mu      sync.Mutex
	uploads []upload // transcription requests, parsed
}

// upload is one multipart transcription request as the fake received it.
type upload struct {
	Header   http.Header
	Fields   map[string]string // text parts
	FileName string
	FileType string // the file part's Content-Type
	File     []byte
}

const (
	keyGood = "sk-good-0123456789abcdefghij"
	keyBad  = "sk-wrong-0123456789abcdefgh"
)

// speechAudio is what the fake "speaks" for a text: an MP3 stream (ID3
// tag, then frames) whose bytes depend on the text and run past 64 KiB, so
// a test can tell the audio arrived whole and unchanged.
func speechAudio(text string) []byte {
	var b bytes.Buffer
	b.WriteString("ID3\x04\x00\x00\x00\x00\x00\x00")
	for i := 0; b.Len() < 70_000; i++ {
		b.Write([]byte{0xFF, 0xFB, 0x90, 0x64}) // an MPEG-1 Layer III frame header
		fmt.Fprintf(&b, "%s#%d\x00\xff", text, i)
	}
	return b.Bytes()
}

// formatType is the Content-Type OpenAI answers for each response_format.
var formatType = map[string]string{
	"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac",
	"flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm",
}

func (f *fakeAPI) lastUpload() upload {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.uploads) == 0 {
		f.t.Fatal("the fake server got no transcription request")
	}
	return f.uploads[len(f.uploads)-1]
}

func apiError(w http.ResponseWriter, status int, msg, typ string, code any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	key := strings.TrimPrefix(auth, "Bearer ")
	switch {
	case f.noAuth && auth != "":
		f.t.Errorf("a local server must get no Authorization header, got %q", auth)
	case !f.noAuth && (!strings.HasPrefix(auth, "Bearer ") || key != keyGood):
		_, _ = io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusUnauthorized, "Incorrect API key provided: "+key+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/models":
		f.Record(f.t, r)
		plugintest.WriteJSON(w, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "gpt-4o-mini-tts", "object": "model", "owned_by": "system"},
			map[string]any{"id": "whisper-1", "object": "model", "owned_by": "openai-internal"},
		}})
	case r.Method == "POST" && r.URL.Path == "/v1/audio/speech":
		f.speech(w, f.Record(f.t, r).Body)
	case r.Method == "POST" && r.URL.Path == "/v1/audio/transcriptions":
		f.transcription(w, r)
	default:
		apiError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", nil)
	}
}

// speech serves /v1/audio/speech; the voice picks a failure.
func (f *fakeAPI) speech(w http.ResponseWriter, body map[string]any) {
	voice, _ := body["voice"].(string)
	input, _ := body["input"].(string)
	format, _ := body["response_format"].(string)
	if format == "" {
		format = "mp3"
	}
	switch voice {
	case "busy":
		w.Header().Set("Retry-After", "7")
		apiError(w, http.StatusTooManyRequests, "Rate limit reached for gpt-4o-mini-tts in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded")
		return
	case "broke":
		apiError(w, http.StatusTooManyRequests, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")
		return
	case "down":
		apiError(w, http.StatusInternalServerError, "The server had an error while processing your request. Sorry about that!", "server_error", nil)
		return
	case "html": // a proxy in front of the server answering for it
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html><body><h1>Welcome to nginx!</h1></body></html>"))
		return
	case "cut": // the connection drops half way through the audio
		audio := speechAudio(input)
		w.Header().Set("Content-Type", formatType[format])
		w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(audio[:len(audio)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case "alloy", "nova", "shimmer", "coral", "echo":
	default:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', and 'verse'.", voice), "invalid_request_error", "invalid_value")
		return
	}
	if sp, ok := body["speed"].(float64); ok && (sp < 0.25 || sp > 4) {
		apiError(w, http.StatusBadRequest, "Invalid 'speed': must be between 0.25 and 4.", "invalid_request_error", "invalid_value")
		return
	}
	// OpenAI streams the audio with chunked encoding, no Content-Length.
	w.Header().Set("Content-Type", formatType[format])
	w.Header().Set("Transfer-Encoding", "chunked")
	audio := speechAudio(input)
	for len(audio) > 0 {
		n := min(len(audio), 16<<10)
		_, _ = w.Write(audio[:n])
		w.(http.Flusher).Flush()
		audio = audio[n:]
	}
}

// transcription serves /v1/audio/transcriptions: it parses the multipart
// form as the real API does (a file part with a name, model, optional
// response_format and language) and answers in the format asked for. The
// model picks a failure.
func (f *fakeAPI) transcription(w http.ResponseWriter, r *http.Request) {
	up := upload{Header: r.Header.Clone(), Fields: map[string]string{}}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		apiError(w, http.StatusBadRequest, "Invalid Content-Type header ("+r.Header.Get("Content-Type")+"), expected multipart/form-data.", "invalid_request_error", nil)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, "Could not parse multipart form: "+err.Error(), "invalid_request_error", nil)
			return
		}
		b, _ := io.ReadAll(p)
		if p.FormName() == "file" {
			up.FileName, up.FileType, up.File = p.FileName(), p.Header.Get("Content-Type"), b
		} else {
			up.Fields[p.FormName()] = string(b)
		}
	}
	f.mu.Lock()
	f.uploads = append(f.uploads, up)
	f.mu.Unlock()

	model := up.Fields["model"]
	switch {
	case up.File == nil:
		apiError(w, http.StatusBadRequest, "1 validation error for Request\nbody -> file\n  field required (type=value_error.missing)", "invalid_request_error", nil)
		return
	case model == "":
		apiError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", nil)
		return
	case !strings.Contains(up.FileName, "."):
		apiError(w, http.StatusBadRequest, "Unrecognized file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']", "invalid_request_error", nil)
		return
	case model == "busy":
		w.Header().Set("Retry-After", "3")
		apiError(w, http.StatusTooManyRequests, "Rate limit reached for whisper-1.", "requests", "rate_limit_exceeded")
		return
	case model == "down":
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	case model == "garbage":
		plugintest.WriteJSON(w, map[string]any{"status": "queued"})
		return
	}
	format := up.Fields["response_format"]
	if strings.HasPrefix(model, "gpt-4o") && format == "verbose_json" {
		apiError(w, http.StatusBadRequest, "response_format 'verbose_json' is not compatible with model '"+model+"'. Use 'json' or 'text'.", "invalid_request_error", "unsupported_value")
		return
	}
	// The "speech" is the uploaded bytes' text, so a test can tell the
	// whole file arrived.
	text := " " + string(up.File) + " "
	switch format {
	case "verbose_json":
		lang := "english"
		if up.Fields["language"] == "de" {
			lang = "german"
		}
		plugintest.WriteJSON(w, map[string]any{"task": "transcribe", "language": lang, "duration": 3.52, "text": text,
			"segments": []any{map[string]any{"id": 0, "start": 0.0, "end": 3.52, "text": text}}})
	case "json", "":
		plugintest.WriteJSON(w, map[string]any{"text": text,
			"usage": map[string]any{"type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59}})
	default:
		apiError(w, http.StatusBadRequest, "Invalid response_format", "invalid_request_error", nil)
	}
}

// statusServer answers every request with status and OpenAI's error body
// for it, as OpenAI does when it is rate limiting or failing.
func statusServer(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		apiError(w, status, fmt.Sprintf("forced %d", status), "server_error", nil)
	})
}
