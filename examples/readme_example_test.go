package examples

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The Go plugin in README.md's "Writing a plugin" is complete code: this
// test builds it exactly as written and runs it against a provider on
// 127.0.0.1, so the README cannot show code that does not compile or work.
func TestReadmeGoPluginBuildsAndRuns(t *testing.T) {
	blocks, inSection, err := readBlocks(filepath.Join("..", "README.md"), "## Writing a plugin")
	if err != nil {
		t.Fatal(err)
	}
	var src string
	for i, b := range blocks {
		if inSection[i] && strings.Contains(b.code, "//go:wasmexport chat") {
			src = b.code
			break
		}
	}
	if src == "" {
		t.Fatal(`README.md "Writing a plugin" has no Go plugin block`)
	}
	// Inside the module (testdata is never part of ./...) so its imports
	// resolve to this repository's SDK.
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.Remove("testdata") // only when empty
	})
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "mine.wasm")
	if err := plugintest.BuildTo(dir, wasm); err != nil {
		t.Fatalf("the README's Go plugin does not build:\n%v", err)
	}

	var mu sync.Mutex
	var gotAuth, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotAuth, gotBody = r.Header.Get("Authorization"), string(b)
		mu.Unlock()
		_, _ = io.WriteString(w, "hello from the provider")
	}))
	defer srv.Close()
	h := plugintest.New(t, wasm, plugintest.Options{Config: map[string]string{"base_url": srv.URL}, Key: "sk-readme"})
	if d := h.Describe(); d.Name != "mine" || !d.NeedsKey {
		t.Fatalf("describe = %+v", d)
	}
	resp, e := h.Chat(abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleUser, Content: "hi"}}})
	if e != nil {
		t.Fatal(e)
	}
	mu.Lock()
	defer mu.Unlock()
	if resp.Content != "hello from the provider" || gotAuth != "Bearer sk-readme" || gotBody != `{"text":"hi"}` {
		t.Fatalf("response %+v; provider got Authorization %q, body %q", resp, gotAuth, gotBody)
	}
	if u := h.Usage(); len(u) != 1 || u[0].InputTokens != 3 || u[0].OutputTokens != 5 {
		t.Fatalf("usage = %+v", u)
	}
}
