//go:build !wasip1

package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkChat measures one chat call of the real plugin under the fake
// host against a loopback fake provider: JSON in, request build, the host
// HTTP round trip, parse, usage record, JSON out. Provider latency is ~0
// here, so this is the plugin's and the ABI's own overhead.
func BenchmarkChat(b *testing.B) {
	for _, stream := range []bool{false, true} {
		name := "plain"
		if stream {
			name = "stream"
		}
		b.Run(name, func(b *testing.B) {
			api := &fakeAPI{t: b}
			srv := httptest.NewServer(api)
			defer srv.Close()
			h := plugintest.New(b, wasmPath, plugintest.Options{Key: keyGood,
				Config:       map[string]string{"base_url": srv.URL + "/v1", "default_model": "gpt-test"},
				AllowedHosts: []string{strings.TrimPrefix(srv.URL, "http://")}})
			req := hello("gpt-test")
			req.Stream = stream
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if resp, e := h.Chat(req); e != nil || resp.Content != "Hello there!" {
					b.Fatalf("%+v %v", resp, e)
				}
			}
			b.StopTimer()
			h.Reset()
		})
	}
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
