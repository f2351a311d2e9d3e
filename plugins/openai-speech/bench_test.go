//go:build !wasip1

package main

import (
	"bytes"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// BenchmarkSpeak measures one speak call of the real plugin under the fake
// host against a loopback fake server answering 1 MiB of audio: JSON in,
// settings checked, request built, the host HTTP round trip with the body
// kept host-side (response_blob), JSON out. The audio never enters the
// plugin, so its size should barely show.
func BenchmarkSpeak(b *testing.B) {
	h, _ := setup(b, false, plugintest.Options{})
	req := abi.SpeakRequest{Text: "Good evening, and welcome.", VoiceID: "big", Settings: []byte(`{"stability":0.5,"speed":1.1}`)}
	b.SetBytes(int64(len(bigAudio)))
	b.ReportAllocs()
	for b.Loop() {
		_, audio, e := h.Speak(req)
		if e != nil || len(audio) != len(bigAudio) {
			b.Fatalf("speak: %v, %d bytes", e, len(audio))
		}
	}
}

// BenchmarkTranscribe measures one transcribe call with 1 MiB of audio in
// a caller blob: the host builds the multipart body from the blob, so the
// audio never enters the plugin either; the fake server parses the form
// and answers verbose_json.
func BenchmarkTranscribe(b *testing.B) {
	h, _ := setup(b, false, plugintest.Options{})
	audio := append([]byte("OggS"), bytes.Repeat([]byte{'a'}, 1<<20-4)...)
	req := abi.TranscribeRequest{Audio: abi.AudioRef{MimeType: "audio/ogg", Filename: "voice-message.ogg"}}
	b.SetBytes(int64(len(audio)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := h.Transcribe(req, audio); e != nil {
			b.Fatal(e)
		}
	}
}
