package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"strings"

	// The decoders register themselves with image.DecodeConfig, which
	// reads only the header: the image's format and size, never its pixels.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/webp"
)

// picture is one decoded image, ready to become a blob.
type picture struct {
	Bytes  []byte
	Mime   string
	Width  int
	Height int
}

// errNotBase64 is the cause when an image the provider sent is not base64
// data (a data URL without ;base64, or broken base64).
var errNotBase64 = errors.New("not base64 data")

// fromDataURL decodes a data URL (data:image/png;base64,…), the way chat
// image models send images.
func fromDataURL(u string) (picture, error) {
	if len(u) < 5 || !strings.EqualFold(u[:5], "data:") {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return picture{}, fmt.Errorf("a link to the image instead of its data")
		}
		return picture{}, fmt.Errorf("something that is not a data URL")
	}
	meta, data, ok := strings.Cut(u[5:], ",")
	if !ok || !strings.HasSuffix(strings.ToLower(meta), ";base64") {
		return picture{}, fmt.Errorf("a data URL that is %w", errNotBase64)
	}
	return fromBase64(data)
}

// fromBase64 decodes standard base64 (b64_json, a data URL's data) and
// reads the image's header. The type is what the bytes are, not what the
// provider said: the host sniffs them again before a user sees them.
func fromBase64(data string) (picture, error) {
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		// Some servers leave out the padding.
		var err2 error
		if b, err2 = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "=")); err2 != nil {
			return picture{}, fmt.Errorf("%w (%v)", errNotBase64, err)
		}
	}
	if len(b) == 0 {
		return picture{}, fmt.Errorf("an empty image")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return picture{}, fmt.Errorf("%d bytes that are not a PNG, JPEG, GIF or WebP image", len(b))
	}
	return picture{Bytes: b, Mime: "image/" + format, Width: cfg.Width, Height: cfg.Height}, nil
}
