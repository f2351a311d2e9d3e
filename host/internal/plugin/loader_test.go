package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestLoadRefusals(t *testing.T) {
	notWasm, err := filepath.Abs("testdata/notwasm.wasm")
	if err != nil {
		t.Fatal(err)
	}
	good := sha256File(t, wasmPath("echo"))
	cases := []struct {
		name, entry, reason string
	}{
		{"notwasm", `path = "` + notWasm + `"`, "is not a WebAssembly file"},
		{"missing", `path = "/nonexistent/plugin.wasm"`, "cannot read /nonexistent/plugin.wasm: no such file or directory"},
		{"badhash", `path = "{echo}"` + "\n" + `sha256 = "` + strings.Repeat("ab", 32) + `"`, "sha256 mismatch: plugins.toml expects abab"},
		{"wrongabi", `path = "{wrongabi}"` + "\ncapabilities = [\"llm.chat\"]", "built for plugin ABI v2; this host speaks v1: it needs a newer tzurot host"},
		{"nomarker", `path = "{nomarker}"` + "\ncapabilities = [\"llm.chat\"]", "does not export tzurot_abi_v1"},
		{"notgranted", `path = "{echo}"
key_slot = "x"
capabilities = ["llm.chat"]
allowed_hosts = ["a.example:443"]`, `requests capability "llm.validate_key", which plugins.toml does not grant`},
		{"unknowncap", `path = "{echo}"
key_slot = "x"
capabilities = ["llm.chat"]
allowed_hosts = ["a.example:443"]
[plugins.unknowncap.config]
describe_caps = "llm.chat,llm.teleport"`, `requests capability "llm.teleport", which this host does not know`},
		{"nokeyslot", `path = "{echo}"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["a.example:443"]`, "needs an API key, but plugins.toml grants it no key_slot"},
		{"nonetwork", `path = "{echo}"
key_slot = "x"
capabilities = ["llm.chat", "llm.validate_key"]`, "needs the network, but plugins.toml grants it no allowed_hosts"},
		{"badschema", `path = "{echo}"
key_slot = "x"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["a.example:443"]
[plugins.badschema.config]
bad_schema = "1"`, "parameters_schema is not a valid JSON Schema"},
		{"badhostentry", `path = "{echo}"
allowed_hosts = ["api.example.com"]`, `plugins.toml: allowed_hosts: "api.example.com" must be host:port`},
		{"grantsunknown", `path = "{echo}"
capabilities = ["llm.chat", "mind.read"]`, `capability "mind.read" is unknown`},
	}
	var toml strings.Builder
	for _, c := range cases {
		toml.WriteString("\n[plugins." + c.name + "]\n" + c.entry + "\n")
	}
	// Broken entries never stop good ones from loading.
	toml.WriteString(`
[plugins.good]
path = "{echo}"
sha256 = "` + good + `"
key_slot = "good"
capabilities = ["llm.chat", "llm.validate_key", "voice.tts"]
allowed_hosts = ["a.example:443"]

[plugins.keyless]
path = "{echo}"
key_slot = "spare"   # a key slot the plugin does not need is fine
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["a.example:443"]
[plugins.keyless.config]
needs_key = "false"

[plugins.off]
enabled = false
path = "/nonexistent/off.wasm"
`)
	h, logs := testHost(t, toml.String(), nil)
	for _, c := range cases {
		st := statusOf(t, h, c.name)
		if st.State != StateRefused || !strings.Contains(st.Reason, c.reason) {
			t.Errorf("%s: state %s, reason %q; want refused with %q", c.name, st.State, st.Reason, c.reason)
		}
		if !strings.Contains(logs.String(), "plugin="+c.name) {
			t.Errorf("%s: refusal not logged with the plugin name", c.name)
		}
	}
	for _, name := range []string{"good", "keyless"} {
		if st := statusOf(t, h, name); st.State != StateLoaded || st.SHA256 != good {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if st := statusOf(t, h, "off"); st.State != StateDisabled {
		t.Errorf("off: %+v", st)
	}
	out, err := h.Call(context.Background(), "good", "echo", []byte("x"))
	if err != nil || string(out) != "x" {
		t.Errorf("good plugin call: %q, %v", out, err)
	}
	_, err = h.Call(context.Background(), "wrongabi", "chat", nil)
	if err == nil || !strings.Contains(err.Error(), "plugin wrongabi is refused: it was built for plugin ABI v2") {
		t.Errorf("calling a refused plugin: %v", err)
	}
}

func TestSharedWasmIsReadOnce(t *testing.T) {
	// openai and openrouter share one file, as in the shipped plugins.toml.
	h, _ := testHost(t, echoEntry("openai", "")+echoEntry("openrouter", ""), nil)
	for _, n := range []string{"openai", "openrouter"} {
		if st := statusOf(t, h, n); st.State != StateLoaded {
			t.Fatalf("%s: %+v", n, st)
		}
	}
	// Each entry is its own plugin with its own identity: the key slot.
	keys := &MemoryKeys{}
	keys.Set("u", "openai", "sk-openai")
	keys.Set("u", "openrouter", "sk-openrouter")
	h2, _ := testHost(t, echoEntry("openai", "")+echoEntry("openrouter", ""), keys)
	ctx := WithCall(context.Background(), Call{UserID: "u"})
	for _, n := range []string{"openai", "openrouter"} {
		out, err := h2.Call(ctx, n, "whoami", nil)
		if err != nil || string(out) != keyFP("sk-"+n) {
			t.Errorf("%s whoami = %q, %v", n, out, err)
		}
	}
}

func TestCheckFile(t *testing.T) {
	rep, err := CheckFile(context.Background(), wasmPath("echo"), testCacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Description.Name != "echo" || rep.Description.ABI != 1 || len(rep.Exports) == 0 || rep.SHA256 != sha256File(t, wasmPath("echo")) {
		t.Errorf("report = %+v", rep)
	}
	for _, bad := range []struct{ path, want string }{
		{wasmPath("wrongabi"), "built for plugin ABI v2"},
		{wasmPath("nomarker"), "does not export tzurot_abi_v1"},
		{"testdata/notwasm.wasm", "not a WebAssembly file"},
	} {
		if _, err := CheckFile(context.Background(), bad.path, testCacheDir); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("CheckFile(%s) = %v, want %q", bad.path, err, bad.want)
		}
	}
}
