//go:build !wasip1

package main

import (
	"encoding/json"
	"testing"

	"github.com/tzurot-go/tzurot/plugins/elevenlabs/elevenfake"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkSpeak measures one speak call of the real plugin under the fake
// host against the loopback fake API: JSON in, settings check, request
// build, the host HTTP round trip with the MP3 kept host-side, usage
// record, JSON out. API latency is ~0 here, so this is the plugin's and
// the ABI's own overhead. "1MiB" shows the audio's size does not reach
// the plugin: only the host reads those bytes.
func BenchmarkSpeak(b *testing.B) {
	text := "Ah, you came back. I wondered whether the rain would keep you away tonight; it kept everyone else. " +
		"Sit, tell me what you found in the old library, and do not leave out the part you are afraid of."
	for _, c := range []struct {
		name, voice string
		size        int
	}{
		{"26KiB", elevenfake.VoiceRachel, len(elevenfake.MP3(text))},
		{"1MiB", elevenfake.VoiceLong, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, _ := setup(b, plugintest.Options{})
			req := abi.SpeakRequest{Text: text, VoiceID: c.voice,
				Settings: json.RawMessage(`{"stability":0.5,"similarity_boost":0.75,"style":0.1,"speaker_boost":true,"speed":1}`)}
			b.ReportAllocs()
			for b.Loop() {
				res := h.Call(abi.SpeakExport, req)
				var out abi.SpeakResponse
				if res.Err != nil || res.Trap != nil || json.Unmarshal(res.Output, &out) != nil || len(res.Blobs[out.Audio.Blob]) != c.size {
					b.Fatalf("speak = %s, %v %v", res.Output, res.Err, res.Trap)
				}
			}
			b.StopTimer()
			h.Reset()
		})
	}
}
