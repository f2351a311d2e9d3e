package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

type streamOutput struct {
	Open   abi.StreamOpenResult `json:"open"`
	Events []abi.StreamEvent    `json:"events"`
}

func TestStreamSSE(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "want SSE", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, chunk := range []string{
			"data: first\n\n",
			": keep-alive comment\n\n",
			"event: delta\r\ndata: two\r\ndata: lines\r\n\r\n",
			"id: 7\nretry: 100\n\n", // no data: not dispatched
			"data:[DONE]\n\n",
		} {
			fmt.Fprint(w, chunk)
			f.Flush()
		}
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	var chunks []string
	ctx := WithCall(context.Background(), Call{OnChunk: func(c string) { chunks = append(chunks, c) }})
	in, _ := json.Marshal(abi.HTTPRequest{Method: "POST", URL: s.URL, Body: "{}"})
	out, err := h.Call(ctx, "net", "stream", in)
	if err != nil {
		t.Fatal(err)
	}
	var got streamOutput
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Open.Status != 200 || got.Open.Handle == 0 {
		t.Fatalf("open = %+v", got.Open)
	}
	want := []string{"first", "two\nlines", "[DONE]"}
	if strings.Join(chunks, "|") != strings.Join(want, "|") {
		t.Errorf("chunks = %q, want %q", chunks, want)
	}
	if len(got.Events) != 4 || got.Events[1].Event != "delta" || !got.Events[3].EOF {
		t.Errorf("events = %+v", got.Events)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then nothing, until the client gives up
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "http_timeout = \"300ms\"", nil)
	in, _ := json.Marshal(abi.HTTPRequest{URL: s.URL})
	out, err := h.Call(context.Background(), "net", "stream", in)
	if err != nil {
		t.Fatal(err)
	}
	var got streamOutput
	_ = json.Unmarshal(out, &got)
	if len(got.Events) != 2 || got.Events[0].Data != "one" || got.Events[1].Error == nil ||
		got.Events[1].Error.Code != abi.ErrTimeout || !strings.Contains(got.Events[1].Error.Message, "300ms") {
		t.Fatalf("events = %+v", got.Events)
	}
}

func TestStreamErrorStatusGivesBody(t *testing.T) {
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"bad key"}`)
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	in, _ := json.Marshal(abi.HTTPRequest{URL: s.URL})
	out, err := h.Call(context.Background(), "net", "stream", in)
	if err != nil {
		t.Fatal(err)
	}
	var got streamOutput
	_ = json.Unmarshal(out, &got)
	if got.Open.Status != 401 || got.Open.Handle != 0 || got.Open.Body != `{"error":"bad key"}` || len(got.Events) != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestStreamToUngrantedHost(t *testing.T) {
	h, _ := netHost(t, true, []string{"api.example.com:443"}, "", nil)
	in, _ := json.Marshal(abi.HTTPRequest{URL: "http://127.0.0.1:1/"})
	out, err := h.Call(context.Background(), "net", "stream", in)
	if err != nil {
		t.Fatal(err)
	}
	var got streamOutput
	_ = json.Unmarshal(out, &got)
	if got.Open.Error == nil || got.Open.Error.Code != abi.ErrDenied {
		t.Fatalf("got %+v", got.Open)
	}
}

// A plugin that leaves a stream open does not leave the connection open:
// the host closes it when the call ends.
func TestStreamClosedByHostAtCallEnd(t *testing.T) {
	gone := make(chan struct{})
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client went away
		close(gone)
	})
	h, _ := netHost(t, true, []string{hostPort(t, s)}, "", nil)
	in, _ := json.Marshal(abi.HTTPRequest{URL: s.URL})
	if _, err := h.Call(context.Background(), "net", "stream_leak", in); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(20 * time.Second):
		t.Fatal("the leaked stream's connection is still open after the call ended")
	}
}

func TestBulkBlobRoundTrip(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", "[plugins.openai.limits]\nmax_response_bytes = 2097152"), nil)
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	blobs := NewBlobs()
	in := blobs.Put(payload)
	ctx := WithCall(context.Background(), Call{Blobs: blobs})
	out, err := h.Call(ctx, "openai", "bulk_echo", []byte(strconv.FormatInt(in, 10)))
	if err != nil {
		t.Fatal(err)
	}
	handle, _ := strconv.ParseInt(string(out), 10, 64)
	got, ok := blobs.Get(handle)
	if !ok || handle == in || !bytes.Equal(got, payload) {
		t.Fatalf("blob %d back: %d bytes, equal=%v", handle, len(got), bytes.Equal(got, payload))
	}
	// Empty blobs work too.
	in = blobs.Put(nil)
	out, err = h.Call(ctx, "openai", "bulk_echo", []byte(strconv.FormatInt(in, 10)))
	if err != nil {
		t.Fatal(err)
	}
	handle, _ = strconv.ParseInt(string(out), 10, 64)
	if got, ok := blobs.Get(handle); !ok || len(got) != 0 {
		t.Fatalf("empty blob: %v %d", ok, len(got))
	}
}

func TestBulkBlobLimits(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", "[plugins.openai.limits]\nmax_response_bytes = 65536"), nil)
	blobs := NewBlobs()
	ctx := WithCall(context.Background(), Call{Blobs: blobs})
	// A plugin may not create blobs past its max_response_bytes.
	in := blobs.Put(make([]byte, 70000))
	_, err := h.Call(ctx, "openai", "bulk_echo", []byte(strconv.FormatInt(in, 10)))
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrDenied {
		t.Fatalf("oversized blob_create: %v", err)
	}
	// Pointers outside the guest's memory are refused, not a host crash.
	out, err := h.Call(ctx, "openai", "bulk_bad", nil)
	if err != nil || string(out) != "-1" {
		t.Fatalf("bulk_bad = %q, %v", out, err)
	}
	// Unknown handles.
	_, err = h.Call(ctx, "openai", "bulk_echo", []byte("999"))
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrBadRequest {
		t.Fatalf("unknown handle: %v", err)
	}
}
