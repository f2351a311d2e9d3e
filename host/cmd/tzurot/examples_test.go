package main

import (
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
	toml := `
[runtime]
cache_dir = "cache"

[plugins.reverse]
path = "reverse.wasm"
key_slot = "reverse"
capabilities = ["llm.chat", "llm.validate_key"]

[plugins.as-echo]
path = "` + asWasm + `"
capabilities = ["llm.chat"]
[plugins.as-echo.config]
prefix = "Echo: "
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
	for _, want := range []string{"reverse", "as-echo"} {
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

	out, _ = run("plugins", "call", "as-echo", "chat", "--config", cfg,
		"--input", `{"model":"m","messages":[{"role":"user","content":"Grüße ✓"}]}`)
	if !strings.Contains(out, "Echo: Grüße ✓") {
		t.Errorf("the AssemblyScript example's reply lost text:\n%s", out)
	}
}
