// Package asprovider holds the Go test of the AssemblyScript example; the
// plugin itself is assembly/provider.ts and assembly/abi.ts, built by
// `make examples` (or by this test when the .wasm is missing and npm is
// installed).
package asprovider

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

const wasmFile = "as-provider.wasm"

// ensureBuilt builds the plugin the way `make examples` does when the
// .wasm is missing, so `go test ./examples/...` works on its own.
func ensureBuilt(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(wasmFile); err == nil {
		return
	}
	steps := [][]string{{"npm", "run", "--silent", "build"}}
	if !installed() {
		steps = append([][]string{{"npm", "ci", "--no-audit", "--no-fund"}}, steps...)
	}
	for _, s := range steps {
		out, err := exec.Command(s[0], s[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s is missing and `%s` failed (run `make examples`; it needs Node.js and npm): %v\n%s",
				wasmFile, strings.Join(s, " "), err, out)
		}
	}
}

// installed says whether node_modules matches package-lock.json, as the
// Makefile decides it: npm writes node_modules/.package-lock.json on install.
func installed() bool {
	mods, err := os.Stat("node_modules/.package-lock.json")
	if err != nil {
		return false
	}
	lock, err := os.Stat("package-lock.json")
	return err == nil && mods.ModTime().After(lock.ModTime())
}

// fakeProvider is an OpenAI-compatible chat completions API on 127.0.0.1.
// It answers with reply (a JSON body) and status, and keeps what it was
// sent so a test can check the plugin's request.
type fakeProvider struct {
	mu     sync.Mutex
	status int
	reply  string
	got    []sentRequest
}

type sentRequest struct {
	Path, Auth, ContentType string
	Body                    map[string]any
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	f.got = append(f.got, sentRequest{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
	status, reply := f.status, f.reply
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

func (f *fakeProvider) answer(status int, reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.reply, f.got = status, reply, nil
}

func (f *fakeProvider) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func (f *fakeProvider) sent(t *testing.T) sentRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != 1 {
		t.Fatalf("the provider got %d requests, want 1", len(f.got))
	}
	return f.got[0]
}

// A real reply of OpenAI's shape, with members the plugin does not know
// (id, object, refusal, logprobs, prompt_tokens_details) and non-ASCII,
// quoted and escaped text.
const okReply = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test-2024",
 "system_fingerprint":null,
 "choices":[{"index":0,"message":{"role":"assistant","content":"Grüße ✓ \"quoted\" \ud83d\ude00\ttab","refusal":null},
   "logprobs":null,"finish_reason":"stop"}],
 "usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42,
   "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":20}}}`

func newHarness(t testing.TB, fake *fakeProvider) *plugintest.Harness {
	t.Helper()
	ensureBuilt(t)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return plugintest.New(t, wasmFile, plugintest.Options{
		Config: map[string]string{"base_url": srv.URL + "/v1", "default_model": "gpt-default"},
		Key:    "sk-test-as",
	})
}

func TestAssemblyScriptProvider(t *testing.T) {
	fake := &fakeProvider{}
	h := newHarness(t, fake)
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("the ABI marker must be exported")
	}
	if d := h.Describe(); d.ABI != abi.Version || d.Name != "as-provider" || !d.NeedsKey || !d.NeedsNetwork ||
		len(d.Capabilities) != 1 || d.Capabilities[0] != abi.CapChat {
		t.Fatalf("describe = %+v", d)
	}

	fake.answer(200, okReply)
	maxTokens := 50
	resp, e := h.Chat(abi.ChatRequest{Model: "gpt-test", MaxTokens: &maxTokens, Messages: []abi.Message{
		{Role: abi.RoleSystem, Content: "You are terse."},
		{Role: abi.RoleUser, Content: "Grüße \"hi\"", Name: "alice"},
	}})
	if e != nil {
		t.Fatal(e)
	}
	if want := "Grüße ✓ \"quoted\" 😀\ttab"; resp.Content != want || resp.Model != "gpt-test-2024" || resp.FinishReason != "stop" {
		t.Fatalf("response = %+v, want content %q", resp, want)
	}
	// The request reached the provider with the key the host injected,
	// the messages as given and the output budget.
	got := fake.sent(t)
	if got.Path != "/v1/chat/completions" || got.Auth != "Bearer sk-test-as" || got.ContentType != "application/json" {
		t.Fatalf("provider got %+v", got)
	}
	msgs, _ := got.Body["messages"].([]any)
	if got.Body["model"] != "gpt-test" || got.Body["max_tokens"] != float64(50) || len(msgs) != 2 ||
		msgs[1].(map[string]any)["content"] != "Grüße \"hi\"" {
		t.Fatalf("provider body = %v", got.Body)
	}
	// Usage: recorded once and returned; output_tokens includes the
	// reasoning tokens, which are also reported on their own.
	want := abi.Usage{Kind: "text", Model: "gpt-test-2024", InputTokens: 12, OutputTokens: 30, ReasoningTokens: 20}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != want || resp.Usage != want {
		t.Fatalf("usage recorded %+v, in response %+v; want %+v", u, resp.Usage, want)
	}
	if l := h.Logs(); len(l) != 1 || l[0].Message != "answered with 30 output tokens" {
		t.Fatalf("logs = %+v", l)
	}

	// No model: the configured default; no max_tokens: none sent; a reply
	// whose content is null (a tool-only turn) is an empty content.
	fake.answer(200, `{"model":"gpt-default","choices":[{"message":{"content":null},"finish_reason":"length"}]}`)
	resp, e = h.Chat(abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleUser, Content: "hi"}}})
	if e != nil {
		t.Fatal(e)
	}
	if resp.Content != "" || resp.FinishReason != "length" || resp.Usage.InputTokens != 0 {
		t.Fatalf("response = %+v", resp)
	}
	if got := fake.sent(t); got.Body["model"] != "gpt-default" || got.Body["max_tokens"] != nil {
		t.Fatalf("provider body = %v", got.Body)
	}
}

func TestAssemblyScriptProviderErrors(t *testing.T) {
	fake := &fakeProvider{}
	h := newHarness(t, fake)
	req := abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleUser, Content: "hi"}}}

	for _, c := range []struct {
		status int
		code   string
	}{{401, abi.ErrInvalidKey}, {402, abi.ErrNoCredit}, {429, abi.ErrRateLimited}, {404, abi.ErrBadRequest}, {503, abi.ErrUnavailable}} {
		fake.answer(c.status, `{"error":{"message":"provider says no"}}`)
		_, e := h.Chat(req)
		if e == nil || e.Code != c.code || !strings.Contains(e.Message, "provider says no") {
			t.Errorf("status %d: error %+v, want code %s with the provider's message", c.status, e, c.code)
		}
	}

	// A user without a key: the host refuses to send the request and the
	// plugin passes the host's typed error on.
	fake.answer(200, okReply)
	if _, e := h.As("nokey").Chat(req); e == nil || e.Code != abi.ErrNoKey {
		t.Errorf("no key: %+v", e)
	}
	if n := fake.count(); n != 0 {
		t.Errorf("the provider got %d requests for a user without a key", n)
	}

	// A 200 that is not JSON: json-as aborts, the plugin logs why and
	// traps, and the host reports a failed call.
	fake.answer(200, "<html>bad gateway</html>")
	res := h.Call(abi.ChatExport, req)
	if res.Trap == nil {
		t.Fatalf("garbage from the provider: %+v, want a trap", res)
	}
	if len(res.Logs) != 1 || res.Logs[0].Level != abi.LogError || !strings.HasPrefix(res.Logs[0].Message, "abort: ") {
		t.Fatalf("logs = %+v, want the abort reason", res.Logs)
	}
	// The next call gets a fresh instance and works.
	fake.answer(200, okReply)
	if _, e := h.Chat(req); e != nil {
		t.Fatalf("after a trap: %+v", e)
	}
}
