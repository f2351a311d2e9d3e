package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// formPart is one part of a multipart body as a provider's server sees it.
type formPart struct {
	name, filename, contentType string
	data                        []byte
}

// readForm parses a multipart/form-data request the way a provider does,
// failing the request (400) on anything malformed.
func readForm(w http.ResponseWriter, r *http.Request) ([]formPart, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		http.Error(w, "not multipart: "+r.Header.Get("Content-Type"), http.StatusBadRequest)
		return nil, false
	}
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	var parts []formPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts, true
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		data, err := io.ReadAll(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		parts = append(parts, formPart{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), data})
	}
}

// TestHTTPMultipartUpload: an ElevenLabs-style voice clone upload. Two
// samples the caller stored and a text field go out as one form; the
// provider reads every field, each file's name, type and exact bytes,
// and the plugin's own Content-Type header does not break the boundary.
// A 503 first proves the body is sent whole again on a retry.
func TestHTTPMultipartUpload(t *testing.T) {
	var got []formPart
	var calls atomic.Int64
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		parts, ok := readForm(w, r)
		if !ok {
			return
		}
		if r.ContentLength <= 0 {
			http.Error(w, "no Content-Length", http.StatusLengthRequired)
			return
		}
		got = parts
		_, _ = io.WriteString(w, `{"voice_id":"v1"}`)
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "http_attempts = 2", nil)
	blobs := NewBlobs()
	mp3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x00}, 20000)...)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 5000)...)
	h1, h2 := blobs.Put(mp3), blobs.Put(wav)
	ctx := WithCall(context.Background(), Call{Blobs: blobs})
	resp := doHTTP(t, h, ctx, abi.HTTPRequest{
		Method: "POST", URL: s.URL + "/v1/voices/add",
		Headers: map[string]string{"content-type": "application/json"},
		Body:    "ignored: multipart wins",
		Multipart: []abi.MultipartPart{
			{Name: "name", Value: "Ada \"the\" voice"},
			{Name: "files", Blob: h1, Filename: "sample 1.mp3", ContentType: "audio/mpeg"},
			{Name: "files", Blob: h2, Filename: `b"ad\name.wav`},
			{Name: "remove_background_noise", Value: "true"},
		},
	})
	if resp.Error != nil || resp.Status != 200 || resp.Body != `{"voice_id":"v1"}` {
		t.Fatalf("response = %+v", resp)
	}
	if calls.Load() != 2 {
		t.Fatalf("server saw %d requests, want a retry after the 503", calls.Load())
	}
	want := []formPart{
		{name: "name", data: []byte("Ada \"the\" voice")},
		{name: "files", filename: "sample 1.mp3", contentType: "audio/mpeg", data: mp3},
		{name: "files", filename: `b"ad\name.wav`, contentType: "application/octet-stream", data: wav},
		{name: "remove_background_noise", data: []byte("true")},
	}
	if len(got) != len(want) {
		t.Fatalf("server got %d parts, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.filename != w.filename || (w.contentType != "" && g.contentType != w.contentType) || !bytes.Equal(g.data, w.data) {
			t.Errorf("part %d = %q %q %q (%d bytes), want %q %q %q (%d bytes)", i, g.name, g.filename, g.contentType, len(g.data), w.name, w.filename, w.contentType, len(w.data))
		}
	}
}

// TestHTTPMultipartStream: http_stream_open builds the same bodies as
// http_request (an OpenAI-style streamed transcription).
func TestHTTPMultipartStream(t *testing.T) {
	var got []formPart
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		parts, ok := readForm(w, r)
		if !ok {
			return
		}
		got = parts
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"text\":\"hello\"}\n\n")
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	blobs := NewBlobs()
	audio := blobs.Put([]byte("OggS\x00\x02voice message"))
	in, _ := json.Marshal(abi.HTTPRequest{Method: "POST", URL: s.URL + "/v1/audio/transcriptions", Multipart: []abi.MultipartPart{
		{Name: "file", Blob: audio, Filename: "voice-message.ogg", ContentType: "audio/ogg"},
		{Name: "model", Value: "whisper-1"},
		{Name: "stream", Value: "true"},
	}})
	out, err := h.Call(WithCall(context.Background(), Call{Blobs: blobs}), "net", "stream", in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `{\"text\":\"hello\"}`) {
		t.Fatalf("stream output %s", out)
	}
	if len(got) != 3 || got[0].filename != "voice-message.ogg" || string(got[0].data) != "OggS\x00\x02voice message" || string(got[1].data) != "whisper-1" {
		t.Fatalf("server got %+v", got)
	}
}

// TestHTTPMultipartRefused: every malformed or abusive form is refused
// before anything is sent, with a reason naming the part.
func TestHTTPMultipartRefused(t *testing.T) {
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)

	// A blob of another call: handle 1 exists there, not here.
	other := NewBlobs()
	otherHandle := other.Put([]byte("someone else's sample"))
	blobs := NewBlobs()
	big := blobs.Put(make([]byte, 4<<20+1))
	ctx := WithCall(context.Background(), Call{Blobs: blobs})

	many := make([]abi.MultipartPart, maxMultipartParts+1)
	for i := range many {
		many[i] = abi.MultipartPart{Name: "f", Value: "x"}
	}
	// 64 parts naming the same 4 MiB blob: over the 256 MiB cap without
	// the test holding 256 MiB.
	huge := make([]abi.MultipartPart, maxMultipartParts)
	for i := range huge {
		huge[i] = abi.MultipartPart{Name: "f", Blob: big, Filename: "a.mp3"}
	}
	for _, c := range []struct {
		name  string
		parts []abi.MultipartPart
		code  string
		words string
	}{
		{"unknown blob", []abi.MultipartPart{{Name: "file", Blob: 12345}}, abi.ErrBadRequest, "blob 12345, which does not exist in this call"},
		{"blob of another call", []abi.MultipartPart{{Name: "file", Blob: otherHandle + 1}}, abi.ErrBadRequest, "does not exist in this call"},
		{"no name", []abi.MultipartPart{{Value: "x"}}, abi.ErrBadRequest, "part 1 has no name"},
		{"CRLF in filename", []abi.MultipartPart{{Name: "file", Blob: big, Filename: "a.mp3\r\nContent-Type: text/html"}}, abi.ErrBadRequest, "filename contains the control character U+000D"},
		{"LF in name", []abi.MultipartPart{{Name: "a\nb", Value: "x"}}, abi.ErrBadRequest, "name contains the control character U+000A"},
		{"CR in content type", []abi.MultipartPart{{Name: "f", Blob: big, ContentType: "audio/mpeg\r\nX-Evil: 1"}}, abi.ErrBadRequest, "content_type contains"},
		{"content type not a MIME type", []abi.MultipartPart{{Name: "f", Blob: big, ContentType: "audio mpeg"}}, abi.ErrBadRequest, "is not a MIME type"},
		{"too many parts", many, abi.ErrDenied, "at most 64 parts"},
		{"over the byte cap", huge, abi.ErrDenied, "at most 256 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := doHTTP(t, h, ctx, abi.HTTPRequest{Method: "POST", URL: s.URL, Multipart: c.parts})
			if resp.Error == nil || resp.Error.Code != c.code || !strings.Contains(resp.Error.Message, c.words) {
				t.Fatalf("got %+v, want %s saying %q", resp.Error, c.code, c.words)
			}
		})
	}
	if n := hits.hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests; refused forms must not be sent", n)
	}
}

// TestCallerBlobsOutsidePluginBudget: blobs the caller stores (samples, a
// voice message) do not use up the plugin's own blob_create budget.
func TestCallerBlobsOutsidePluginBudget(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", "[plugins.openai.limits]\nmax_response_bytes = 1048576"), nil)
	blobs := NewBlobs()
	first := blobs.Put(make([]byte, 700<<10))
	blobs.Put(make([]byte, 700<<10))
	ctx := WithCall(context.Background(), Call{Blobs: blobs})
	out, err := h.Call(ctx, "openai", "bulk_echo", []byte(strconv.FormatInt(first, 10)))
	if err != nil {
		t.Fatalf("1.4 MiB of caller blobs used up a 1 MiB plugin budget: %v", err)
	}
	handle, _ := strconv.ParseInt(string(out), 10, 64)
	if got, ok := blobs.Get(handle); !ok || len(got) != 700<<10 {
		t.Fatalf("plugin blob %d: %v, %d bytes", handle, ok, len(got))
	}
}
