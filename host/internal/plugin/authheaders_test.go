package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// headerRecorder is a provider fake that remembers the headers of the last
// request it got.
type headerRecorder struct {
	mu   sync.Mutex
	last http.Header
}

func (r *headerRecorder) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.last = req.Header.Clone()
	r.mu.Unlock()
}

func (r *headerRecorder) get(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.Get(name)
}

// authHost starts the echo plugin as "net" with extra entry lines.
func authHost(t *testing.T, hostPort, extra string, keys KeySource) *Host {
	t.Helper()
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.net]
path = "{echo}"
key_slot = "net"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
%s
`, hostPort, extra), keys)
	return h
}

// The key goes only into the auth headers plugins.toml names (default
// Authorization): never into User-Agent, Referer or any header the plugin
// picks. A plugin's own header of that name is replaced.
func TestAuthHeaderAllowList(t *testing.T) {
	rec := &headerRecorder{}
	s, hits := newServer(t, rec.handle)
	keys := &MemoryKeys{}
	keys.Set("u1", "net", "sk-user1-header-key")
	ctx := WithCall(context.Background(), Call{UserID: "u1"})

	h := authHost(t, hostPort(t, s), "", keys)
	resp := doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Headers: map[string]string{"authorization": "plugin's own"}, Auth: &abi.Auth{}})
	if resp.Error != nil || rec.get("Authorization") != "Bearer sk-user1-header-key" {
		t.Fatalf("default Authorization: %+v, header %q", resp, rec.get("Authorization"))
	}
	before := hits.hits.Load()
	for _, header := range []string{"User-Agent", "referer", "x-api-key", "Cookie"} {
		resp := doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Auth: &abi.Auth{Header: header, Scheme: "-"}})
		if resp.Error == nil || resp.Error.Code != abi.ErrDenied || !strings.Contains(resp.Error.Message, "auth_headers") {
			t.Errorf("key into %s: %+v, want denied naming auth_headers", header, resp)
		}
	}
	if resp := doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Auth: &abi.Auth{Scheme: "Bearer\r\nX-Evil: 1"}}); resp.Error == nil || resp.Error.Code != abi.ErrBadRequest {
		t.Errorf("scheme with a line break: %+v, want bad_request", resp)
	}
	if hits.hits.Load() != before {
		t.Errorf("a refused injection still reached the server")
	}

	// A grant naming x-api-key allows it (and only what it names).
	h = authHost(t, hostPort(t, s), `auth_headers = ["x-api-key"]`, keys)
	resp = doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Headers: map[string]string{"X-API-KEY": "plugin's own"}, Auth: &abi.Auth{Header: "x-api-key", Scheme: "-"}})
	if resp.Error != nil || rec.get("X-Api-Key") != "sk-user1-header-key" {
		t.Fatalf("granted x-api-key: %+v, header %q", resp, rec.get("X-Api-Key"))
	}
	if resp := doHTTP(t, h, ctx, abi.HTTPRequest{URL: s.URL, Auth: &abi.Auth{}}); resp.Error == nil || resp.Error.Code != abi.ErrDenied {
		t.Errorf("Authorization when only x-api-key is granted: %+v", resp)
	}
}

func TestAuthHeadersConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[plugins.a]
path = "a.wasm"
[plugins.b]
path = "b.wasm"
auth_headers = ["x-goog-api-key", "authorization"]
[plugins.c]
path = "c.wasm"
auth_headers = ["Host", "Proxy-Authorization", "bad header"]
[plugins.c.limits]
max_requests_per_call = 0
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Plugins["a"].AuthHeaders; len(got) != 1 || got[0] != "Authorization" {
		t.Errorf("default auth_headers = %q", got)
	}
	if got := cfg.Plugins["a"].Limits.MaxRequests; got != DefaultMaxRequests {
		t.Errorf("default max_requests_per_call = %d", got)
	}
	if got := cfg.Plugins["b"].AuthHeaders; strings.Join(got, ",") != "X-Goog-Api-Key,Authorization" {
		t.Errorf("auth_headers = %q", got)
	}
	prob := fmt.Sprint(cfg.Plugins["c"].Problem())
	for _, want := range []string{`"Host" cannot carry a key`, `"Proxy-Authorization" cannot carry a key`, `"bad header" is not a header name`, "max_requests_per_call = 0 is outside 1..1000"} {
		if !strings.Contains(prob, want) {
			t.Errorf("problem %q lacks %q", prob, want)
		}
	}
}

// One call cannot make more than max_requests_per_call requests with the
// user's key: the 17th and later are refused before they are sent.
func TestHostileRequestFlood(t *testing.T) {
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	keys := &MemoryKeys{}
	keys.Set("u1", "intruder", "sk-flood-key-123456")
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.intruder]
path = %q
key_slot = "intruder"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
`, intruderPath(t), hostPort(t, s)), keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})
	in, _ := json.Marshal(map[string]any{"n": 300, "url": s.URL, "auth": map[string]string{}})
	out, err := h.Call(ctx, "intruder", "hammer", in)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Answered  int    `json:"answered"`
		LastError string `json:"last_error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.Answered != DefaultMaxRequests || hits.hits.Load() != DefaultMaxRequests {
		t.Errorf("%d answered, %d reached the server; want the cap of %d", res.Answered, hits.hits.Load(), DefaultMaxRequests)
	}
	if !strings.Contains(res.LastError, "max_requests_per_call") || !strings.Contains(res.LastError, `"denied"`) {
		t.Errorf("last error = %s", res.LastError)
	}
	// The cap is per call.
	in, _ = json.Marshal(map[string]any{"n": 2, "url": s.URL})
	if out, err := h.Call(ctx, "intruder", "hammer", in); err != nil || !strings.Contains(string(out), `"answered":2`) {
		t.Errorf("next call: %s, %v", out, err)
	}
}
