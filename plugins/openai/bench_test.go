//go:build !wasip1

package main

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkChat measures one chat call of the real plugin under the fake
// host against a loopback fake provider: JSON in, request build, the host
// HTTP round trip, parse, usage record, JSON out. Provider latency is ~0
// here, so this is the plugin's and the ABI's own overhead. "history" is
// the pipeline's request size (about 3 KiB); the others are two short
// messages.
func BenchmarkChat(b *testing.B) {
	load := func(b *testing.B) *plugintest.Harness { h, _ := setup(b, "openai", plugintest.Options{}); return h }
	plugintest.BenchChatKinds(b, load, hello("gpt-test"), plugintest.PipelineRequest("gpt-test", true), "Hello there!")
}

// BenchmarkThinkSplitter measures stripping reasoning tags from a 4 KiB
// reply fed in 16-byte stream pieces.
func BenchmarkThinkSplitter(b *testing.B) {
	text := "<think>" + strings.Repeat("weighing options ", 100) + "</think>" + strings.Repeat("The answer is here. ", 120)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		var t thinkSplitter
		for i := 0; i < len(text); i += 16 {
			t.feed(text[i:min(i+16, len(text))])
		}
		t.flush()
	}
}
