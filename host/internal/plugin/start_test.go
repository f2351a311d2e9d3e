package plugin

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// wasmSection appends one section (id, LEB128 size, payload) to a module.
func wasmSection(mod []byte, id byte, payload ...byte) []byte {
	mod = append(mod, id)
	mod = appendULEB(mod, uint32(len(payload)))
	return append(mod, payload...)
}

func appendULEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func wasmName(s string) []byte { return append(appendULEB(nil, uint32(len(s))), s...) }

// startModule is a minimal WebAssembly module, the shape AssemblyScript's
// top-level code compiles to: a start function (func 0) that the runtime
// runs while instantiating, before any export can be called, plus the ABI
// marker and a describe that answers nothing. With loop, the start
// function never returns (loop br 0 end).
func startModule(loop bool) []byte {
	mod := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	// Types: 0 = () -> (), 1 = () -> i32.
	mod = wasmSection(mod, 1, 0x02, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f)
	// Functions: start (type 0), marker and describe (type 1).
	mod = wasmSection(mod, 3, 0x03, 0x00, 0x01, 0x01)
	var exports []byte
	exports = append(exports, 0x02)
	exports = append(append(exports, wasmName(abi.MarkerExport)...), 0x00, 0x01)
	exports = append(append(exports, wasmName(abi.DescribeExport)...), 0x00, 0x02)
	mod = wasmSection(mod, 7, exports...)
	mod = wasmSection(mod, 8, 0x00) // start = func 0
	start := []byte{0x00, 0x0b}     // no locals; end
	if loop {
		start = []byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // loop (br 0) end; end
	}
	ret0 := []byte{0x00, 0x41, 0x00, 0x0b} // i32.const 0; end
	var code []byte
	code = append(code, 0x03)
	for _, body := range [][]byte{start, ret0, ret0} {
		code = append(appendULEB(code, uint32(len(body))), body...)
	}
	return wasmSection(mod, 10, code...)
}

func writeStartModule(t *testing.T, loop bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "start.wasm")
	if err := os.WriteFile(path, startModule(loop), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const startEntry = `
[plugins.looper]
path = %q
[plugins.looper.limits]
call_timeout = "500ms"
`

// hangGuard bounds a test whose code under test used to hang forever: with
// the bug, the test fails (on what it asserts) instead of hanging. The
// bound is not asserted.
func hangGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestHostileStartFunctionLoops: a start function that never returns used
// to hang start-up (and plugins check/list) forever, holding back every
// other plugin. Now it is refused within its call_timeout, saying why, and
// the other plugins load.
func TestHostileStartFunctionLoops(t *testing.T) {
	toml := strings.Replace(startEntry, "%q", `"`+writeStartModule(t, true)+`"`, 1) + echoEntry("echo", "")
	cfg := parseTestConfig(t, toml)
	logs := &logBuffer{}
	h, err := NewHost(hangGuard(t), Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	st := statusOf(t, h, "looper")
	if st.State != StateRefused || st.Reason != "its start function did not finish within 500ms (top-level code that loops or waits)" {
		t.Errorf("looper: %s, %q", st.State, st.Reason)
	}
	if st := statusOf(t, h, "echo"); st.State != StateLoaded {
		t.Errorf("echo beside it: %s %s", st.State, st.Reason)
	}
	out, err := h.Call(context.Background(), "echo", "echo", []byte("alive"))
	if err != nil || string(out) != "alive" {
		t.Errorf("echo = %q, %v", out, err)
	}
}

// TestStartModuleWithoutLoopStarts shows the hand-built module is sound:
// without the loop it starts and only fails at describe.
func TestStartModuleWithoutLoopStarts(t *testing.T) {
	h, _ := testHost(t, strings.Replace(startEntry, "%q", `"`+writeStartModule(t, false)+`"`, 1), nil)
	st := statusOf(t, h, "looper")
	if st.State != StateRefused || !strings.Contains(st.Reason, "describe did not return a description") {
		t.Errorf("looper without loop: %s, %q", st.State, st.Reason)
	}
}

// TestHostileStartFunctionLoopsInCheck: plugins check goes through the
// same load.
func TestHostileStartFunctionLoopsInCheck(t *testing.T) {
	_, err := CheckFile(hangGuard(t), writeStartModule(t, true), "")
	if err == nil || !strings.Contains(err.Error(), "its start function did not finish within 10s") {
		t.Errorf("check = %v", err)
	}
}

// TestStartCancelledSaysSo: when start-up is cancelled (SIGTERM) while a
// start function spins, the reason says so instead of blaming the imports.
func TestStartCancelledSaysSo(t *testing.T) {
	toml := strings.Replace(startEntry, "%q", `"`+writeStartModule(t, true)+`"`, 1)
	toml = strings.Replace(toml, `"500ms"`, `"60s"`, 1)
	cfg := parseTestConfig(t, toml)
	// Cancelled before the start function runs: it is stopped at once,
	// as it is when SIGTERM arrives while it spins.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	logs := &logBuffer{}
	h, err := NewHost(ctx, Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	st := statusOf(t, h, "looper")
	if st.State != StateRefused || st.Reason != "start-up was cancelled while its start function was running" {
		t.Errorf("looper: %s, %q", st.State, st.Reason)
	}
}

// TestHostileGoInitLoops: a Go plugin whose package initialisers never
// finish spins in _initialize, which runs at the start of the instance's
// first call (describe, at load). It is refused saying so, not with a
// describe timeout.
func TestHostileGoInitLoops(t *testing.T) {
	toml := `
[plugins.initloop]
path = "` + buildExtra(t, "initloop") + `"
[plugins.initloop.limits]
call_timeout = "500ms"
` + echoEntry("echo", "")
	h, _ := testHost(t, toml, nil)
	st := statusOf(t, h, "initloop")
	if st.State != StateRefused || st.Reason != "its start function (_initialize) did not finish within 500ms (top-level code that loops or waits)" {
		t.Errorf("initloop: %s, %q", st.State, st.Reason)
	}
	if st := statusOf(t, h, "echo"); st.State != StateLoaded {
		t.Errorf("echo beside it: %s %s", st.State, st.Reason)
	}
}

// TestNewInstanceStartDeadline: instances made on demand for a call (the
// pool's path) get the bound the context carries, so a start function that
// spins cannot hold a caller past the plugin's call_timeout.
func TestNewInstanceStartDeadline(t *testing.T) {
	ctx := context.Background()
	rtc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	compiled, err := extism.NewCompiledPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: startModule(true)}}},
		extism.PluginConfig{EnableWasi: true, RuntimeConfig: rtc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer compiled.Close(ctx)
	_, err = newInstance(withStartTimeout(hangGuard(t), 200*time.Millisecond), compiled)
	var se *startError
	if !errors.As(err, &se) || !se.timedOut || se.limit != 200*time.Millisecond {
		t.Fatalf("err = %v, want a start timeout at 200ms", err)
	}
}
