package plugintest

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// BenchChat measures one chat call of the plugin per iteration, reporting
// allocations, and fails the benchmark unless every call succeeds with
// content want (a benchmark of a failing call measures nothing). It
// forgets the recorded usage, logs and chunks afterwards, so they do not
// pile up across benchmarks.
func BenchChat(b *testing.B, h *Harness, req abi.ChatRequest, want string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if resp, e := h.Chat(req); e != nil || resp.Content != want {
			b.Fatalf("chat = %+v, error %v; want content %q", resp, e, want)
		}
	}
	b.StopTimer()
	h.Reset()
}
