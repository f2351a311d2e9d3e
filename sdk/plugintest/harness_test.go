package plugintest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

var probeWasm string

// TestMain builds the probe once with BuildForMain, which every test here
// then proves by loading probeWasm.
func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, "testdata/probe", &probeWasm)) }

// result mirrors the probe plugin's Result.
type result struct {
	Key     string            `json:"key"`
	HasKey  bool              `json:"has_key"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Events  []abi.StreamEvent `json:"events"`
	Config  string            `json:"config"`
	Blob    int64             `json:"blob"`
}

func probe(t *testing.T, h *plugintest.Harness, op map[string]any) (result, plugintest.Result) {
	t.Helper()
	res := h.Call("probe", op)
	if res.Trap != nil {
		t.Fatalf("probe %v trapped: %v\n%s", op, res.Trap, res.Stderr)
	}
	var r result
	if res.Err == nil {
		if err := json.Unmarshal(res.Output, &r); err != nil {
			t.Fatalf("probe output: %v: %s", err, res.Output)
		}
	}
	return r, res
}

func TestMarkerDescribeAndConfig(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{Config: map[string]string{"base_url": "http://127.0.0.1:1"}})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatalf("a plugin built with the sdk must export %s", abi.MarkerExport)
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "probe" || !d.NeedsKey {
		t.Fatalf("describe = %+v", d)
	}
	r, _ := probe(t, h, map[string]any{"do": "config", "text": "base_url"})
	if r.Config != "http://127.0.0.1:1" {
		t.Fatalf("config base_url = %q", r.Config)
	}
}

func TestKeysAreScopedToUserAndSlot(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{Key: "sk-alice", Keys: map[string]string{"bob": "sk-bob"}, Slot: "openrouter"})
	for user, want := range map[string]string{plugintest.DefaultUser: "sk-alice", "bob": "sk-bob", "carol": ""} {
		r, _ := probe(t, h.As(user), map[string]any{"do": "key"})
		if r.Key != want || r.HasKey != (want != "") {
			t.Errorf("%s got key %q (has=%v), want %q", user, r.Key, r.HasKey, want)
		}
	}
	for slot, want := range map[string]string{"openrouter": "sk-alice", "openai": ""} {
		res := h.Call("key_for_slot", strconvQuote(slot))
		var r result
		if res.Err != nil || json.Unmarshal(res.Output, &r) != nil {
			t.Fatalf("key_for_slot: %+v", res)
		}
		if r.Key != want {
			t.Errorf("slot %q gave %q, want %q", slot, r.Key, want)
		}
	}
}

func TestHTTPInjectsAuthAndReturnsResponse(t *testing.T) {
	var gotAuth, gotKey, gotBody, gotCT string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey, gotCT = r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("X-Request-Id", "req-7")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("Grüße ✓"))
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{Key: "sk-secret"})

	r, res := probe(t, h, map[string]any{"do": "http", "request": abi.HTTPRequest{
		Method: "POST", URL: srv.URL + "/v1/x", Body: `{"a":1}`,
		Headers: map[string]string{"Content-Type": "application/json"}, Auth: &abi.Auth{},
	}})
	if res.Err != nil {
		t.Fatalf("http failed: %v", res.Err)
	}
	if gotAuth != "Bearer sk-secret" || gotBody != `{"a":1}` || gotCT != "application/json" {
		t.Fatalf("server saw auth %q body %q content-type %q", gotAuth, gotBody, gotCT)
	}
	if r.Status != http.StatusTeapot || r.Body != "Grüße ✓" || r.Headers["x-request-id"] != "req-7" {
		t.Fatalf("plugin saw %+v", r)
	}

	_, res = probe(t, h, map[string]any{"do": "http", "request": abi.HTTPRequest{
		URL: srv.URL, Auth: &abi.Auth{Header: "x-api-key", Scheme: "-"},
	}})
	if res.Err != nil || gotKey != "sk-secret" || gotAuth != "" {
		t.Fatalf("bare key injection: err %v, x-api-key %q, authorization %q", res.Err, gotKey, gotAuth)
	}
}

func TestHTTPRefusals(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	h := plugintest.New(t, probeWasm, plugintest.Options{AllowedHosts: []string{host}})

	cases := []struct {
		name, url string
		auth      bool
		code      string
	}{
		{"no key for auth", srv.URL + "/x", true, abi.ErrNoKey},
		{"non-loopback host", "http://example.invalid/x", false, abi.ErrDenied},
		{"loopback host not listed", "http://127.0.0.1:1/x", false, abi.ErrDenied},
		{"redirect off the list", srv.URL + "/redirect", false, abi.ErrDenied},
		{"not http", "file:///etc/passwd", false, abi.ErrDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := abi.HTTPRequest{URL: c.url}
			if c.auth {
				req.Auth = &abi.Auth{}
			}
			_, res := probe(t, h, map[string]any{"do": "http", "request": req})
			if res.Err == nil || res.Err.Code != c.code {
				t.Fatalf("got %+v, want code %s", res.Err, c.code)
			}
		})
	}
	if hits != 1 { // only the redirect reached the server
		t.Fatalf("server got %d requests, want 1 (the redirect)", hits)
	}
}

func TestStreamDeliversEventsAsTheyArrive(t *testing.T) {
	seen := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-s" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"bad key"}`))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i, ev := range []string{": keep-alive\n\ndata: one\n\n", "event: delta\ndata: two\r\ndata: lines\r\n\r\n", "id: 3\ndata: [DONE]\n\n"} {
			_, _ = w.Write([]byte(ev))
			fl.Flush()
			if i < 2 {
				// Wait until the plugin has emitted this event before
				// sending the next: text must reach the user while the
				// response is still open, not after it ends.
				select {
				case <-seen:
				case <-time.After(10 * time.Second):
					t.Errorf("event %d was not emitted before the stream went on", i)
					return
				}
			}
		}
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{Key: "sk-s", OnChunk: func(_, c string) { seen <- c }})

	r, res := probe(t, h, map[string]any{"do": "stream", "request": abi.HTTPRequest{Method: "POST", URL: srv.URL, Auth: &abi.Auth{}}})
	if res.Err != nil {
		t.Fatalf("stream: %v", res.Err)
	}
	want := []abi.StreamEvent{{Data: "one"}, {Event: "delta", Data: "two\nlines"}, {Data: "[DONE]"}}
	if fmt.Sprint(r.Events) != fmt.Sprint(want) {
		t.Fatalf("events = %+v, want %+v", r.Events, want)
	}
	if got := strings.Join(res.Chunks, "|"); got != "ONE|TWO\nLINES|[DONE]" {
		t.Fatalf("chunks = %q", got)
	}

	h2 := plugintest.New(t, probeWasm, plugintest.Options{Key: "wrong"})
	r, res = probe(t, h2, map[string]any{"do": "stream", "request": abi.HTTPRequest{URL: srv.URL, Auth: &abi.Auth{}}})
	if res.Err != nil || r.Status != http.StatusUnauthorized || r.Body != `{"error":"bad key"}` || len(r.Events) != 0 {
		t.Fatalf("a 401 stream must give status and body, no events: %+v %v", r, res.Err)
	}
}

func TestHostClosesStreamsLeftOpen(t *testing.T) {
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: hello\n\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream stays open until the client goes
		close(closed)
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	// The probe reads events until EOF, which never comes: the server
	// goes quiet after one event, so the stream's idle timeout (the
	// request's timeout_ms) ends it, and the host must hang up.
	_, res := probe(t, h, map[string]any{"do": "stream", "leave_open": true, "request": abi.HTTPRequest{URL: srv.URL, TimeoutMS: 300}})
	if res.Err == nil || res.Err.Code != abi.ErrTimeout {
		t.Fatalf("a stream past its timeout must end with a timeout error, got %+v", res.Err)
	}
	if got := strings.Join(res.Chunks, "|"); got != "HELLO" {
		t.Fatalf("chunks before the timeout = %q", got)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the host never closed the stream the plugin left open")
	}
}

// Spent tokens are recorded; a record the host rejects becomes a warning
// in the log, and the call itself still succeeds.
func TestRecordSpentUsage(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	if _, res := probe(t, h, map[string]any{"do": "spent", "usage": abi.Usage{Kind: "text", Model: "m", OutputTokens: 7}}); res.Err != nil {
		t.Fatalf("spent: %v", res.Err)
	}
	if u := h.Usage(); len(u) != 1 || u[0].OutputTokens != 7 || len(h.Logs()) != 0 {
		t.Fatalf("usage = %+v, logs = %+v", u, h.Logs())
	}
	if _, res := probe(t, h, map[string]any{"do": "spent", "usage": abi.Usage{Kind: "gold", InputTokens: 1}}); res.Err != nil {
		t.Fatalf("a rejected record must not fail the call: %v", res.Err)
	}
	l := h.Logs()
	if len(h.Usage()) != 1 || len(l) != 1 || l[0].Level != abi.LogWarn || l[0].Message != "the host rejected a usage record" ||
		!strings.Contains(l[0].Attrs["error"], "rejected") {
		t.Fatalf("usage = %+v, logs = %+v", h.Usage(), l)
	}
}

func TestUsageLogsEmitAndErrors(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	_, res := probe(t, h.As("bob"), map[string]any{"do": "usage", "usage": abi.Usage{Kind: "text", Model: "m", InputTokens: 10, OutputTokens: 5}})
	if res.Err != nil {
		t.Fatalf("usage: %v", res.Err)
	}
	_, res = probe(t, h, map[string]any{"do": "usage", "usage": abi.Usage{Kind: "gold", InputTokens: 1}})
	if res.Err == nil || !strings.Contains(res.Err.Message, "rejected") {
		t.Fatalf("an unknown usage kind must be rejected, got %+v", res.Err)
	}
	u := h.Usage()
	if len(u) != 1 || u[0].User != "bob" || u[0].InputTokens != 10 || u[0].OutputTokens != 5 || u[0].Model != "m" {
		t.Fatalf("usage = %+v", u)
	}

	probe(t, h, map[string]any{"do": "log", "text": "hello", "attrs": map[string]string{"model": "m"}})
	if l := h.Logs(); len(l) != 1 || l[0].Message != "hello" || l[0].Level != abi.LogInfo || l[0].Attrs["model"] != "m" {
		t.Fatalf("logs = %+v", l)
	}
	probe(t, h, map[string]any{"do": "emit", "text": "a b  c"})
	if c := h.Chunks(); strings.Join(c, ",") != "a,b,c" {
		t.Fatalf("chunks = %q", c)
	}

	want := abi.Error{Code: abi.ErrRateLimited, Message: "slow down", Retryable: true, HTTPStatus: 429}
	_, res = probe(t, h, map[string]any{"do": "fail", "error": want})
	if res.RC != 1 || res.Err == nil || *res.Err != want {
		t.Fatalf("typed error = rc %d %+v, want %+v", res.RC, res.Err, want)
	}

	_, res = probe(t, h, map[string]any{"do": "panic"})
	if res.Err == nil || res.Err.Code != abi.ErrInternal || !strings.Contains(res.Err.Message, "panic") {
		t.Fatalf("a panic must become an internal error, got %+v", res.Err)
	}
	res = h.Call("probe", "{not json")
	if res.Err == nil || res.Err.Code != abi.ErrBadRequest {
		t.Fatalf("bad input must be bad_request, got %+v / %v", res.Err, res.Trap)
	}
	if r, _ := probe(t, h, map[string]any{"do": "key"}); r.HasKey {
		t.Fatal("the instance after failures must still answer (and there is no key)")
	}
	h.Reset()
	if len(h.Usage())+len(h.Logs())+len(h.Chunks()) != 0 {
		t.Fatal("Reset must forget records")
	}
}

func TestMissingExportIsATrap(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	res := h.Call("validate_key", nil)
	if res.Trap == nil || res.Err != nil {
		t.Fatalf("calling an export the plugin lacks must be a trap, got %+v", res)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestBlobsCrossWithoutKernelMemory(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "audio/ogg")
		_, _ = w.Write(append([]byte("OggS\x00\xff"), got...))
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	text := strings.Repeat("Grüße ✓ ", 20000) // ~200 KB each way
	r, res := probe(t, h, map[string]any{"do": "blob", "text": text, "request": abi.HTTPRequest{Method: "POST", URL: srv.URL}})
	if res.Err != nil {
		t.Fatalf("blob round trip: %v", res.Err)
	}
	if string(got) != text {
		t.Fatalf("the server got %d bytes, want the %d-byte blob", len(got), len(text))
	}
	want := "OggS\x00\xff" + text
	// The probe returns the bytes it read as a JSON string, where the one
	// invalid byte (0xff) becomes U+FFFD.
	if r.Status != 200 || r.Body != strings.ToValidUTF8(want, "\uFFFD") {
		t.Fatalf("plugin read back %d bytes (status %d)", len(r.Body), r.Status)
	}
	if b := res.Blobs[r.Blob]; string(b) != want {
		t.Fatalf("the response blob holds %d bytes, want %d", len(b), len(want))
	}

	small := plugintest.New(t, probeWasm, plugintest.Options{MaxResponseBytes: 1024})
	_, res = probe(t, small, map[string]any{"do": "blob", "text": strings.Repeat("x", 2000), "request": abi.HTTPRequest{URL: srv.URL}})
	if res.Err == nil || res.Err.Code != abi.ErrDenied {
		t.Fatalf("a blob over the budget must be denied, got %+v", res.Err)
	}
}

// TestLargeBodiesArriveWhole sends request bodies big enough for the SDK to
// pass them as blobs, and one over the call's blob budget (passed inline
// instead): the provider must get every byte either way.
func TestLargeBodiesArriveWhole(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: ok\n\n"))
	}))
	defer srv.Close()
	// About 6 KiB; the budgets are the default one and one the body does not fit.
	body := strings.Repeat(`{"content":"line\nbreak \"quoted\" <b> Grüße ✓ 😀"}`, 120)
	for _, maxBytes := range []int64{0, 1024} {
		h := plugintest.New(t, probeWasm, plugintest.Options{MaxResponseBytes: maxBytes})
		bodies = nil
		for _, do := range []string{"http", "stream"} {
			_, res := probe(t, h, map[string]any{"do": do, "request": abi.HTTPRequest{Method: "POST", URL: srv.URL, Body: body}})
			if res.Err != nil {
				t.Fatalf("%s with budget %d: %v", do, maxBytes, res.Err)
			}
		}
		if len(bodies) != 2 || bodies[0] != body || bodies[1] != body {
			t.Fatalf("budget %d: the provider got %d bodies, first %d bytes, want 2 of %d", maxBytes, len(bodies), len(firstOr(bodies)), len(body))
		}
	}
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestLargeResponsesArriveWhole reads responses big enough for the SDK to
// free their kernel blocks as soon as it has read them.
func TestLargeResponsesArriveWhole(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(big))
	}))
	defer srv.Close()
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	for range 2 {
		r, res := probe(t, h, map[string]any{"do": "http", "request": abi.HTTPRequest{URL: srv.URL}})
		if res.Err != nil || r.Body != big {
			t.Fatalf("got %d bytes back (%v), want %d", len(r.Body), res.Err, len(big))
		}
	}
}
