package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// pluginOf returns the loaded entry, to look at its pool.
func pluginOf(t testing.TB, h *Host, name string) *loaded {
	t.Helper()
	l, ok := h.current.Load().plugins[name]
	if !ok {
		t.Fatalf("plugin %s not loaded", name)
	}
	return l
}

// expectFailureThenRecovery runs a hostile export and checks the promise of
// the runtime: the call fails with a clear error, the instance that ran it
// is thrown away, and the next call works.
func expectFailureThenRecovery(t *testing.T, h *Host, export string, input []byte, code, msgPart string) {
	t.Helper()
	l := pluginOf(t, h, "hostile")
	idleBefore := l.pool.idleCount()
	_, err := h.Call(context.Background(), "hostile", export, input)
	var aerr *abi.Error
	if !errors.As(err, &aerr) {
		t.Fatalf("%s: err = %v, want an *abi.Error", export, err)
	}
	if aerr.Code != code || !strings.Contains(aerr.Message, msgPart) {
		t.Errorf("%s: error = %q (code %s), want code %s and %q", export, aerr.Message, aerr.Code, code, msgPart)
	}
	if got := l.pool.idleCount(); got != idleBefore-1 {
		t.Errorf("%s: idle instances %d -> %d: the failed instance was not discarded", export, idleBefore, got)
	}
	out, err := h.Call(context.Background(), "hostile", "echo", []byte("alive"))
	if err != nil || string(out) != "alive" {
		t.Errorf("after %s: echo = %q, %v", export, out, err)
	}
}

const hostileEntry = `
[plugins.hostile]
path = "{echo}"
key_slot = "hostile"
raw_key = true
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["api.example.com:443"]
[plugins.hostile.limits]
pool_size = 1
call_timeout = "60s"
memory_mib = 32
max_response_bytes = 65536
max_log_lines = 5
`

func TestHostileInfiniteLoop(t *testing.T) {
	h, _ := testHost(t, strings.Replace(hostileEntry, `call_timeout = "60s"`, `call_timeout = "500ms"`, 1), nil)
	expectFailureThenRecovery(t, h, "spin", nil, abi.ErrTimeout, "did not answer within 500ms")
	// The wrapped error keeps the cause for the logs and names the plugin.
	_, err := h.Call(context.Background(), "hostile", "spin", nil)
	var ce *callError
	if !errors.As(err, &ce) || ce.cause == nil || !strings.HasPrefix(err.Error(), "plugin hostile: spin: timeout") {
		t.Errorf("error = %q, want it to name plugin, export and timeout and wrap the cause", err)
	}
}

func TestHostileCallerDeadline(t *testing.T) {
	// The caller's own deadline stops a spinning guest too.
	h, _ := testHost(t, hostileEntry, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300e6)
	defer cancel()
	_, err := h.Call(ctx, "hostile", "spin", nil)
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Code != abi.ErrTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
	out, err := h.Call(context.Background(), "hostile", "echo", []byte("ok"))
	if err != nil || string(out) != "ok" {
		t.Errorf("echo after = %q, %v", out, err)
	}
}

func TestCallWithDoneContext(t *testing.T) {
	h, _ := testHost(t, hostileEntry, nil)
	l := pluginOf(t, h, "hostile")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Call(ctx, "hostile", "echo", nil)
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Message != "the request was cancelled" || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if l.pool.idleCount() != 1 {
		t.Errorf("a cancelled call cost the pool its warm instance")
	}
}

func TestHostileMemoryExhaustion(t *testing.T) {
	h, logs := testHost(t, hostileEntry, nil)
	expectFailureThenRecovery(t, h, "oom", nil, abi.ErrInternal, "ran out of memory (limit 32 MiB)")
	if !strings.Contains(logs.String(), "out of memory") {
		t.Errorf("guest stderr did not reach the log:\n%s", logs)
	}
}

func TestInstanceRecycledNearMemoryLimit(t *testing.T) {
	h, logs := testHost(t, hostileEntry, nil) // memory_mib = 32, pool_size = 1
	l := pluginOf(t, h, "hostile")
	out, err := h.Call(context.Background(), "hostile", "hoard", []byte("4"))
	if err != nil || string(out) != "4" {
		t.Fatalf("hoard 4 = %q, %v", out, err)
	}
	// Same instance, still well under 3/4 of 32 MiB: it keeps its state.
	out, err = h.Call(context.Background(), "hostile", "hoard", []byte("1"))
	if err != nil || string(out) != "5" || l.pool.idleCount() != 1 {
		t.Fatalf("hoard 1 more = %q, %v, idle %d", out, err, l.pool.idleCount())
	}
	// Past 24 MiB the call still succeeds, but the instance is not reused.
	out, err = h.Call(context.Background(), "hostile", "hoard", []byte("20"))
	if err != nil || string(out) != "25" {
		t.Fatalf("hoard 20 more = %q, %v", out, err)
	}
	if l.pool.idleCount() != 0 || !strings.Contains(logs.String(), "plugin instance recycled") {
		t.Fatalf("the instance near its memory limit went back to the pool")
	}
	out, err = h.Call(context.Background(), "hostile", "hoard", []byte("0"))
	if err != nil || string(out) != "0" {
		t.Fatalf("next call = %q, %v; want a fresh instance", out, err)
	}
}

func TestHostilePanic(t *testing.T) {
	h, logs := testHost(t, hostileEntry, nil)
	expectFailureThenRecovery(t, h, "crash", nil, abi.ErrInternal, "the plugin crashed")
	if !strings.Contains(logs.String(), "assignment to entry in nil map") || !strings.Contains(logs.String(), "plugin=hostile") {
		t.Errorf("panic text not logged with the plugin name:\n%s", logs)
	}
}

func TestHostileOversizedOutput(t *testing.T) {
	h, _ := testHost(t, hostileEntry, nil)
	expectFailureThenRecovery(t, h, "big_output", []byte("100000"), abi.ErrInternal, "larger than its 65536-byte limit")
	out, err := h.Call(context.Background(), "hostile", "big_output", []byte("60000"))
	if err != nil || len(out) != 60000 {
		t.Errorf("output under the limit: %d bytes, %v", len(out), err)
	}
}

func TestHostileReadsFilesAndEnv(t *testing.T) {
	t.Setenv("TZUROT_SECRET_FOR_TEST", "do-not-leak")
	h, _ := testHost(t, hostileEntry, nil)
	out, err := h.Call(context.Background(), "hostile", "readfile", nil)
	if err != nil || string(out) != "no files" {
		t.Errorf("readfile = %q, %v; the sandbox has a filesystem", out, err)
	}
	out, err = h.Call(context.Background(), "hostile", "env", nil)
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("env = %q, %v; the plugin sees the host environment", out, err)
	}
}

func TestHostileOtherSlotKey(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("u1", "hostile", "sk-own-slot-key")
	keys.Set("u1", "openai", "sk-openai-key")
	h, logs := testHost(t, hostileEntry, keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1", RequestID: "req-42"})
	out, err := h.Call(ctx, "hostile", "key", []byte("openai"))
	if err != nil || string(out) != "none" {
		t.Fatalf("asking for openai's slot gave %q, %v", out, err)
	}
	if !strings.Contains(logs.String(), "asked_slot=openai") || !strings.Contains(logs.String(), "plugin=hostile") {
		t.Errorf("no warning naming the plugin:\n%s", logs)
	}
	for _, slot := range []string{"", "hostile"} {
		out, err = h.Call(ctx, "hostile", "key", []byte(slot))
		if err != nil || string(out) != keyFP("sk-own-slot-key") {
			t.Errorf("own slot %q gave %q, %v", slot, out, err)
		}
	}
	if out, err = h.Call(ctx, "hostile", "key0", nil); err != nil || string(out) != keyFP("sk-own-slot-key") {
		t.Errorf("own slot by offset 0 gave %q, %v", out, err)
	}
	if strings.Contains(logs.String(), "sk-") {
		t.Errorf("a key reached the log:\n%s", logs)
	}
}

func TestHostileLogFlood(t *testing.T) {
	h, logs := testHost(t, hostileEntry, nil)
	ctx := WithCall(context.Background(), Call{RequestID: "flood-1"})
	if _, err := h.Call(ctx, "hostile", "flood", []byte("2000")); err != nil {
		t.Fatal(err)
	}
	if n := logs.Count(`msg="line `); n != 5 {
		t.Errorf("%d plugin lines logged, want max_log_lines = 5", n)
	}
	if !strings.Contains(logs.String(), "plugin log lines dropped") || !strings.Contains(logs.String(), "dropped=1995") {
		t.Errorf("no single dropped-lines line:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "request_id=flood-1") {
		t.Errorf("log lines lack the request id")
	}
	// The cap is per call: the next call may log again.
	if _, err := h.Call(ctx, "hostile", "flood", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if n := logs.Count(`msg="line `); n != 7 {
		t.Errorf("%d lines after a second call, want 7", n)
	}
}

func TestLoggedKeyIsRedacted(t *testing.T) {
	keys := &MemoryKeys{}
	keys.Set("u1", "hostile", "sk-secret-value-123")
	h, logs := testHost(t, hostileEntry, keys)
	ctx := WithCall(context.Background(), Call{UserID: "u1"})
	_, err := h.Call(ctx, "hostile", "logkey", nil)
	var aerr *abi.Error
	if !errors.As(err, &aerr) || aerr.Message != "the provider rejected [redacted]" {
		t.Errorf("error = %v", err)
	}
	for _, want := range []string{"my key is [redacted]", "stderr says [redacted]"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "sk-secret-value-123") || strings.Contains(err.Error(), "sk-secret-value-123") {
		t.Errorf("key leaked:\n%s\n%v", logs, err)
	}
}

func TestHostileExtismBuiltinHTTP(t *testing.T) {
	s, hits := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "reached") })
	// Even with the server granted, Extism's own HTTP (no port check, no
	// redirect check, no private-address check) must stay off.
	entry := strings.Replace(hostileEntry, `allowed_hosts = ["api.example.com:443"]`,
		fmt.Sprintf("allowed_hosts = [%q]\nallow_private = true", hostPort(t, s)), 1)
	h, _ := testHost(t, entry, nil)
	expectFailureThenRecovery(t, h, "extism_http", []byte(s.URL), abi.ErrDenied, "Extism's built-in HTTP, which this host switches off")
	if hits.hits.Load() != 0 {
		t.Errorf("Extism's built-in HTTP reached the server")
	}
}

func TestHostileVarStore(t *testing.T) {
	h, _ := testHost(t, hostileEntry, nil)
	expectFailureThenRecovery(t, h, "var_set", []byte("user-1"), abi.ErrDenied, "Extism vars, which this host disables")
}

func TestHostileStderrFlood(t *testing.T) {
	h, logs := testHost(t, hostileEntry, nil)
	if _, err := h.Call(context.Background(), "hostile", "stderr_flood", []byte("5000")); err != nil {
		t.Fatal(err)
	}
	if n := logs.Count(`msg="plugin output" `); n != maxStdioLines {
		t.Errorf("%d stderr lines logged, want the cap of %d", n, maxStdioLines)
	}
	if !strings.Contains(logs.String(), "lines_dropped=4936") {
		t.Errorf("no truncation line:\n%s", logs.String()[max(0, len(logs.String())-2000):])
	}
}
