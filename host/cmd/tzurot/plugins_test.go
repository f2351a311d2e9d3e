package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The plugins subcommands, run against the plugin runtime's test plugin.
func TestPluginsCommands(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "echo.wasm")
	if err := plugintest.BuildTo("../../internal/plugin/testdata/echo", wasm); err != nil {
		t.Fatal(err)
	}
	toml := `
[runtime]
cache_dir = "cache"

[plugins.echo]
path = "echo.wasm"
key_slot = "echo"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]

[plugins.broken]
path = "missing.wasm"
`
	cfg := filepath.Join(dir, "plugins.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var out bytes.Buffer
	if err := pluginsList(ctx, []string{"--config", cfg}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"echo    loaded", "echo 1.0.0", "broken  refused", "broken refused: cannot read"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := pluginsCheck(ctx, []string{wasm, "--cache-dir", filepath.Join(dir, "cache")}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "OK, plugin ABI v1") || !strings.Contains(out.String(), "llm.chat, llm.validate_key") {
		t.Errorf("check output:\n%s", out.String())
	}
	if err := pluginsCheck(ctx, []string{cfg}, &out); err == nil || !strings.Contains(err.Error(), "not a WebAssembly file") {
		t.Errorf("check of a toml file: %v", err)
	}

	t.Setenv("TZUROT_PLUGIN_KEY", "sk-from-env")
	var stdout, stderr bytes.Buffer
	err := pluginsCall(ctx, []string{"echo", "chat", "--config", cfg, "--user", "u9",
		"--input", `{"model":"m","messages":[{"role":"user","content":"hello cli"}],"stream":true}`}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), `"content": "hello cli"`) {
		t.Errorf("call output:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), `usage: {"kind":"text","model":"m","input_tokens":9`) || !strings.Contains(stderr.String(), "hello cli") {
		t.Errorf("call stderr:\n%s", stderr.String())
	}
	stdout.Reset()
	// whoami answers with the key's fingerprint (a plugin's output never carries a key).
	fp := sha256.Sum256([]byte("sk-from-env"))
	if err := pluginsCall(ctx, []string{"echo", "whoami", "--config", cfg}, nil, &stdout, &stderr); err != nil || strings.TrimSpace(stdout.String()) != "sha256:"+hex.EncodeToString(fp[:8]) {
		t.Errorf("whoami = %q, %v", stdout.String(), err)
	}
	if err := pluginsCall(ctx, []string{"echo", "chat", "--config", cfg, "--input", "{not json"}, nil, &stdout, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("bad JSON input: %v", err)
	}
	if err := runPlugins(ctx, []string{"frobnicate"}); !errors.Is(err, errUsage) {
		t.Errorf("unknown subcommand: %v", err)
	}
}

// `plugins list` and `plugins call` read the plugins.toml that serve reads:
// $TZUROT_PLUGINS when set (an explicit --config still wins). And `call -v`
// shows the plugin's own log lines, which an author debugging needs.
func TestPluginsCommandsHonourTZUROT_PLUGINSAndVerbose(t *testing.T) {
	dir := t.TempDir()
	if err := plugintest.BuildTo("../../internal/plugin/testdata/echo", filepath.Join(dir, "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "grants.toml")
	toml := `
[runtime]
cache_dir = "cache"

[plugins.envecho]
path = "echo.wasm"
key_slot = "echo"
raw_key = true # logkey reads the key itself, to log it
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
`
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Setenv("TZUROT_PLUGINS", cfg)
	t.Setenv("TZUROT_PLUGIN_KEY", "sk-env-test")

	var out bytes.Buffer
	if err := pluginsList(ctx, nil, &out); err != nil {
		t.Fatalf("list with TZUROT_PLUGINS=%s: %v", cfg, err)
	}
	if !strings.Contains(out.String(), "envecho  loaded") {
		t.Errorf("list did not read $TZUROT_PLUGINS:\n%s", out.String())
	}
	// --config wins over the environment.
	other := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(other, []byte("[plugins.otherecho]\npath = \"echo.wasm\"\nenabled = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := pluginsList(ctx, []string{"--config", other}, &out); err != nil || !strings.Contains(out.String(), "otherecho") || strings.Contains(out.String(), "envecho") {
		t.Errorf("list --config %s = %v:\n%s", other, err, out.String())
	}

	// flood logs "line 0", "line 1", … at level info.
	var stdout, stderr bytes.Buffer
	if err := pluginsCall(ctx, []string{"envecho", "flood", "--input", "2"}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("call with TZUROT_PLUGINS: %v", err)
	}
	if strings.Contains(stderr.String(), "line 0") {
		t.Errorf("without -v the plugin's info lines are shown:\n%s", stderr.String())
	}
	stderr.Reset()
	if err := pluginsCall(ctx, []string{"envecho", "flood", "--input", "2", "-v"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="line 0"`, `msg="line 1"`, "plugin=envecho"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("call -v stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// The log is the host's: a key the plugin logs is redacted there too.
	stderr.Reset()
	_ = pluginsCall(ctx, []string{"envecho", "logkey", "-v"}, nil, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "my key is [redacted]") || strings.Contains(stderr.String(), "sk-env-test") {
		t.Errorf("call -v shows the key:\n%s", stderr.String())
	}
}
