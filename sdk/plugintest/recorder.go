package plugintest

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// Request is one HTTP request a fake provider got, as a test checks what
// a plugin sent.
type Request struct {
	Method, Path, Query string      // Query is the raw query, without "?"
	Header              http.Header // a copy
	Body                map[string]any
}

// Recorder keeps the requests a fake provider's handler got, so a test
// can check what the plugin sent (method, path, headers, JSON body).
// Embed it in the fake and call Record first in ServeHTTP. The zero value
// is ready; it is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	requests []Request
}

// Record reads r's body, records the request and returns it. A body that
// is not JSON fails the test through tb.Errorf: a provider plugin sends
// JSON.
func (rec *Recorder) Record(tb testing.TB, r *http.Request) Request {
	raw, _ := io.ReadAll(r.Body)
	seen := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &seen.Body); err != nil {
			tb.Errorf("the plugin sent a body that is not JSON: %s", raw)
		}
	}
	rec.mu.Lock()
	rec.requests = append(rec.requests, seen)
	rec.mu.Unlock()
	return seen
}

// Count is how many requests were recorded.
func (rec *Recorder) Count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

// Last is the latest request; it fails the test through tb.Fatal when
// there was none.
func (rec *Recorder) Last(tb testing.TB) Request {
	tb.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.requests) == 0 {
		tb.Fatal("the fake provider got no request")
	}
	return rec.requests[len(rec.requests)-1]
}

// WriteJSON answers v as a JSON body, as providers do.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
