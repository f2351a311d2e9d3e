package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// TestFastKernelEngaged pins the fast call path (kernel.go) to the go-sdk
// version in go.mod: if an upgrade renames the fields it reads, every call
// would silently go back to go-sdk's slower path; this test says so instead.
func TestFastKernelEngaged(t *testing.T) {
	h, _ := testHost(t, echoEntry("p", "[plugins.p.limits]\npool_size = 1"), nil)
	for i := range 3 {
		out, err := h.Call(context.Background(), "p", "echo", []byte(fmt.Sprint("call ", i)))
		if err != nil || string(out) != fmt.Sprint("call ", i) {
			t.Fatalf("echo %d: %q, %v", i, out, err)
		}
	}
	inst := <-pluginOf(t, h, "p").pool.idle
	defer func() { pluginOf(t, h, "p").pool.idle <- inst }()
	if inst.kern == nil {
		t.Fatal("the instance has no fast kernel: go-sdk's Plugin no longer has the fields modulesOf reads (see kernel.go); calls take the slow path")
	}
	if !inst.initialized {
		t.Error("an instance that served calls is not marked initialised")
	}
}

// TestBulkAndExtismPathsCarryTheSameBytes sends inputs of every awkward
// size through the bulk input and output (echo) and through Extism's
// (echo_extism): the plugin must get and give back exactly the bytes.
func TestBulkAndExtismPathsCarryTheSameBytes(t *testing.T) {
	h, _ := testHost(t, echoEntry("p", "[plugins.p.limits]\npool_size = 1\nmax_response_bytes = 1048576"), nil)
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 1023, 1024, 4099, 300_000} {
		in := bytes.Repeat([]byte("Grüße ✓\x00"), n/12+1)[:n]
		for _, export := range []string{"echo", "echo_extism"} {
			out, err := h.Call(context.Background(), "p", export, in)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("%s of %d bytes: got %d bytes back, err %v", export, n, len(out), err)
			}
		}
	}
	// The input blob is the input, whatever path the plugin reads.
	out, err := h.Call(context.Background(), "p", "sizes", []byte("12345"))
	if err != nil || string(out) != "extism=5 bulk=5" {
		t.Errorf("sizes = %q, %v; want both paths to hold the 5-byte input", out, err)
	}
}

// TestHostileBulkOutput: output_write is bounded like output_set. A range
// outside the guest's memory is refused (-1) and the call goes on; an
// output over max_response_bytes fails the call before the host copies it,
// and the instance is thrown away.
func TestHostileBulkOutput(t *testing.T) {
	h, _ := testHost(t, hostileEntry, nil)
	out, err := h.Call(context.Background(), "hostile", "bulk_out_bad", nil)
	if err != nil || string(out) != "-1" {
		t.Errorf("output_write outside memory: %q, %v; want the plugin told -1", out, err)
	}
	expectFailureThenRecovery(t, h, "bulk_out_big", []byte("100000"), abi.ErrInternal, "larger than its 65536-byte limit")
	out, err = h.Call(context.Background(), "hostile", "bulk_out_big", []byte("65536"))
	if err != nil || len(out) != 65536 {
		t.Errorf("an output of exactly max_response_bytes: %d bytes, %v", len(out), err)
	}
}

var (
	bulkOnlyOnce sync.Once
	bulkOnlyErr  error
)

// TestBulkInputExportSkipsExtismInput: a plugin exporting
// tzurot_bulk_input gets its input only as the input blob, on its first
// call (go-sdk's path) and on later ones (the fast path).
func TestBulkInputExportSkipsExtismInput(t *testing.T) {
	out := filepath.Join(wasmDir, "bulkonly.wasm")
	bulkOnlyOnce.Do(func() { bulkOnlyErr = plugintest.BuildTo(filepath.Join("testdata", "bulkonly"), out) })
	if bulkOnlyErr != nil {
		t.Fatal(bulkOnlyErr)
	}
	h, _ := testHost(t, fmt.Sprintf(`
[plugins.b]
path = %q
capabilities = ["llm.chat"]
[plugins.b.limits]
pool_size = 1
`, out), nil)
	if !pluginOf(t, h, "b").bulkInput {
		t.Fatal("the plugin exports tzurot_bulk_input but the host did not notice")
	}
	in := strings.Repeat("bulk ", 300)
	for i := range 3 {
		got, err := h.Call(context.Background(), "b", "sizes", []byte(in))
		want := fmt.Sprintf("extism=0 bulk=%d %s", len(in), in)
		if err != nil || string(got) != want {
			t.Fatalf("call %d: %.60q…, %v; want %.60q…", i, got, err, want)
		}
	}
}

// TestOneCodeUnderManyPathsCompilesSafely: entries loading copies of the
// same .wasm from different paths (a packaged plugin and a self-hoster's
// copy, say) are compiled at the same moment at load. wazero's engine,
// shared through the compilation cache, hands those compiles one compiled
// module and sets its listeners without a lock; under -race (make test)
// this test fails when the loader lets them run together.
func TestOneCodeUnderManyPathsCompilesSafely(t *testing.T) {
	data, err := os.ReadFile(wasmPath("echo"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var conf strings.Builder
	names := []string{"c1", "c2", "c3", "c4"}
	for _, name := range names {
		path := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		entry := strings.Replace(echoEntry(name, fmt.Sprintf("[plugins.%s.config]\nwho = \"entry %s\"", name, name)), "{echo}", path, 1)
		conf.WriteString(entry)
	}
	// A cache of its own: the compiles cannot be skipped.
	conf.WriteString(fmt.Sprintf("\n[runtime]\ncache_dir = %q\n", t.TempDir()))
	h, _ := testHost(t, conf.String(), nil)
	for _, name := range names {
		out, err := h.Call(context.Background(), name, "config", []byte("who"))
		if err != nil || string(out) != "entry "+name {
			t.Errorf("%s reads config who = %q, %v", name, out, err)
		}
	}
}

// TestEntriesSharingAFileShareTheCompiledModule: entries loading the same
// .wasm with the same memory limit compile it once (start-up time), yet
// each instance reads its own entry's config and answers as its own entry;
// an entry with another memory limit gets its own module; and the shared
// module lives until the last entry using it is gone.
func TestEntriesSharingAFileShareTheCompiledModule(t *testing.T) {
	h, _ := testHost(t, echoEntry("a", "[plugins.a.config]\nwho = \"entry a\"")+
		echoEntry("b", "[plugins.b.config]\nwho = \"entry b\"\n[plugins.b.limits]\ncall_timeout = \"7s\"")+
		echoEntry("c", "[plugins.c.config]\nwho = \"entry c\"\n[plugins.c.limits]\nmemory_mib = 48"), nil)
	a, b, c := pluginOf(t, h, "a"), pluginOf(t, h, "b"), pluginOf(t, h, "c")
	if a.shared == nil || a.shared != b.shared {
		t.Error("entries a and b load the same file with the same memory limit but compiled it twice")
	}
	if c.shared == a.shared {
		t.Error("entry c has another memory limit but shares a's compiled module")
	}
	for _, name := range []string{"a", "b", "c"} {
		// A new instance per call too: the pool's second instance is made
		// for a call, not at load.
		out, err := h.Call(context.Background(), name, "config", []byte("who"))
		if err != nil || string(out) != "entry "+name {
			t.Errorf("%s reads config who = %q, %v", name, out, err)
		}
	}
	inst := <-b.pool.idle
	if inst.plugin.Timeout != 7*time.Second {
		t.Errorf("b's instance has call timeout %v, want its own 7s", inst.plugin.Timeout)
	}
	b.pool.idle <- inst

	// Drop a: b still works on the module they shared.
	cfg := parseTestConfig(t, echoEntry("b", "[plugins.b.config]\nwho = \"entry b\"\n[plugins.b.limits]\ncall_timeout = \"7s\""))
	if err := h.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	out, err := h.Call(context.Background(), "b", "config", []byte("who"))
	if err != nil || string(out) != "entry b" {
		t.Errorf("after reload, b reads %q, %v", out, err)
	}
}
