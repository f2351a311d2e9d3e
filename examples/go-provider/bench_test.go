//go:build !wasip1

package main

import (
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkSDKChat is the SDK's floor: a chat call with no HTTP, through
// sdk.Handle (decode, encode), record_usage and log.
func BenchmarkSDKChat(b *testing.B) {
	h := plugintest.New(b, plugintest.Build(b, "."), plugintest.Options{Key: "rev-1"})
	req := abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleUser, Content: "one two three"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := h.Chat(req); e != nil {
			b.Fatal(e)
		}
	}
	b.StopTimer()
	h.Reset()
}
