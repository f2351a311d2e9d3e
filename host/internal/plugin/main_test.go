package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/logtest"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// wasmDir holds the test plugins, built once per test binary.
var wasmDir string

// testCacheDir is the compilation cache the tests share. It outlives the
// test binary (like Go's build cache) because compiling under -race takes
// seconds per plugin; entries are keyed by module hash and wazero version.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugin-test-wasm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wasmDir = dir
	testCacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		testCacheDir = filepath.Join(uc, "tzurot", "plugin-test-wasm-cache")
	}
	for _, name := range []string{"echo", "wrongabi", "nomarker"} {
		if err := plugintest.BuildTo(filepath.Join("testdata", name), filepath.Join(dir, name+".wasm")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func wasmPath(name string) string { return filepath.Join(wasmDir, name+".wasm") }

// logBuffer is a slog handler target that tests can search.
type logBuffer = logtest.Buffer

// testHost starts a host from plugins.toml text in which {echo}, {wrongabi}
// and {nomarker} stand for the built test plugins.
func testHost(t testing.TB, toml string, keys KeySource) (*Host, *logBuffer) {
	t.Helper()
	cfg := parseTestConfig(t, toml)
	logs := &logBuffer{}
	h, err := NewHost(context.Background(), Options{
		Config: cfg, Keys: keys,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	// As serve does after it is ready, but before the test goes on: every
	// loaded plugin compiled, with one warm instance (tests count them).
	// A failure shows in Status, which the tests read.
	_ = h.WarmUp(context.Background())
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, logs
}

func parseTestConfig(t testing.TB, toml string) *Config {
	t.Helper()
	r := strings.NewReplacer("{echo}", wasmPath("echo"), "{wrongabi}", wasmPath("wrongabi"), "{nomarker}", wasmPath("nomarker"))
	cfg, err := ParseConfig([]byte(r.Replace(toml)), "")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if cfg.Runtime.CacheDir == "" {
		// One on-disk cache for the whole test binary: compile each plugin once.
		cfg.Runtime.CacheDir = testCacheDir
	}
	return cfg
}

// echoEntry is a plugins.toml entry for the echo plugin granted its needs
// (it reads its key with api_key, so raw_key).
func echoEntry(name string, extra string) string {
	return fmt.Sprintf(`
[plugins.%s]
path = "{echo}"
key_slot = "%s"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
%s
`, name, name, extra)
}

func statusOf(t testing.TB, h *Host, name string) PluginStatus {
	t.Helper()
	for _, s := range h.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return PluginStatus{}
}
