package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

func TestReloadSwapsAndKeepsInFlightCalls(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "slow answer")
	})
	base := fmt.Sprintf(`
[plugins.net]
path = "{echo}"
key_slot = "net"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = [%q]
allow_private = true
`, hostPort(t, s))
	h, _ := testHost(t, base, nil)
	old := h.current.Load()

	// A call in flight on the old set...
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		in, _ := json.Marshal(abi.HTTPRequest{URL: s.URL})
		out, err := h.Call(context.Background(), "net", "http", in)
		done <- result{out, err}
	}()
	<-started

	// ...while the config gains a plugin.
	if err := h.Reload(context.Background(), parseTestConfig(t, base+echoEntry("second", ""))); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if st := statusOf(t, h, "second"); st.State != StateLoaded {
		t.Fatalf("second after reload: %+v", st)
	}
	out, err := h.Call(context.Background(), "second", "echo", []byte("new set"))
	if err != nil || string(out) != "new set" {
		t.Fatalf("call on the new set: %q, %v", out, err)
	}
	if !old.pluginsOpen() {
		t.Fatal("the old set was closed under a running call")
	}

	close(release)
	r := <-done
	var resp abi.HTTPResponse
	_ = json.Unmarshal(r.out, &resp)
	if r.err != nil || resp.Body != "slow answer" {
		t.Fatalf("in-flight call across reload: %+v, %v", resp, r.err)
	}
	// Once the last call left, the old set is closed.
	waitFor(t, func() bool { return !old.pluginsOpen() })
}

func TestReloadRefusesBrokenConfig(t *testing.T) {
	h, _ := testHost(t, echoEntry("openai", ""), nil)
	before := h.current.Load()

	broken := echoEntry("openai", "") + `
[plugins.bad]
path = "{wrongabi}"
capabilities = ["llm.chat"]
`
	err := h.Reload(context.Background(), parseTestConfig(t, broken))
	if err == nil || !strings.Contains(err.Error(), "running plugins stay") || !strings.Contains(err.Error(), "bad: it was built for plugin ABI v2") {
		t.Fatalf("Reload(broken) = %v", err)
	}
	if h.current.Load() != before {
		t.Fatal("a broken config replaced the running set")
	}
	out, err := h.Call(context.Background(), "openai", "echo", []byte("still"))
	if err != nil || string(out) != "still" {
		t.Fatalf("old set after a refused reload: %q, %v", out, err)
	}
	// Bad TOML never gets as far as Reload: LoadConfig says why.
	if _, err := ParseConfig([]byte("[plugins.x\npath="), ""); err == nil {
		t.Fatal("bad TOML parsed")
	}
}

func TestCloseRefusesNewCalls(t *testing.T) {
	cfg := parseTestConfig(t, echoEntry("openai", ""))
	h, err := NewHost(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	set := h.current.Load()
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if set.pluginsOpen() {
		t.Error("Close left compiled plugins open")
	}
	_, err = h.Call(context.Background(), "openai", "echo", nil)
	if err == nil || !strings.Contains(err.Error(), "shut down") {
		t.Fatalf("call after Close: %v", err)
	}
	if err := h.Reload(context.Background(), cfg); err == nil {
		t.Fatal("Reload after Close succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewHostErrors(t *testing.T) {
	if _, err := NewHost(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "no plugin config") {
		t.Errorf("no config: %v", err)
	}
	// A cache directory that cannot be created stops the start with a reason.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parseTestConfig(t, echoEntry("openai", ""))
	cfg.Runtime.CacheDir = filepath.Join(file, "cache")
	if _, err := NewHost(context.Background(), Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "cache_dir") {
		t.Errorf("bad cache dir: %v", err)
	}
	// Closing twice is harmless.
	h, err := NewHost(context.Background(), Options{Config: parseTestConfig(t, echoEntry("openai", ""))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
