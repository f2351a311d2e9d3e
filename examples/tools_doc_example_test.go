package examples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The Go tool plugin in docs/tools.md's "Writing a tool plugin" is complete
// code: this test builds it exactly as written and calls its tool, so the
// doc cannot show a tool plugin that does not compile or work.
func TestToolsDocPluginBuildsAndRuns(t *testing.T) {
	blocks, inSection, err := readBlocks(filepath.Join("..", "docs", "tools.md"), "## Writing a tool plugin")
	if err != nil {
		t.Fatal(err)
	}
	var src string
	for i, b := range blocks {
		if inSection[i] && strings.Contains(b.code, "//go:wasmexport invoke") {
			src = b.code
			break
		}
	}
	if src == "" {
		t.Fatal(`docs/tools.md "Writing a tool plugin" has no Go plugin block`)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "tooldoc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.Remove("testdata") // only when empty
	})
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "dice.wasm")
	if err := plugintest.BuildTo(dir, wasm); err != nil {
		t.Fatalf("the doc's tool plugin does not build:\n%v", err)
	}
	h := plugintest.New(t, wasm, plugintest.Options{})
	d := h.Describe()
	if d.Name != "dice" || len(d.Tools) != 1 || d.Tools[0].Name != "roll" || len(d.Capabilities) != 1 || d.Capabilities[0] != abi.CapTool {
		t.Fatalf("describe = %+v", d)
	}
	res := h.Call(abi.InvokeExport, abi.InvokeRequest{Tool: "roll", Arguments: json.RawMessage(`{"count":3}`)})
	if res.RC != 0 || res.Err != nil {
		t.Fatalf("invoke failed: rc %d, %v", res.RC, res.Err)
	}
	var out abi.InvokeResult
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Content, "rolled 3 dice: ") {
		t.Fatalf("content = %q", out.Content)
	}
}
