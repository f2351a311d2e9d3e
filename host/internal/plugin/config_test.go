package plugin

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The plugins.toml shipped at the repository root must parse and mean what
// its comments say.
func TestShippedPluginsToml(t *testing.T) {
	path := filepath.Join("..", "..", "..", "plugins.toml")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	if cfg.Runtime.CacheDir != filepath.Join(root, "data", "wasm-cache") {
		t.Errorf("cache_dir = %q", cfg.Runtime.CacheDir)
	}
	if got := strings.Join(cfg.Names(), ","); got != "anthropic,clock,elevenlabs,gemini,ollama,openai,openai-images,openai-speech,openrouter,openrouter-images,speaches" {
		t.Fatalf("plugins = %s", got)
	}
	oa := cfg.Plugins["openai"]
	if !oa.Enabled || oa.Path != filepath.Join(root, "plugins", "openai", "openai.wasm") || oa.KeySlot != "openai" ||
		oa.AllowedHosts[0] != "api.openai.com:443" || oa.Limits.HTTPTimeout != 90*time.Second ||
		oa.Config["default_model"] != "gpt-4o-mini" || oa.Problem() != nil {
		t.Errorf("openai = %+v", oa)
	}
	or := cfg.Plugins["openrouter"]
	if or.Path != oa.Path || or.Config["flavor"] != "openrouter" || or.Limits.MaxResponseBytes != DefaultMaxResponseBytes ||
		or.Limits.HTTPTimeout != DefaultHTTPTimeout || or.Limits.MaxLogLines != DefaultMaxLogLines {
		t.Errorf("openrouter = %+v", or)
	}
	an := cfg.Plugins["anthropic"]
	if an.Enabled || an.KeySlot != "anthropic" || len(an.AuthHeaders) != 1 || !strings.EqualFold(an.AuthHeaders[0], "x-api-key") ||
		an.Path != filepath.Join(root, "plugins", "anthropic", "anthropic.wasm") || an.Problem() != nil {
		t.Errorf("anthropic = %+v", an)
	}
	ge := cfg.Plugins["gemini"]
	if ge.Enabled || ge.KeySlot != "gemini" || len(ge.AuthHeaders) != 1 || !strings.EqualFold(ge.AuthHeaders[0], "x-goog-api-key") ||
		len(ge.AllowedHosts) != 1 || ge.AllowedHosts[0] != "generativelanguage.googleapis.com:443" ||
		ge.Path != filepath.Join(root, "plugins", "gemini", "gemini.wasm") || ge.Problem() != nil {
		t.Errorf("gemini = %+v", ge)
	}
	el := cfg.Plugins["elevenlabs"]
	if el.Enabled || el.KeySlot != "elevenlabs" || len(el.AuthHeaders) != 1 || !strings.EqualFold(el.AuthHeaders[0], "xi-api-key") ||
		len(el.AllowedHosts) != 1 || el.AllowedHosts[0] != "api.elevenlabs.io:443" ||
		strings.Join(el.Capabilities, ",") != "voice.speak,voice.clone,llm.validate_key" ||
		el.Limits.MaxResponseBytes != 10<<20 || el.Config["default_model"] != "eleven_flash_v2_5" ||
		el.Path != filepath.Join(root, "plugins", "elevenlabs", "elevenlabs.wasm") || el.Problem() != nil {
		t.Errorf("elevenlabs = %+v", el)
	}
	// Every LLM entry lists its models for /personality llm's autocomplete.
	for _, name := range cfg.Names() {
		if !slices.Contains(cfg.Plugins[name].Capabilities, "llm.chat") {
			continue
		}
		// The openai plugin's entries also embed, for memory search.
		want := "llm.chat,llm.validate_key,llm.models"
		if strings.HasSuffix(cfg.Plugins[name].Path, "openai.wasm") {
			want += ",llm.embed"
		}
		if got := strings.Join(cfg.Plugins[name].Capabilities, ","); got != want {
			t.Errorf("%s grants %s, want %s", name, got, want)
		}
	}
	// The clock tool needs nothing from outside, so it ships enabled.
	cl := cfg.Plugins["clock"]
	if !cl.Enabled || cl.KeySlot != "" || len(cl.AllowedHosts) != 0 || strings.Join(cl.Capabilities, ",") != "tool" ||
		cl.Path != filepath.Join(root, "plugins", "clock", "clock.wasm") || cl.Problem() != nil {
		t.Errorf("clock = %+v", cl)
	}
	ol := cfg.Plugins["ollama"]
	if ol.Enabled || !ol.AllowPrivate || ol.KeySlot != "" || ol.Limits != DefaultLimits() {
		t.Errorf("ollama = %+v", ol)
	}
	// Speech shares the openai key slot: one OpenAI key serves chat and voice.
	sp := cfg.Plugins["openai-speech"]
	if sp.Enabled || sp.KeySlot != "openai" || sp.Path != filepath.Join(root, "plugins", "openai-speech", "openai-speech.wasm") ||
		strings.Join(sp.Capabilities, ",") != "voice.speak,voice.transcribe,llm.validate_key" ||
		len(sp.AllowedHosts) != 1 || sp.AllowedHosts[0] != "api.openai.com:443" || sp.AllowPrivate ||
		sp.Config["base_url"] != "https://api.openai.com" || sp.Config["default_voice"] != "alloy" || sp.Problem() != nil {
		t.Errorf("openai-speech = %+v", sp)
	}
	lo := cfg.Plugins["speaches"]
	if lo.Enabled || !lo.AllowPrivate || lo.KeySlot != "" || lo.Path != sp.Path || lo.Config["base_url"] != "http://127.0.0.1:8000" ||
		len(lo.AllowedHosts) != 1 || lo.AllowedHosts[0] != "127.0.0.1:8000" || lo.Problem() != nil {
		t.Errorf("speaches = %+v", lo)
	}
	// Images share the chat entries' key slots: one key serves chat and images.
	imgPath := filepath.Join(root, "plugins", "images", "images.wasm")
	ri := cfg.Plugins["openrouter-images"]
	if ri.Enabled || ri.KeySlot != "openrouter" || ri.Path != imgPath ||
		strings.Join(ri.Capabilities, ",") != "image.generate,llm.validate_key" ||
		len(ri.AllowedHosts) != 1 || ri.AllowedHosts[0] != "openrouter.ai:443" || ri.AllowPrivate ||
		ri.Config["api"] != "chat" || ri.Config["base_url"] != "https://openrouter.ai/api/v1" ||
		ri.Config["default_model"] != "google/gemini-2.5-flash-image" ||
		ri.Limits.MaxResponseBytes != 32<<20 || ri.Limits.MemoryMiB != 192 || ri.Problem() != nil {
		t.Errorf("openrouter-images = %+v", ri)
	}
	oi := cfg.Plugins["openai-images"]
	if oi.Enabled || oi.KeySlot != "openai" || oi.Path != imgPath ||
		strings.Join(oi.Capabilities, ",") != "image.generate,llm.validate_key" ||
		len(oi.AllowedHosts) != 1 || oi.AllowedHosts[0] != "api.openai.com:443" || oi.AllowPrivate ||
		oi.Config["api"] != "images" || oi.Config["base_url"] != "https://api.openai.com" ||
		oi.Config["default_model"] != "gpt-image-1" || oi.Config["default_size"] != "1024x1024" ||
		oi.Limits.MaxResponseBytes != 32<<20 || oi.Limits.HTTPTimeout != 150*time.Second || oi.Problem() != nil {
		t.Errorf("openai-images = %+v", oi)
	}
}

func TestConfigUnknownKeyIsNamed(t *testing.T) {
	for _, c := range []struct{ toml, key string }{
		{"[plugins.a]\npath = \"a.wasm\"\n[plugins.a.limits]\nmemory_mb = 64\n", "plugins.a.limits.memory_mb"},
		{"[plugins.a]\npath = \"a.wasm\"\nallowed_host = [\"x:443\"]\n", "plugins.a.allowed_host"},
		{"[runtime]\ncache = \"x\"\n", "runtime.cache"},
		{"[plugin.a]\npath = \"a.wasm\"\n", "plugin"},
	} {
		_, err := ParseConfig([]byte(c.toml), "")
		if err == nil || !strings.Contains(err.Error(), "unknown key "+c.key) {
			t.Errorf("%q: err = %v, want it to name %s", c.toml, err, c.key)
		}
	}
}

func TestConfigTypeErrors(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[plugins.a]\npath = \"a.wasm\"\n[plugins.a.limits]\ncall_timeout = \"soon\"\n", `"soon" is not a duration`},
		{"[plugins.a]\npath = \"a.wasm\"\n[plugins.a.limits]\npool_size = \"4\"\n", "pool_size"},
		{"[plugins.a]\npath = \"a.wasm\"\n[plugins.a.config]\nport = 8080\n", "port"},
		{"[plugins.a\n", "plugin config"},
	} {
		_, err := ParseConfig([]byte(c.toml), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.toml, err, c.want)
		}
	}
}

func TestConfigProblemsStayWithTheirEntry(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[plugins.good]
path = "good.wasm"

[plugins.bad]
path = "bad.wasm"
sha256 = "xyz"
key_slot = "Open AI"
allowed_hosts = ["api.example.com", "api.example.com:99999", "*.example.com:443"]
[plugins.bad.limits]
memory_mib = 2
call_timeout = "0s"
pool_size = 0
max_response_bytes = 10
http_attempts = 50
max_log_lines = -1

[plugins.nopath]
`), "/etc/tzurot")
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Plugins["good"]; p.Problem() != nil || p.Path != "/etc/tzurot/good.wasm" || !p.Enabled {
		t.Errorf("good = %+v, %v", p, p.Problem())
	}
	problem := cfg.Plugins["bad"].Problem()
	if problem == nil {
		t.Fatal("bad entry has no problem")
	}
	for _, want := range []string{
		"sha256 must be 64 hex digits",
		`key_slot "Open AI"`,
		`"api.example.com" must be host:port`,
		`"api.example.com:99999" has no valid port`,
		`"*.example.com:443": wildcards`,
		"memory_mib = 2 is outside 16..4096",
		"call_timeout = 0s is outside",
		"pool_size = 0 is outside",
		"max_response_bytes = 10 is outside",
		"http_attempts = 50 is outside",
		"max_log_lines = -1 is outside",
	} {
		if !strings.Contains(problem.Error(), want) {
			t.Errorf("problem lacks %q:\n%v", want, problem)
		}
	}
	if p := cfg.Plugins["nopath"].Problem(); p == nil || !strings.Contains(p.Error(), "path is missing") {
		t.Errorf("nopath: %v", p)
	}
}

func TestConfigHostsNormalized(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[plugins.a]
path = "a.wasm"
allowed_hosts = ["API.Example.com:443", "[::1]:8080"]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Plugins["a"].AllowedHosts
	if len(got) != 2 || got[0] != "api.example.com:443" || got[1] != "[::1]:8080" {
		t.Errorf("hosts = %q", got)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "plugins.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "read plugin config") {
		t.Fatalf("err = %v", err)
	}
}

// The shipped plugins.toml grants each real plugin what it asks for, every
// entry enabled and loaded with the plugin its path names: plugins/openai in
// all three roles (ollama included, though it ships disabled), anthropic,
// gemini, elevenlabs, openai-speech in both of its roles (OpenAI with a key,
// a local server without one), clock, and images in both of its roles.
func TestShippedConfigLoadsRealPlugin(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]string{}
	for _, dir := range []string{"openai", "anthropic", "gemini", "elevenlabs", "openai-speech", "clock", "images"} {
		built[dir] = plugintest.Build(t, filepath.Join(root, "plugins", dir))
	}
	cfg, err := LoadConfig(filepath.Join(root, "plugins.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runtime.CacheDir = testCacheDir
	for name, pc := range cfg.Plugins {
		wasm, ok := built[filepath.Base(filepath.Dir(pc.Path))]
		if !ok {
			wasm = built["openai"]
		}
		pc.Path, pc.Enabled = wasm, true
		cfg.Plugins[name] = pc
	}
	h, err := NewHost(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, st := range h.Status() {
		if st.State != StateLoaded {
			t.Errorf("%s: %s: %s", st.Name, st.State, st.Reason)
		}
	}
}
