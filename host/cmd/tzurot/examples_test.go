package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The promise to plugin authors: a provider built outside this repository's plugins/ folder, in Go
// with only the SDK or in AssemblyScript, is loaded by the unchanged host binary. This test builds
// the real tzurot binary once, then points its plugins.toml at the two examples and calls them.
func TestUnchangedBinaryLoadsThirdPartyPlugins(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tzurot")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build tzurot: %v\n%s", err, out)
	}
	goWasm := filepath.Join(dir, "reverse.wasm")
	if err := plugintest.BuildTo(filepath.Join(root, "examples/go-provider"), goWasm); err != nil {
		t.Fatal(err)
	}
	asWasm := filepath.Join(root, "examples/as-provider/as-provider.wasm")
	if _, err := os.Stat(asWasm); err != nil {
		t.Fatalf("%s is missing: run `make examples` (make test does it first): %v", asWasm, err)
	}
	// The AssemblyScript example is an OpenAI-compatible provider: it
	// reaches this fake on 127.0.0.1 through the host, with the key the
	// host injects.
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-example-user-key" {
			http.Error(w, `{"error":{"message":"wrong path or key"}}`, http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"model":"fake-1","choices":[{"message":{"content":"Grüße ✓"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":7,"completion_tokens":2}}`)
	}))
	defer provider.Close()
	hostPort := strings.TrimPrefix(provider.URL, "http://")
	toml := `
[runtime]
cache_dir = "cache"

[plugins.reverse]
path = "reverse.wasm"
key_slot = "reverse"
capabilities = ["llm.chat", "llm.validate_key"]

[plugins.as-provider]
path = "` + asWasm + `"
key_slot = "as"
capabilities = ["llm.chat"]
allowed_hosts = ["` + hostPort + `"]
allow_private = true
[plugins.as-provider.config]
base_url = "` + provider.URL + `/v1"
`
	cfg := filepath.Join(dir, "plugins.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TZUROT_PLUGIN_KEY=sk-example-user-key", "LOG_FORMAT=json")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tzurot %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	list, _ := run("plugins", "list", "--config", cfg)
	for _, want := range []string{"reverse", "as-provider"} {
		if !strings.Contains(list, want) || strings.Contains(list, want+" refused") {
			t.Errorf("plugins list does not show %s loaded:\n%s", want, list)
		}
	}

	out, usage := run("plugins", "call", "reverse", "chat", "--config", cfg,
		"--input", `{"model":"m","messages":[{"role":"user","content":"hello plugin world"}]}`)
	if !strings.Contains(out, "dlrow nigulp olleh") {
		t.Errorf("the Go example's reply is not the reversed message:\n%s", out)
	}
	if !strings.Contains(usage, `"input_tokens":3`) {
		t.Errorf("the Go example's usage was not reported:\n%s", usage)
	}

	out, usage = run("plugins", "call", "as-provider", "chat", "--config", cfg,
		"--input", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if !strings.Contains(out, `"content": "Grüße ✓"`) {
		t.Errorf("the AssemblyScript example's reply lost text:\n%s", out)
	}
	if !strings.Contains(usage, `"input_tokens":7,"output_tokens":2`) {
		t.Errorf("the AssemblyScript example's usage was not reported:\n%s", usage)
	}
}
