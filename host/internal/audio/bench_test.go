package audio_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/host/internal/audio/audiotest"
)

// BenchmarkInspect measures inspecting files of the largest size a voice
// sample may have (about 10 MB), and noise of that size (refused).
func BenchmarkInspect(b *testing.B) {
	noise := make([]byte, 10<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, bc := range []struct {
		name string
		file []byte
	}{
		{"mp3-10MB", audiotest.MP3(audiotest.MP3FramesFor(10*time.Minute), audiotest.MP3Options{ID3: 1000})},
		{"wav-10MB", audiotest.WAV(5*time.Minute, audiotest.WAVOptions{})},
		{"ogg-opus-5min", audiotest.OggOpus(5 * time.Minute)},
		{"noise-10MB", noise},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.file)))
			for b.Loop() {
				_, _, _ = audio.Inspect(bc.file)
			}
		})
	}
}
