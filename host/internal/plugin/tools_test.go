package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

const toolKey = "sk-tool-secret-0123456789abcdef"

// toolkitHost starts a host with the toolkit test plugin as entry
// "toolkit" (key slot toolkey, max_response_bytes 1 MiB, 128 MiB of
// memory so it can hold a hostile 50 MB output), images capped at
// maxImage, extra lines in its entry and config table; user u1 holds
// toolKey.
func toolkitHost(t testing.TB, caps, config string, maxImage int64) (*Host, *logBuffer) {
	t.Helper()
	toml := fmt.Sprintf(`
[plugins.toolkit]
path = %q
key_slot = "toolkey"
raw_key = true
capabilities = [%s]
[plugins.toolkit.limits]
pool_size = 1
memory_mib = 128
max_response_bytes = 1048576
[plugins.toolkit.config]
%s
`, buildExtra(t, "toolkit"), caps, config)
	keys := &MemoryKeys{}
	keys.Set("u1", "toolkey", toolKey)
	logs := &logBuffer{}
	h, err := NewHost(context.Background(), Options{
		Config: parseTestConfig(t, toml), Keys: keys, MaxImageBytes: maxImage,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h, logs
}

const toolCaps = `"tool", "image.generate"`

func toolCtx() context.Context {
	return WithCall(context.Background(), Call{UserID: "u1", RequestID: "tool-test"})
}

func loadedToolkit(t testing.TB, caps, config string, maxImage int64) *Host {
	t.Helper()
	h, _ := toolkitHost(t, caps, config, maxImage)
	if st := statusOf(t, h, "toolkit"); st.State != StateLoaded {
		t.Fatalf("toolkit %s: %s", st.State, st.Reason)
	}
	return h
}

func invokeArgs(t testing.TB, h *Host, tool, args string) (ToolResult, []abi.Usage, error) {
	t.Helper()
	return h.InvokeTool(toolCtx(), "toolkit", abi.InvokeRequest{Tool: tool, Arguments: json.RawMessage(args),
		Context: abi.ToolContext{Timezone: "Europe/Berlin", PersonalityName: "Lilith"}})
}

func wantCode(t *testing.T, err error, code, text string) {
	t.Helper()
	var e *abi.Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v; want code %s containing %q", err, code, text)
	}
}

// TestToolsListedAndInvoked: a granted tool plugin's tools are listed with
// their schemas, and a call with valid arguments reaches the plugin with
// the caller's context and comes back as content.
func TestToolsListedAndInvoked(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	tools := h.Tools()
	if len(tools) != 2 || tools[0].Entry != "toolkit" || tools[0].Tool.Name != "weather" || tools[1].Tool.Name != "behave" {
		t.Fatalf("Tools() = %+v", tools)
	}
	if !strings.Contains(string(tools[0].Tool.Parameters), `"required":["city"]`) {
		t.Errorf("weather parameters = %s", tools[0].Tool.Parameters)
	}
	res, _, err := invokeArgs(t, h, "weather", `{"city":"Paris","days":2}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `sunny in Paris {"timezone":"Europe/Berlin","personality_name":"Lilith"}`
	if res.Result.Content != want || res.Result.IsError {
		t.Errorf("content = %q, want %q", res.Result.Content, want)
	}
	// No arguments at all is the empty object, valid for a tool without
	// required fields.
	res, _, err = invokeArgs(t, h, "behave", "")
	if err != nil || res.Result.Content != "{}" {
		t.Errorf("empty arguments: %q, %v", res.Result.Content, err)
	}
	// An is_error result is for the model to read, not a failure.
	res, _, err = invokeArgs(t, h, "behave", `{"mode":"error"}`)
	if err != nil || !res.Result.IsError || res.Result.Content != "no such city" {
		t.Errorf("is_error result: %+v, %v", res.Result, err)
	}
	// A plugin's own error object is an error with its code.
	_, _, err = invokeArgs(t, h, "behave", `{"mode":"fail"}`)
	wantCode(t, err, abi.ErrUnavailable, "the weather service is down")
}

// TestToolArgumentsCheckedBeforeThePlugin: arguments that do not match the
// schema never reach the plugin, and the error names the field.
func TestToolArgumentsCheckedBeforeThePlugin(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	cases := []struct{ args, want string }{
		{`{}`, "arguments: city: is required"},
		{`{"city":"Paris","days":9}`, "arguments: days: must be at most 7 (it is 9)"},
		{`{"city":"Paris","country":"FR"}`, "arguments: country: is not an argument of this tool"},
		{`{"city":42}`, "arguments: city: must be string"},
		{`["Paris"]`, "arguments: they must be a JSON object"},
		{`{"city":"Paris"`, "arguments: they are not valid JSON"},
	}
	for _, c := range cases {
		_, _, err := invokeArgs(t, h, "weather", c.args)
		var ae *ToolArgumentsError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.args, err, c.want)
			continue
		}
		wantCode(t, err, abi.ErrBadRequest, c.want)
		if err := h.ValidateToolArguments("toolkit", "weather", json.RawMessage(c.args)); err == nil {
			t.Errorf("ValidateToolArguments(%s) = nil", c.args)
		}
	}
	if st := statusOf(t, h, "toolkit"); st.Calls != 0 {
		t.Errorf("the plugin was called %d times with invalid arguments", st.Calls)
	}
}

// TestToolUnknownOrNotGranted: a tool the plugin does not declare, a
// plugin that is not a tool plugin, and an entry that does not exist are
// clear errors, and no plugin is called.
func TestToolUnknownOrNotGranted(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	_, _, err := invokeArgs(t, h, "rm_rf", `{}`)
	wantCode(t, err, abi.ErrBadRequest, `plugin toolkit has no tool named "rm_rf"`)
	_, _, err = h.InvokeTool(toolCtx(), "nosuch", abi.InvokeRequest{Tool: "weather"})
	wantCode(t, err, abi.ErrUnavailable, `no plugin named "nosuch"`)

	// Only image.generate granted: the plugin must not declare tools then,
	// so with no tools declared it loads, lists none and invokes none.
	h2 := loadedToolkit(t, `"image.generate"`, "caps = \"image.generate\"\ntools = \"[]\"", 0)
	if tools := h2.Tools(); len(tools) != 0 {
		t.Errorf("Tools() of a plugin not granted tool = %+v", tools)
	}
	_, _, err = h2.InvokeTool(toolCtx(), "toolkit", abi.InvokeRequest{Tool: "weather", Arguments: json.RawMessage(`{"city":"x"}`)})
	wantCode(t, err, abi.ErrDenied, "does not offer tool")
	if st := statusOf(t, h2, "toolkit"); st.Calls != 0 {
		t.Errorf("calls = %d", st.Calls)
	}
}

// TestToolDeclarationsCheckedAtLoad: a plugin declaring tools it may not
// or cannot offer is refused with the reason.
func TestToolDeclarationsCheckedAtLoad(t *testing.T) {
	many := make([]abi.Tool, MaxToolsPerPlugin+1)
	for i := range many {
		many[i] = abi.Tool{Name: fmt.Sprintf("t%d", i), Description: "x"}
	}
	manyJSON, _ := json.Marshal(many)
	cases := []struct{ caps, config, want string }{
		{`"image.generate"`, `caps = "image.generate"`, `it declares 2 tools but does not request capability "tool"`},
		{`"image.generate"`, `caps = "image.generate,tool"`, `it requests capability "tool", which plugins.toml does not grant`},
		{toolCaps, `tools = "[]"`, `it requests capability "tool" but declares no tools`},
		{toolCaps, fmt.Sprintf("tools = %q", manyJSON), "it declares 33 tools; at most 32 are allowed"},
		{toolCaps, `tools = '[{"name":"Weather","description":"x"}]'`, `its tool name "Weather" is not allowed`},
		{toolCaps, `tools = '[{"name":"9lives","description":"x"}]'`, `its tool name "9lives" is not allowed`},
		{toolCaps, `tools = '[{"name":"a","description":"x"},{"name":"a","description":"y"}]'`, `it declares the tool "a" twice`},
		{toolCaps, `tools = '[{"name":"a","description":""}]'`, `tool "a" has no description`},
		{toolCaps, `tools = '[{"name":"a","description":"line\u001b[2J"}]'`, `tool "a": its description contains U+001B`},
		{toolCaps, fmt.Sprintf(`tools = '[{"name":"a","description":"%s"}]'`, strings.Repeat("x", 1025)), "its description is 1025 characters long; at most 1024"},
		{toolCaps, `tools = '[{"name":"a","description":"x","parameters":{"type":"string"}}]'`, `tool "a": its parameters are not a valid JSON Schema of an object: its top level must say "type": "object"`},
		{toolCaps, `tools = '[{"name":"a","description":"x","parameters":{"type":"object","properties":{"u":{"$ref":"https://evil.example/s.json"}}}}]'`, `tool "a": its parameters are not a valid JSON Schema of an object`},
		{toolCaps, `image_schema = '{"type":"object","properties":{"q":{"$ref":"https://evil.example/s.json"}}}'`, "its image_schema is not a valid JSON Schema"},
	}
	for _, c := range cases {
		h, _ := toolkitHost(t, c.caps, c.config, 0)
		st := statusOf(t, h, "toolkit")
		if st.State != StateRefused || !strings.Contains(st.Reason, c.want) {
			t.Errorf("%s: %s %q; want refused with %q", c.config, st.State, st.Reason, c.want)
		}
	}
	// A tool without parameters gets the empty object schema.
	h := loadedToolkit(t, toolCaps, `tools = '[{"name":"ping","description":"Answers pong."}]'`, 0)
	if tools := h.Tools(); len(tools) != 1 || string(tools[0].Tool.Parameters) != `{"type":"object","properties":{}}` {
		t.Errorf("Tools() = %+v", tools)
	}
}

// TestToolHugeOutputRefusedBeforeTheCopy: a tool returning 50 MB fails
// cleanly with the limit in the error, the host never copies the 50 MB
// out, and the plugin keeps serving.
func TestToolHugeOutputRefusedBeforeTheCopy(t *testing.T) {
	h, logs := toolkitHost(t, toolCaps, "", 0)
	_, _, err := invokeArgs(t, h, "behave", `{"mode":"huge","n":52428800}`)
	wantCode(t, err, abi.ErrInternal, "larger than its 1048576-byte limit")
	if !errors.Is(err, errOutputTooLarge) {
		t.Errorf("err = %v; want the output-too-large cause", err)
	}
	// The 50 MB live in the plugin's own wasm memory (bounded by
	// memory_mib); this line is only logged when output_set was stopped,
	// before Extism copies the output into the host's heap.
	if !strings.Contains(logs.String(), "plugin output over max_response_bytes refused") {
		t.Errorf("the oversized output was not stopped at output_set:\n%s", logs.String())
	}
	// Just under the limit still works, and the plugin still serves.
	res, _, err := invokeArgs(t, h, "weather", `{"city":"Oslo"}`)
	if err != nil || !strings.HasPrefix(res.Result.Content, "sunny in Oslo") {
		t.Fatalf("after the huge output: %+v, %v", res, err)
	}
}

// TestToolContentCutAndScrubbed: long content is cut for the model with a
// marker at a character boundary, and a key the tool was served never
// reaches the model or a file name.
func TestToolContentCutAndScrubbed(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	res, _, err := invokeArgs(t, h, "behave", `{"mode":"long","n":200000}`)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Result.Content
	if len(c) > MaxToolContentBytes || !strings.HasSuffix(c, "\n[cut: the tool returned 200000 bytes; the rest is not shown]") || res.ContentBytes != 200000 {
		t.Errorf("cut content: %d bytes, ends %q, ContentBytes %d", len(c), c[max(0, len(c)-80):], res.ContentBytes)
	}
	if !strings.HasPrefix(c, "ééé") || !json.Valid([]byte(fmt.Sprintf("%q", c))) {
		t.Errorf("cut content does not start with the text")
	}
	if !utf8.ValidString(c) {
		t.Error("the cut split a character: the content is not valid UTF-8")
	}

	res, _, err = invokeArgs(t, h, "behave", `{"mode":"key"}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Result.Content, toolKey) || strings.Contains(res.Files[0].Filename, toolKey) || strings.Contains(res.Result.Attachments[0].Filename, toolKey) {
		t.Errorf("the key reached the result: %q %q", res.Result.Content, res.Files[0].Filename)
	}
}

// TestToolAttachments: an attached image comes back as bytes with its
// sniffed type and a safe file name; a missing blob, a file that is no
// image or audio and one over the cap are errors.
func TestToolAttachments(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 64<<10)
	res, _, err := invokeArgs(t, h, "behave", `{"mode":"attach","n":2000}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || len(res.Files[0].Data) != 2000 || res.Files[0].MimeType != "image/png" ||
		res.Files[0].Filename != "pic.png" || res.Files[0].Description != "a test picture" || res.Result.Attachments[0].MimeType != "image/png" {
		t.Errorf("attachment = %+v / %+v", res.Files[0].Filename, res.Result.Attachments)
	}
	_, _, err = invokeArgs(t, h, "behave", `{"mode":"attach-html"}`)
	wantCode(t, err, abi.ErrUnavailable, "the tool attached something that is not an image or audio")
	if !errors.Is(err, errNotFile) {
		t.Errorf("err = %v; want errNotFile", err)
	}
	_, _, err = invokeArgs(t, h, "behave", `{"mode":"attach-missing"}`)
	wantCode(t, err, abi.ErrInternal, "blob 4242, which does not exist")
	_, _, err = invokeArgs(t, h, "behave", `{"mode":"attach","n":70000}`)
	wantCode(t, err, abi.ErrDenied, "the tool returned a file of 68 KiB, over the 64 KiB limit")
}

// TestToolUsage: usage a tool reports in its result is one row, kind text
// when it names none, billed to its key slot.
func TestToolUsage(t *testing.T) {
	h := loadedToolkit(t, toolCaps, "", 0)
	_, usage, err := invokeArgs(t, h, "behave", `{"mode":"usage"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 1 || usage[0].Kind != abi.UsageText || usage[0].InputTokens != 7 || usage[0].Provider != "toolkey" || usage[0].Plugin != "toolkit" {
		t.Errorf("usage = %+v", usage)
	}
}

func TestSafeFilename(t *testing.T) {
	for _, c := range []struct{ in, mime, want string }{
		{"cat.jpg", "image/png", "cat.png"},
		{"../../etc/passwd", "image/png", "passwd.png"},
		{`C:\x\evil name!.gif`, "image/gif", "evilname.gif"},
		{"", "audio/mpeg", "file-3.mp3"},
		{"\u202egnp.exe", "image/png", "gnp.png"},
	} {
		if got := safeFilename(c.in, c.mime, 3); got != c.want {
			t.Errorf("safeFilename(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
