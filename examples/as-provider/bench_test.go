package asprovider

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkASChat is the AssemblyScript example's chat call (JSON parse,
// record_usage, log, JSON out) under the fake host.
func BenchmarkASChat(b *testing.B) {
	if _, err := statWasm(); err != nil {
		b.Fatalf("%s missing: run `make examples`", wasmFile)
	}
	h := plugintest.New(b, wasmFile, plugintest.Options{})
	req := abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleUser, Content: "Grüße ✓ one two"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := h.Chat(req); e != nil {
			b.Fatal(e)
		}
	}
	b.StopTimer()
	h.Reset()
}
