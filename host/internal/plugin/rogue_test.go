package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The hostile plugins of this file (testdata/rogue, testdata/initloop) are
// built on first use, once per test binary.
var (
	extraBuild sync.Map // name -> *extraWasm
)

type extraWasm struct {
	once sync.Once
	path string
	err  error
}

func buildExtra(t testing.TB, name string) string {
	t.Helper()
	v, _ := extraBuild.LoadOrStore(name, &extraWasm{})
	w := v.(*extraWasm)
	w.once.Do(func() {
		w.path = filepath.Join(wasmDir, name+".wasm")
		w.err = plugintest.BuildTo(filepath.Join("testdata", name), w.path)
	})
	if w.err != nil {
		t.Fatal(w.err)
	}
	return w.path
}

// rogueEntry is a plugins.toml entry for the rogue plugin; config holds
// extra lines of its [plugins.rogue.config] table.
func rogueEntry(t testing.TB, limits, config string) string {
	return fmt.Sprintf(`
[plugins.rogue]
path = %q
capabilities = ["llm.chat"]
[plugins.rogue.limits]
pool_size = 1
call_timeout = "60s"
memory_mib = 32
max_response_bytes = 65536
%s
[plugins.rogue.config]
%s
`, buildExtra(t, "rogue"), limits, config)
}

// rogueDescribing is the rogue entry whose describe returns desc.
func rogueDescribing(t testing.TB, desc string) string {
	return rogueEntry(t, "", "describe = '''"+desc+"'''")
}

func TestHostileSchemaNamesHostFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string","description":"HOST-SECRET-JSON"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:HOST-SECRET-TEXT"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, schema := range map[string]string{
		"ref to a JSON file":    `{"$ref":"file://` + secret + `"}`,
		"nested ref":            `{"type":"object","properties":{"model":{"$ref":"file://` + secret + `"}}}`,
		"ref to a text file":    `{"$ref":"file://` + passwd + `"}`,
		"$schema names a file":  `{"$schema":"file://` + passwd + `","type":"object"}`,
		"relative ref from $id": `{"$id":"file://` + dir + `/","properties":{"x":{"$ref":"secret.json"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := testHost(t, rogueDescribing(t, `{"abi":1,"name":"rogue","version":"1","capabilities":["llm.chat"],"parameters_schema":`+schema+`}`), nil)
			st := statusOf(t, h, "rogue")
			if st.State != StateRefused {
				t.Fatalf("a schema naming a host file was %s", st.State)
			}
			if !strings.Contains(st.Reason, "parameters_schema") || !strings.Contains(st.Reason, "the host loads no") {
				t.Errorf("reason %q does not say why", st.Reason)
			}
			if strings.Contains(st.Reason, "HOST-SECRET") || strings.Contains(st.Reason, "root:") {
				t.Errorf("reason leaks the file: %q", st.Reason)
			}
		})
	}
	// plugins check goes through the same load.
	_, err := CheckFile(context.Background(), buildExtra(t, "rogue"), "")
	if err != nil {
		t.Fatalf("plain rogue does not pass check: %v", err)
	}
}

// TestInvalidConstraintsSchemaRefusedAtLoad: a constraints_schema that is
// not JSON Schema refuses the plugin with the schema named, and the rules
// of a plugin that loads are on its status, ready for the commands and the
// pipeline.
func TestInvalidConstraintsSchemaRefusedAtLoad(t *testing.T) {
	for name, tc := range map[string]struct{ schemas, want string }{
		"minimum is a word": {`"constraints_schema":{"properties":{"parameters":{"minimum":"one"}}}`, "its constraints_schema is not a valid JSON Schema"},
		"not JSON Schema":   {`"parameters_schema":{"type":"object"},"constraints_schema":{"type":12}`, "its constraints_schema is not a valid JSON Schema"},
		"refers outside":    {`"constraints_schema":{"$ref":"https://example.com/rules.json"}`, "the host loads no file and no URL"},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := testHost(t, rogueDescribing(t, `{"abi":1,"name":"rogue","version":"1","capabilities":["llm.chat"],`+tc.schemas+`}`), nil)
			st := statusOf(t, h, "rogue")
			if st.State != StateRefused || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("state %s, reason %q; want refused saying %q", st.State, st.Reason, tc.want)
			}
		})
	}
	h, _ := testHost(t, rogueDescribing(t, `{"abi":1,"name":"rogue","version":"1","capabilities":["llm.chat"],`+
		`"constraints_schema":{"if":{"properties":{"model":{"const":"o3"}}},"then":{"properties":{"parameters":{"not":{"required":["temperature"]},"x-field":"temperature","x-message":"o3 takes no temperature"}}}}}`), nil)
	st := statusOf(t, h, "rogue")
	if st.State != StateLoaded {
		t.Fatalf("a valid constraints_schema: %s (%s)", st.State, st.Reason)
	}
	err := st.Rules.Check("o3", json.RawMessage(`{"temperature":0.5}`))
	if err == nil || err.Error() != "temperature: o3 takes no temperature (it is 0.5)" {
		t.Errorf("o3 with temperature: %v", err)
	}
	if err := st.Rules.Check("gpt-4o", json.RawMessage(`{"temperature":0.5}`)); err != nil {
		t.Errorf("gpt-4o with temperature: %v", err)
	}
}

// TestHostileSchemaRefNamesFIFO: a $ref to a FIFO used to block the load
// forever. If the host opens the FIFO, the writer below gets through and
// the test fails instead of hanging.
func TestHostileSchemaRefNamesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	var opened sync.WaitGroup
	var hostOpened bool
	var done bool
	var mu sync.Mutex
	opened.Add(1)
	go func() {
		defer opened.Done()
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until someone reads
		if err != nil {
			return
		}
		mu.Lock()
		hostOpened = !done
		mu.Unlock()
		f.WriteString(`{"type":"string"}`)
		f.Close()
	}()
	h, _ := testHost(t, rogueDescribing(t, `{"abi":1,"name":"rogue","version":"1","capabilities":["llm.chat"],"parameters_schema":{"$ref":"file://`+fifo+`"}}`), nil)
	st := statusOf(t, h, "rogue")
	// Release the writer: the test opens the FIFO itself.
	mu.Lock()
	done = true
	mu.Unlock()
	if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		opened.Wait()
		r.Close()
	}
	if hostOpened {
		t.Error("the host opened a FIFO a plugin's schema named")
	}
	if st.State != StateRefused || !strings.Contains(st.Reason, "the host loads no") {
		t.Errorf("state %s, reason %q", st.State, st.Reason)
	}
}

// TestHostileDescribeIdentity: describe's name, version and summary reach
// terminals (plugins list, plugins check) and logs. Escape sequences, line
// breaks and invisible formatting would repaint the screen or forge a row.
func TestHostileDescribeIdentity(t *testing.T) {
	for _, c := range []struct{ name, fields, field string }{
		{"escape in name", `"name":"ro\u001b[2Jgue","version":"1"`, "name"},
		{"forged row in name", `"name":"rogue\nopenai  loaded  openai 9.9","version":"1"`, "name"},
		{"uppercase name", `"name":"OpenAI","version":"1"`, "name"},
		{"empty name", `"name":"","version":"1"`, "name"},
		{"long name", `"name":"` + strings.Repeat("a", 64) + `","version":"1"`, "name"},
		{"escape in version", `"name":"rogue","version":"1\u001b[31m"`, "version"},
		{"space in version", `"name":"rogue","version":"1 loaded"`, "version"},
		{"escape in summary", `"name":"rogue","version":"1","summary":"nice \u001b]0;pwned\u0007"`, "summary"},
		{"line break in summary", `"name":"rogue","version":"1","summary":"one\ntwo"`, "summary"},
		{"bidi override in summary", `"name":"rogue","version":"1","summary":"abc\u202edcba"`, "summary"},
		{"C1 control in summary", `"name":"rogue","version":"1","summary":"a\u009bb"`, "summary"},
		{"long summary", `"name":"rogue","version":"1","summary":"` + strings.Repeat("é", 201) + `"`, "summary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := testHost(t, rogueDescribing(t, `{"abi":1,`+c.fields+`,"capabilities":["llm.chat"]}`), nil)
			st := statusOf(t, h, "rogue")
			if st.State != StateRefused {
				t.Fatalf("describe {%s} was %s", c.fields, st.State)
			}
			if !strings.Contains(st.Reason, "its describe "+c.field) {
				t.Errorf("reason %q does not name the %s", st.Reason, c.field)
			}
			for _, r := range st.Reason {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
					t.Errorf("the refusal reason itself carries %U: %q", r, st.Reason)
				}
			}
		})
	}
	// A failing describe's own message is made printable too.
	t.Run("escape in describe's error", func(t *testing.T) {
		h, _ := testHost(t, rogueEntry(t, "", `describe_error = '{"code":"internal","message":"bad\u001b[2J\nrogue  loaded"}'`), nil)
		st := statusOf(t, h, "rogue")
		if st.State != StateRefused || st.Reason != `describe failed: internal: bad\u001b[2J\u000arogue  loaded` {
			t.Errorf("%s, %q", st.State, st.Reason)
		}
	})
	// What the documentation allows loads.
	h, _ := testHost(t, rogueDescribing(t, `{"abi":1,"name":"my-plugin_2","version":"1.2.0-beta.1+build.5","summary":"Chat mit Modellen – schnell, 日本語も","capabilities":["llm.chat"]}`), nil)
	if st := statusOf(t, h, "rogue"); st.State != StateLoaded {
		t.Errorf("a well-formed description was refused: %s", st.Reason)
	}
}

// rogueCall calls export of the loaded rogue plugin and returns its error
// as an *abi.Error (nil when the call succeeded).
func rogueCall(t *testing.T, h *Host, ctx context.Context, export, input string) ([]byte, *abi.Error) {
	t.Helper()
	out, err := h.Call(ctx, "rogue", export, []byte(input))
	if err == nil {
		return out, nil
	}
	var aerr *abi.Error
	if !errors.As(err, &aerr) {
		t.Fatalf("%s: err = %v, want an *abi.Error", export, err)
	}
	return out, aerr
}

// expectRogueAlive checks the pool still serves: a later caller is not
// handed a dead instance.
func expectRogueAlive(t *testing.T, h *Host) {
	t.Helper()
	for i := 0; i < 2; i++ {
		out, aerr := rogueCall(t, h, context.Background(), "echo", "alive")
		if aerr != nil || string(out) != "alive" {
			t.Fatalf("the next caller got %q, %v", out, aerr)
		}
	}
}

// TestHostileExit: exit(0) after writing output used to be reported as
// success, and the dead instance went back to the pool and broke the next
// caller's call. Any exit is a failed call and the instance is discarded.
func TestHostileExit(t *testing.T) {
	h, logs := testHost(t, rogueEntry(t, "", ""), nil)
	l := pluginOf(t, h, "rogue")
	for _, code := range []string{"0", "3"} {
		out, aerr := rogueCall(t, h, context.Background(), "exit", code)
		if aerr == nil || aerr.Code != abi.ErrInternal || aerr.Message != "the plugin exited (exit code "+code+") instead of returning from exit" {
			t.Errorf("exit(%s): output %q, error %v", code, out, aerr)
		}
		if len(out) != 0 {
			t.Errorf("exit(%s): output written before exit was returned: %q", code, out)
		}
		if n := l.pool.idleCount(); n != 0 {
			t.Errorf("exit(%s): %d idle instances, want the exited one discarded", code, n)
		}
		expectRogueAlive(t, h)
	}
	if !strings.Contains(logs.String(), "plugin exited") {
		t.Errorf("no log line for the exit:\n%s", logs)
	}
}

// emitCollector is a Call that counts what reaches OnChunk.
type emitCollector struct {
	chunks int
	bytes  int
}

func (c *emitCollector) ctx() context.Context {
	return WithCall(context.Background(), Call{RequestID: "emit-1", OnChunk: func(s string) { c.chunks++; c.bytes += len(s) }})
}

// TestHostileEmitFlood: one huge emit and 100,000 emits (30,000 here) used to reach the
// caller whole. Emits past a cap are dropped (the final answer still
// arrives whole) and the call logs that once.
func TestHostileEmitFlood(t *testing.T) {
	h, logs := testHost(t, rogueEntry(t, "", ""), nil) // max_response_bytes = 65536
	var c emitCollector
	if out, aerr := rogueCall(t, h, c.ctx(), "emit_big", fmt.Sprint(maxEmitBytes+1)); aerr != nil || string(out) != "done" {
		t.Fatalf("emit_big: %q, %v", out, aerr)
	}
	if c.chunks != 0 {
		t.Errorf("an emit of %d bytes reached the caller (cap %d)", c.bytes, maxEmitBytes)
	}
	if logs.Count("plugin emits dropped") != 1 || !strings.Contains(logs.String(), "larger than the per-emit cap") {
		t.Errorf("no single drop line:\n%s", logs)
	}

	c = emitCollector{}
	if out, aerr := rogueCall(t, h, c.ctx(), "emit_many", "30000,1"); aerr != nil || string(out) != "done" {
		t.Fatalf("emit_many: %q, %v", out, aerr)
	}
	if c.chunks != maxEmitsPerCall {
		t.Errorf("%d of 30000 emits reached the caller, want the cap of %d", c.chunks, maxEmitsPerCall)
	}
	if logs.Count("plugin emits dropped") != 2 || !strings.Contains(logs.String(), "dropped=20000") {
		t.Errorf("no single drop line for the flood:\n%s", logs.String()[max(0, len(logs.String())-1500):])
	}

	// The bytes of a call's emits are capped at max_response_bytes.
	c = emitCollector{}
	if _, aerr := rogueCall(t, h, c.ctx(), "emit_many", "100,1000"); aerr != nil {
		t.Fatal(aerr)
	}
	if c.bytes != 65000 {
		t.Errorf("%d bytes emitted, want 65 chunks of 1000 (max_response_bytes 65536)", c.bytes)
	}

	// The caps are per call.
	c = emitCollector{}
	if _, aerr := rogueCall(t, h, c.ctx(), "emit_many", "3,5"); aerr != nil || c.chunks != 3 {
		t.Errorf("a small stream after the flood: %d chunks, %v", c.chunks, aerr)
	}
}

// TestHostileUsage: usage a plugin reports is checked by one function,
// whether it comes through record_usage or in a chat response. Negative
// counts (which then broke the reply's batch insert) and absurd ones
// (1e18) used to be taken from a chat response as they were.
func TestHostileUsage(t *testing.T) {
	bad := []string{
		`{"kind":"text","input_tokens":-5,"output_tokens":3}`,
		`{"kind":"text","input_tokens":1000000000000000000}`,
		`{"kind":"text","reasoning_tokens":-1}`,
		`{"kind":"voice","characters":100000001}`,
		`{"kind":"image","images":-2}`,
		`{"kind":"text","model":"` + strings.Repeat("m", 257) + `"}`,
	}
	for _, u := range bad {
		t.Run("response "+u[:min(len(u), 50)], func(t *testing.T) {
			h, logs := testHost(t, rogueEntry(t, "", "chat_response = '''{\"content\":\"hi\",\"usage\":"+u+"}'''"), nil)
			resp, usage, err := h.Chat(context.Background(), "rogue", abi.ChatRequest{})
			if err != nil || resp.Content != "hi" {
				t.Fatalf("chat = %q, %v; the reply itself must stand", resp.Content, err)
			}
			if len(usage) != 0 {
				t.Errorf("usage %s was taken from the response: %+v", u, usage)
			}
			if resp.Usage.InputTokens != 0 || resp.Usage.OutputTokens != 0 || resp.Usage.ReasoningTokens != 0 || resp.Usage.Characters != 0 || resp.Usage.Images != 0 {
				t.Errorf("the response still carries the bad usage: %+v", resp.Usage)
			}
			if !strings.Contains(logs.String(), "plugin usage in chat response rejected") {
				t.Errorf("no warning:\n%s", logs)
			}
		})
	}
	t.Run("record_usage", func(t *testing.T) {
		h, _ := testHost(t, rogueEntry(t, "", ""), nil)
		for _, u := range bad {
			if out, aerr := rogueCall(t, h, context.Background(), "record", u); aerr != nil || string(out) != "1" {
				t.Errorf("record_usage(%s) = %q, %v; want it refused (1)", u, out, aerr)
			}
		}
	})
	// At the bounds, a row is fine both ways.
	good := `{"kind":"text","model":"m","input_tokens":100000000,"output_tokens":0,"reasoning_tokens":100000000}`
	h, _ := testHost(t, rogueEntry(t, "", "chat_response = '''{\"content\":\"hi\",\"usage\":"+good+"}'''"), nil)
	_, usage, err := h.Chat(context.Background(), "rogue", abi.ChatRequest{})
	if err != nil || len(usage) != 1 || usage[0].InputTokens != 100000000 || usage[0].Plugin != "rogue" {
		t.Errorf("good usage from a response: %+v, %v", usage, err)
	}
	if out, aerr := rogueCall(t, h, context.Background(), "record", good); aerr != nil || string(out) != "0" {
		t.Errorf("record_usage(good) = %q, %v", out, aerr)
	}
}

// TestHostileUnknownErrorCode: the ABI says unknown error codes are treated
// as internal; they used to pass through to callers as they were.
func TestHostileUnknownErrorCode(t *testing.T) {
	h, _ := testHost(t, rogueEntry(t, "", ""), nil)
	for in, want := range map[string]abi.Error{
		`{"code":"totally_new","message":"boom","retryable":true}`:       {Code: abi.ErrInternal, Message: "boom", Retryable: true},
		`{"code":"\u001b[31mred","message":"x"}`:                         {Code: abi.ErrInternal, Message: "x"},
		`{"code":"RATE_LIMITED","message":"case matters"}`:               {Code: abi.ErrInternal, Message: "case matters"},
		`{"code":"rate_limited","message":"slow down","retryable":true}`: {Code: abi.ErrRateLimited, Message: "slow down", Retryable: true},
		`not json`: {Code: abi.ErrInternal, Message: "not json"},
	} {
		_, aerr := rogueCall(t, h, context.Background(), "fail", in)
		if aerr == nil || *aerr != want {
			t.Errorf("error %s came back as %+v, want %+v", in, aerr, want)
		}
	}
}

// TestHostileStdoutFloodCounts: a 200,000-line stdout flood used to be
// reported as 686 lines dropped (only the lines inside the kept 16 KiB were
// counted). Every line the plugin wrote is counted.
func TestHostileStdoutFloodCounts(t *testing.T) {
	h, logs := testHost(t, rogueEntry(t, "", ""), nil)
	if _, aerr := rogueCall(t, h, context.Background(), "stdout_flood", "200000"); aerr != nil {
		t.Fatal(aerr)
	}
	if n := logs.Count(`msg="plugin output" `); n != maxStdioLines {
		t.Errorf("%d stdout lines logged, want the cap of %d", n, maxStdioLines)
	}
	want := fmt.Sprintf("lines_dropped=%d bytes_dropped=%d", 200000-maxStdioLines, 2*200000-maxStdioBytes)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("want %q in:\n%s", want, logs.String()[max(0, len(logs.String())-600):])
	}
	// Nothing dropped, nothing reported; the counts are per call.
	if _, aerr := rogueCall(t, h, context.Background(), "stdout_flood", "3"); aerr != nil {
		t.Fatal(aerr)
	}
	if logs.Count("plugin output truncated") != 1 {
		t.Errorf("a 3-line call reported a truncation")
	}
}

func TestCappedBufferCountsLines(t *testing.T) {
	c := &cappedBuffer{max: 5}
	for _, w := range []string{"ab\n", "cd\nef", "\n", "", "gh"} {
		c.Write([]byte(w))
	}
	// "ab\ncd" kept, "\nef\ngh" dropped: 4 lines (ab, cd, ef, gh), 6 bytes.
	if c.buf.String() != "ab\ncd" || c.dropped != 6 || c.lines() != 4 {
		t.Errorf("kept %q, dropped %d bytes, %d lines", c.buf.String(), c.dropped, c.lines())
	}
	c.reset()
	c.Write([]byte("\n\n"))
	if c.lines() != 2 || c.dropped != 0 {
		t.Errorf("two empty lines counted as %d", c.lines())
	}
}
