//go:build !wasip1

package main

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkChat measures one chat call of the real plugin under the fake
// host against the loopback fake API: JSON in, request build, the host
// HTTP round trip, parse, usage record, JSON out. API latency is ~0 here,
// so this is the plugin's and the ABI's own overhead.
func BenchmarkChat(b *testing.B) {
	load := func(b *testing.B) *plugintest.Harness { h, _ := setup(b, plugintest.Options{}); return h }
	plugintest.BenchChatKinds(b, load, hello("gemini-2.5-flash"), plugintest.PipelineRequest("gemini-2.5-flash", false), "Hello there!")
}
