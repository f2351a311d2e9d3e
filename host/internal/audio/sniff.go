// Package audio recognises and measures audio files from their own bytes:
// what a voice plugin returned, a voice sample a user uploaded, a voice
// message to transcribe. Nothing here trusts a file name or a declared
// MIME type.
package audio

import "bytes"

// Sniff names the audio container b starts with, by its magic bytes: MP3
// (with or without an ID3 tag), WAV (RIFF/WAVE), Ogg, FLAC, WebM or
// Matroska, MP4/M4A and raw AAC (ADTS). ok is false for anything else,
// e.g. an HTML or JSON error page served with status 200.
func Sniff(b []byte) (mime string, ok bool) {
	switch {
	case len(b) >= 10 && bytes.HasPrefix(b, []byte("ID3")) && b[3] != 0xff && b[4] != 0xff:
		return "audio/mpeg", true
	case len(b) >= 12 && bytes.HasPrefix(b, []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WAVE")):
		return "audio/wav", true
	case bytes.HasPrefix(b, []byte("OggS\x00")):
		return "audio/ogg", true
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "audio/flac", true
	case bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}):
		// EBML: the DocType element near the start says which.
		if bytes.Contains(b[:min(len(b), 64)], []byte("webm")) {
			return "audio/webm", true
		}
		return "audio/x-matroska", true
	case len(b) >= 12 && bytes.Equal(b[4:8], []byte("ftyp")):
		return "audio/mp4", true
	case len(b) >= 4 && b[0] == 0xff && b[1]&0xf6 == 0xf0:
		// ADTS: 12 sync bits, layer 00; sampling index 15 is invalid.
		if (b[2]>>2)&0x0f == 0x0f {
			return "", false
		}
		return "audio/aac", true
	case len(b) >= 4 && mpegFrame(b):
		return "audio/mpeg", true
	}
	return "", false
}

// mpegFrame reports whether b starts with a valid MPEG audio frame header
// (an MP3 without an ID3 tag): 11 sync bits, no reserved version or layer,
// and a bitrate and sample rate that exist.
func mpegFrame(b []byte) bool {
	if b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return false
	}
	version, layer := (b[1]>>3)&3, (b[1]>>1)&3
	bitrate, rate := b[2]>>4, (b[2]>>2)&3
	return version != 1 && layer != 0 && bitrate != 0x0f && bitrate != 0 && rate != 3
}
