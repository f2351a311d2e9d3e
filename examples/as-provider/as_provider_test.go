// Package asprovider holds the Go test of the AssemblyScript example; the
// plugin itself is assembly/index.ts, built by `make examples` (or by this
// test when the .wasm is missing and npm is installed).
package asprovider

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

const wasmFile = "as-provider.wasm"

// ensureBuilt builds the plugin the way `make examples` does when the
// .wasm is missing, so `go test ./examples/...` works on its own.
func ensureBuilt(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(wasmFile); err == nil {
		return
	}
	steps := [][]string{{"npm", "run", "--silent", "build"}}
	if _, err := os.Stat("node_modules"); err != nil {
		steps = append([][]string{{"npm", "ci", "--no-audit", "--no-fund"}}, steps...)
	}
	for _, s := range steps {
		out, err := exec.Command(s[0], s[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s is missing and `%s` failed (run `make examples`; it needs Node.js and npm): %v\n%s",
				wasmFile, strings.Join(s, " "), err, out)
		}
	}
}

func TestAssemblyScriptProvider(t *testing.T) {
	ensureBuilt(t)
	h := plugintest.New(t, wasmFile, plugintest.Options{Config: map[string]string{"prefix": "Echo: "}})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("the ABI marker must be exported")
	}
	if d := h.Describe(); d.ABI != abi.Version || d.Name != "as-echo" || d.NeedsKey || len(d.Capabilities) != 1 || d.Capabilities[0] != abi.CapChat {
		t.Fatalf("describe = %+v", d)
	}

	// Non-ASCII text must survive both directions: as-pdk's outputString
	// would cut it short, and JSON escapes must decode.
	msg := "Grüße ✓ \"quoted\" 😀\ttab"
	resp, e := h.Chat(abi.ChatRequest{Stream: true, Messages: []abi.Message{
		{Role: abi.RoleUser, Content: "first"},
		{Role: abi.RoleAssistant, Content: "ignored"},
		{Role: abi.RoleUser, Content: msg},
	}})
	if e != nil {
		t.Fatal(e)
	}
	if resp.Content != "Echo: "+msg || resp.Model != "as-echo-1" || resp.FinishReason != "stop" {
		t.Fatalf("response = %+v", resp)
	}
	if got := strings.Join(h.Chunks(), ""); got != "Echo: "+msg {
		t.Fatalf("streamed %q", got)
	}
	if c := h.Chunks(); len(c) != 5 || c[1] != "Grüße " {
		t.Fatalf("chunks = %q, want word by word", c)
	}
	want := abi.Usage{Kind: "text", Model: "as-echo-1", InputTokens: 4, OutputTokens: 5}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != want || resp.Usage != want {
		t.Fatalf("usage recorded %+v, in response %+v; want %+v", u, resp.Usage, want)
	}
	if l := h.Logs(); len(l) != 1 || l[0].Message != "echoed 5 words" {
		t.Fatalf("logs = %+v", l)
	}

	_, e = h.Chat(abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleSystem, Content: "only a system prompt"}}})
	if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "no user message") {
		t.Fatalf("no user message: %+v", e)
	}
	res := h.Call(abi.ChatExport, "{oops")
	if res.Err == nil || res.Err.Code != abi.ErrBadRequest {
		t.Fatalf("bad input: %+v", res)
	}
}

func statWasm() (os.FileInfo, error) { return os.Stat(wasmFile) }
