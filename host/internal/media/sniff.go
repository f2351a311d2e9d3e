// Package media recognises image files from their own bytes: what an
// image plugin generated or a tool attached. Like host/internal/audio
// (its sibling for sound), nothing here trusts a file name or a declared
// MIME type.
package media

import (
	"bytes"
	"encoding/binary"

	"github.com/tzurot-go/tzurot/host/internal/audio"
)

// SniffImage names the image format b starts with, by its magic bytes:
// PNG, JPEG, GIF (87a and 89a) or WebP (RIFF/WEBP). ok is false for
// anything else, e.g. an HTML or JSON error page served with status 200,
// or an SVG (which can carry script and is never attached as an image).
func SniffImage(b []byte) (mime string, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", true
	case len(b) >= 4 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		return "image/jpeg", true
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif", true
	case len(b) >= 16 && bytes.HasPrefix(b, []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "image/webp", true
	}
	return "", false
}

// Sniff names any file the host recognises (an image, else audio), for
// files a tool attaches, which may be either. ok is false for anything
// else.
func Sniff(b []byte) (mime string, ok bool) {
	if m, ok := SniffImage(b); ok {
		return m, true
	}
	return audio.Sniff(b)
}

// ImageSize reads the pixel size of a PNG or GIF from its header; ok is
// false for other formats or a header too short. It is informational
// (alt text, logs): nothing decides on it.
func ImageSize(b []byte) (width, height int, ok bool) {
	switch {
	case len(b) >= 24 && bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) && bytes.Equal(b[12:16], []byte("IHDR")):
		return int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24])), true
	case len(b) >= 10 && bytes.HasPrefix(b, []byte("GIF8")):
		return int(binary.LittleEndian.Uint16(b[6:8])), int(binary.LittleEndian.Uint16(b[8:10])), true
	}
	return 0, 0, false
}
