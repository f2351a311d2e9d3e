package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The describe cache: a start whose plugin files and plugins.toml entries
// were described before needs no compile and no instance to list and check
// them; a call waits for its plugin's compile; anything that does not match
// is described afresh.

// cachedEchoEntries are echo entries sharing one file and one config value
// no other test uses, so their describe record is new to the shared test
// cache. path "" means the built echo plugin.
func cachedEchoEntries(t *testing.T, path string, names ...string) string {
	t.Helper()
	if path == "" {
		path = wasmPath("echo")
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, `
[plugins.%s]
path = %q
key_slot = "%s"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
[plugins.%s.config]
test_nonce = %q
`, name, path, name, name, hex.EncodeToString(nonce[:]))
	}
	return b.String()
}

// countingHost starts a host as serve does (no warm-up yet) and counts the
// module compiles it starts.
func countingHost(t *testing.T, cfg *Config) (*Host, *atomic.Int32, *logBuffer) {
	t.Helper()
	var compiles atomic.Int32
	logs := &logBuffer{}
	h, err := NewHost(context.Background(), Options{
		Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		onCompile: func(string) { compiles.Add(1) },
	})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, &compiles, logs
}

// recordPath is where the describe record of entry name of cfg lives; the
// test removes it when done.
func recordPath(t *testing.T, cfg *Config, name string) string {
	t.Helper()
	pc := cfg.Plugins[name]
	c := newDescribeCache(cfg.Runtime.CacheDir, slog.New(slog.DiscardHandler))
	p := c.path(c.key(pc, sha256File(t, pc.Path), min(probeTimeout, pc.Limits.CallTimeout)))
	t.Cleanup(func() { os.Remove(p) })
	return p
}

func TestDescribeCacheStartsWithoutCompiling(t *testing.T) {
	cfg := parseTestConfig(t, cachedEchoEntries(t, "", "a", "b"))
	rec := recordPath(t, cfg, "a")

	first, compiles, _ := countingHost(t, cfg)
	if n := compiles.Load(); n != 1 {
		t.Fatalf("first start compiled %d times, want once for the two entries of one file", n)
	}
	want := statusOf(t, first, "a")
	if want.State != StateLoaded || want.Description.Name != "echo" {
		t.Fatalf("first start: %+v", want)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(rec)
	if err != nil {
		t.Fatalf("no describe record written: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(rec)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("record directory: %v, %v; want mode 0700", di.Mode().Perm(), err)
	}

	// The second start lists and checks both entries from the record.
	h, compiles, _ := countingHost(t, cfg)
	if n := compiles.Load(); n != 0 {
		t.Fatalf("start with a describe record compiled %d times, want none", n)
	}
	for _, name := range []string{"a", "b"} {
		got := statusOf(t, h, name)
		if got.State != StateLoaded || !reflect.DeepEqual(got.Description, want.Description) {
			t.Fatalf("%s from the record: %s %q, %+v; want %+v", name, got.State, got.Reason, got.Description, want.Description)
		}
		if d, ok := h.Description(name); !ok || d.Name != "echo" {
			t.Errorf("Description(%s) = %+v, %v", name, d, ok)
		}
	}
	if idle := pluginOf(t, h, "a").pool.idleCount(); idle != 0 {
		t.Errorf("%d instances started before any call", idle)
	}

	// The first call compiles the module, waiting for it, and is answered;
	// the other entry of the file uses the same compiled module.
	for _, name := range []string{"a", "b"} {
		out, err := h.Call(context.Background(), name, "echo", []byte("hello "+name))
		if err != nil || string(out) != "hello "+name {
			t.Fatalf("first call to %s: %q, %v", name, out, err)
		}
	}
	if n := compiles.Load(); n != 1 {
		t.Errorf("two entries of one file compiled %d times on their first calls, want 1", n)
	}
	// The warm-up finds them compiled, describes them again (same answer)
	// and leaves a warm instance each.
	if err := h.WarmUp(context.Background()); err != nil {
		t.Fatalf("WarmUp: %v", err)
	}
	if n := compiles.Load(); n != 1 {
		t.Errorf("WarmUp compiled again (%d compiles)", n)
	}
	if got := statusOf(t, h, "a"); got.State != StateLoaded {
		t.Errorf("after WarmUp a is %s: %s", got.State, got.Reason)
	}
	if idle := pluginOf(t, h, "b").pool.idleCount(); idle < 1 {
		t.Errorf("after WarmUp b has %d warm instances", idle)
	}
}

func TestDescribeCacheChangedFileIsDescribedAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.wasm")
	copyFile(t, wasmPath("echo"), path)
	cfg := parseTestConfig(t, cachedEchoEntries(t, path, "p"))
	recordPath(t, cfg, "p")
	h, _, _ := countingHost(t, cfg)
	if st := statusOf(t, h, "p"); st.State != StateLoaded {
		t.Fatalf("echo copy: %s %s", st.State, st.Reason)
	}

	// The same path, other bytes: the record of the old file is not used.
	copyFile(t, wasmPath("wrongabi"), path)
	recordPath(t, cfg, "p")
	h2, compiles, _ := countingHost(t, cfg)
	st := statusOf(t, h2, "p")
	if st.State != StateRefused || !strings.Contains(st.Reason, "built for plugin ABI v2; this host speaks v1") {
		t.Fatalf("replaced file: %s %q", st.State, st.Reason)
	}
	if compiles.Load() != 1 {
		t.Errorf("the replaced file was not compiled and described (%d compiles)", compiles.Load())
	}

	// A pinned hash still refuses a replaced file before any cache is read.
	pinned := parseTestConfig(t, strings.Replace(cachedEchoEntries(t, path, "p"), "raw_key = true",
		"raw_key = true\nsha256 = \""+sha256File(t, wasmPath("echo"))+"\"", 1))
	h3, _, _ := countingHost(t, pinned)
	if st := statusOf(t, h3, "p"); st.State != StateRefused || !strings.Contains(st.Reason, "sha256 mismatch") {
		t.Fatalf("pinned, replaced: %s %q", st.State, st.Reason)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeCacheBadRecordIsIgnored(t *testing.T) {
	cfg := parseTestConfig(t, cachedEchoEntries(t, "", "p"))
	rec := recordPath(t, cfg, "p")
	h, _, _ := countingHost(t, cfg)
	if st := statusOf(t, h, "p"); st.State != StateLoaded {
		t.Fatalf("%s %s", st.State, st.Reason)
	}
	good, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	foreign := strings.Replace(string(good), `"sha256":"`, `"sha256":"00`, 1)
	for _, c := range []struct{ name, content string }{
		{"garbage", "\x00\x01 not a record"},
		{"truncated", string(good[:len(good)/2])},
		{"empty", ""},
		{"another file's", foreign},
		{"another format", strings.Replace(string(good), `"format":1`, `"format":99`, 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(rec, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			h, compiles, logs := countingHost(t, cfg)
			if st := statusOf(t, h, "p"); st.State != StateLoaded || st.Description.Name != "echo" {
				t.Fatalf("%s record: %s %q", c.name, st.State, st.Reason)
			}
			if compiles.Load() != 1 {
				t.Errorf("%s record trusted: %d compiles", c.name, compiles.Load())
			}
			if !strings.Contains(logs.String(), "describe cache record ignored") {
				t.Errorf("nothing logged about the %s record: %s", c.name, logs.String())
			}
			// Rewritten whole: the next start uses it.
			_, compiles, _ = countingHost(t, cfg)
			if compiles.Load() != 0 {
				t.Errorf("record not rewritten after a %s one", c.name)
			}
		})
	}
}

// brokenWasm is a module that exports the ABI marker and describe but does
// not validate (i32.add on an empty stack): it cannot compile.
var brokenWasm = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: func() -> ()
	0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
	0x07, 0x1a, 0x02, // export section, 2 exports
	0x0d, 't', 'z', 'u', 'r', 'o', 't', '_', 'a', 'b', 'i', '_', 'v', '1', 0x00, 0x00,
	0x08, 'd', 'e', 's', 'c', 'r', 'i', 'b', 'e', 0x00, 0x00,
	0x0a, 0x05, 0x01, 0x03, 0x00, 0x6a, 0x0b, // code section: i32.add; end
}

// TestCompileFailureAfterCachedDescribe: a plugin listed from its record
// whose code then does not compile (as after an upgrade of the runtime)
// fails its calls with a clear error, is listed as refused with the reason,
// is logged, and fails the warm-up and a reload.
func TestCompileFailureAfterCachedDescribe(t *testing.T) {
	echo, _ := testHost(t, echoEntry("echo", ""), nil)
	el := pluginOf(t, echo, "echo")

	path := filepath.Join(t.TempDir(), "broken.wasm")
	if err := os.WriteFile(path, brokenWasm, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parseTestConfig(t, cachedEchoEntries(t, path, "broken"))
	// Without a record it is refused at load, as ever.
	recordPath(t, cfg, "broken")
	cold, _, _ := countingHost(t, cfg)
	if st := statusOf(t, cold, "broken"); st.State != StateRefused || !strings.Contains(st.Reason, "cannot compile "+path) {
		t.Fatalf("broken module without a record: %s %q", st.State, st.Reason)
	}
	// A record from a time it described itself as echo does.
	pc := cfg.Plugins["broken"]
	dc := newDescribeCache(cfg.Runtime.CacheDir, slog.New(slog.DiscardHandler))
	key := dc.key(pc, sha256File(t, path), min(probeTimeout, pc.Limits.CallTimeout))
	if err := dc.write(key, sha256File(t, path), el.describeOut, el.exports); err != nil {
		t.Fatal(err)
	}

	h, compiles, logs := countingHost(t, cfg)
	if st := statusOf(t, h, "broken"); st.State != StateLoaded || compiles.Load() != 0 {
		t.Fatalf("from the record: %s %q, %d compiles", st.State, st.Reason, compiles.Load())
	}
	_, err := h.Call(context.Background(), "broken", "echo", []byte("x"))
	var ae *abi.Error
	if !errors.As(err, &ae) || ae.Code != abi.ErrUnavailable || !strings.Contains(ae.Message, "does not compile") {
		t.Fatalf("call to a module that does not compile: %v", err)
	}
	st := statusOf(t, h, "broken")
	if st.State != StateRefused || !strings.Contains(st.Reason, "cannot compile "+path) {
		t.Errorf("after the failed compile: %s %q", st.State, st.Reason)
	}
	if !strings.Contains(logs.String(), "plugin failed after it was listed as loaded") {
		t.Errorf("compile failure not logged: %s", logs.String())
	}
	_, err = h.Call(context.Background(), "broken", "echo", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "plugin broken is refused: cannot compile") {
		t.Errorf("second call: %v", err)
	}
	if err := h.WarmUp(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot compile") {
		t.Errorf("WarmUp: %v", err)
	}

	// A reload compiles everything before it swaps: the record does not let
	// a module that cannot compile in.
	h2, _, _ := countingHost(t, parseTestConfig(t, echoEntry("echo", "")))
	if err := h2.Reload(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "cannot compile") {
		t.Fatalf("reload to a module that does not compile: %v", err)
	}
	if out, err := h2.Call(context.Background(), "echo", "echo", []byte("still")); err != nil || string(out) != "still" {
		t.Errorf("the running plugins did not stay: %q, %v", out, err)
	}
}

// TestWarmUpCatchesARecordThatLies: a record that says more than the
// plugin does is overruled by the warm-up's own describe when that fails
// its grant.
func TestWarmUpCatchesARecordThatLies(t *testing.T) {
	cfg := parseTestConfig(t, cachedEchoEntries(t, "", "p"))
	rec := recordPath(t, cfg, "p")
	first, _, _ := countingHost(t, cfg)
	l := pluginOf(t, first, "p")
	// The record now hides that the plugin needs the network; the entry
	// grants no hosts.
	pc := cfg.Plugins["p"]
	desc := strings.Replace(string(l.describeOut), `"needs_network":true`, `"needs_network":false`, 1)
	if desc == string(l.describeOut) {
		t.Fatalf("echo's describe does not say needs_network: %s", l.describeOut)
	}
	pc.AllowedHosts = nil
	cfg.Plugins["p"] = pc
	rec = recordPath(t, cfg, "p")
	dc := newDescribeCache(cfg.Runtime.CacheDir, slog.New(slog.DiscardHandler))
	sum := sha256File(t, pc.Path)
	if err := dc.write(dc.key(pc, sum, min(probeTimeout, pc.Limits.CallTimeout)), sum, []byte(desc), l.exports); err != nil {
		t.Fatal(err)
	}
	h, _, _ := countingHost(t, cfg)
	if st := statusOf(t, h, "p"); st.State != StateLoaded {
		t.Fatalf("from the forged record: %s %q", st.State, st.Reason)
	}
	err := h.WarmUp(context.Background())
	if err == nil || !strings.Contains(err.Error(), "it needs the network, but plugins.toml grants it no allowed_hosts") {
		t.Fatalf("WarmUp: %v", err)
	}
	if st := statusOf(t, h, "p"); st.State != StateRefused || !strings.Contains(st.Reason, "allowed_hosts") {
		t.Errorf("after WarmUp: %s %q", st.State, st.Reason)
	}
	if _, err := os.Stat(rec); err != nil {
		t.Errorf("record: %v", err)
	}
}
