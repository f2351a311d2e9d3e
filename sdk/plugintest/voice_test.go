package plugintest_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// TestVoiceExportsThroughHarness: speak, transcribe and clone_voice of a
// plugin built with the SDK, against a fake provider, with audio only in
// blobs: speech kept host-side, samples and voice messages uploaded as
// multipart forms the (fake) host builds.
func TestVoiceExportsThroughHarness(t *testing.T) {
	speech := []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64 speech")
	type upload struct{ name, filename, ctype, data string }
	var uploads []upload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/text-to-speech/") {
			if r.Header.Get("xi-api-key") != "sk-voice" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "audio/mpeg")
			_, _ = w.Write(speech)
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		uploads = nil
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(p)
			uploads = append(uploads, upload{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), string(b)})
		}
		switch r.URL.Path {
		case "/v1/audio/transcriptions":
			_, _ = io.WriteString(w, `{"text":"hello from the voice message"}`)
		case "/v1/voices/add":
			_, _ = io.WriteString(w, `{"voice_id":"cloned-1"}`)
		}
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{Key: "sk-voice", Config: map[string]string{"base_url": srv.URL}})

	resp, audio, e := h.Speak(abi.SpeakRequest{Text: "Hi", VoiceID: "v1"})
	if e != nil || !bytes.Equal(audio, speech) || resp.Audio.MimeType != "audio/mpeg" || resp.Usage.Characters != 2 {
		t.Fatalf("speak: %+v, %d bytes, %v", resp, len(audio), e)
	}
	if _, audio, e = h.Speak(abi.SpeakRequest{Text: "bytes"}); e != nil || !strings.HasSuffix(string(audio), "made in the plugin") {
		t.Fatalf("speak from plugin bytes: %q, %v", audio, e)
	}

	msg := "OggS\x00\x02 a voice message"
	tr, e := h.Transcribe(abi.TranscribeRequest{}, []byte(msg))
	if e != nil || tr.Text != "hello from the voice message" {
		t.Fatalf("transcribe: %+v, %v", tr, e)
	}
	if len(uploads) != 2 || uploads[0] != (upload{"file", "audio.ogg", "audio/ogg", msg}) || uploads[1].data != "whisper-1" {
		t.Fatalf("transcription upload: %+v", uploads)
	}

	cl, e := h.CloneVoice(abi.CloneVoiceRequest{Name: "Ada", Samples: []abi.AudioRef{
		{MimeType: "audio/mpeg", Filename: "a.mp3"}, {MimeType: "audio/wav"}}}, [][]byte{[]byte("ID3 sample a"), []byte("RIFF sample b")})
	if e != nil || cl.VoiceID != "cloned-1" {
		t.Fatalf("clone: %+v, %v", cl, e)
	}
	want := []upload{{"name", "", "", "Ada"}, {"files", "a.mp3", "audio/mpeg", "ID3 sample a"}, {"files", "audio.wav", "audio/wav", "RIFF sample b"}}
	if len(uploads) != 3 || uploads[0] != want[0] || uploads[1] != want[1] || uploads[2] != want[2] {
		t.Fatalf("clone upload: %+v", uploads)
	}
}

// TestHarnessMultipartAsStrictAsHost: the harness refuses the multipart
// bodies the host refuses, with the same codes.
func TestHarnessMultipartAsStrictAsHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a refused form reached the server")
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	for _, c := range []struct {
		parts []abi.MultipartPart
		code  string
	}{
		{[]abi.MultipartPart{{Name: "file", Blob: 99}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Value: "no name"}}, abi.ErrBadRequest},
		{[]abi.MultipartPart{{Name: "f", Value: "x", Filename: "a\r\nX-Evil: 1"}}, abi.ErrBadRequest},
		{make([]abi.MultipartPart, 65), abi.ErrDenied},
	} {
		for i := range c.parts {
			if c.parts[i].Name == "" && c.parts[i].Value == "" {
				c.parts[i].Name = "f"
			}
		}
		_, res := probe(t, h, map[string]any{"do": "http", "request": abi.HTTPRequest{Method: "POST", URL: srv.URL, Multipart: c.parts}})
		if res.Err == nil || res.Err.Code != c.code {
			t.Errorf("%+v: got %+v, want %s", c.parts[0], res.Err, c.code)
		}
	}
}
