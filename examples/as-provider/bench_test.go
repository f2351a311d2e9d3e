package asprovider

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// BenchmarkASChat is the AssemblyScript example's chat call (json-as in
// and out, one HTTP request to a loopback provider, record_usage, log)
// under the fake host.
func BenchmarkASChat(b *testing.B) {
	fake := &fakeProvider{}
	fake.answer(200, okReply)
	h := newHarness(b, fake)
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
