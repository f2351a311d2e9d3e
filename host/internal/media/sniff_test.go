package media

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

func encoded(t *testing.T, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSniffImageRealFiles: files written by real encoders are recognised,
// and the size of a PNG and a GIF is read from its header.
func TestSniffImageRealFiles(t *testing.T) {
	webp := append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 24)...)
	cases := []struct {
		name string
		data []byte
		mime string
	}{
		{"png", encoded(t, func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) }), "image/png"},
		{"jpeg", encoded(t, func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) }), "image/jpeg"},
		{"gif", encoded(t, func(b *bytes.Buffer, i image.Image) error { return gif.Encode(b, i, nil) }), "image/gif"},
		{"webp", webp, "image/webp"},
	}
	for _, c := range cases {
		got, ok := SniffImage(c.data)
		if !ok || got != c.mime {
			t.Errorf("%s: SniffImage = %q, %v; want %q", c.name, got, ok, c.mime)
		}
		if got, ok := Sniff(c.data); !ok || got != c.mime {
			t.Errorf("%s: Sniff = %q, %v", c.name, got, ok)
		}
		if c.name == "png" || c.name == "gif" {
			if w, h, ok := ImageSize(c.data); !ok || w != 3 || h != 2 {
				t.Errorf("%s: ImageSize = %d x %d, %v; want 3 x 2", c.name, w, h, ok)
			}
		}
	}
}

// TestSniffImageRefusesNonImages: what a broken provider serves with
// status 200 is never taken for an image.
func TestSniffImageRefusesNonImages(t *testing.T) {
	for _, b := range []string{
		"", "<html><body>502 Bad Gateway</body></html>", `{"error":"quota"}`,
		`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"RIFF\x24\x00\x00\x00WAVEfmt ", "\x89PN", "GIF8",
	} {
		if m, ok := SniffImage([]byte(b)); ok {
			t.Errorf("SniffImage(%q) = %q, want not an image", b, m)
		}
	}
	// Audio is a file Sniff knows, but not an image.
	if m, ok := Sniff([]byte("OggS\x00\x02rest")); !ok || m != "audio/ogg" {
		t.Errorf("Sniff(ogg) = %q, %v", m, ok)
	}
}
