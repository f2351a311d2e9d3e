//go:build wasip1

package sdk

import (
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Helpers for the voice exports (docs/plugin-abi.md §5.5–5.7): audio stays
// in host-side blobs; a plugin passes handles around.

// TextPart is a text field of a host-built multipart body
// (abi.HTTPRequest.Multipart).
func TextPart(name, value string) abi.MultipartPart {
	return abi.MultipartPart{Name: name, Value: value}
}

// FilePart uploads the audio a of the current call (a voice sample of
// clone_voice, the audio of transcribe) as the file field name of a
// host-built multipart body: the bytes go from blob to provider without
// entering the plugin. A missing filename becomes "audio" plus the type's
// usual extension, since some providers read the format from it.
func FilePart(name string, a abi.AudioRef) abi.MultipartPart {
	filename := a.Filename
	if filename == "" {
		filename = "audio" + AudioExtension(a.MimeType)
	}
	return abi.MultipartPart{Name: name, Blob: a.Blob, Filename: filename, ContentType: a.MimeType}
}

// AudioExtension is the usual file extension of an audio MIME type
// (".mp3" for audio/mpeg), or "" when unknown.
func AudioExtension(mime string) string {
	mime, _, _ = strings.Cut(strings.ToLower(mime), ";")
	switch strings.TrimSpace(mime) {
	case "audio/mpeg", "audio/mp3":
		return ".mp3"
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "audio/ogg", "audio/opus":
		return ".ogg"
	case "audio/flac", "audio/x-flac":
		return ".flac"
	case "audio/webm":
		return ".webm"
	case "audio/mp4", "audio/m4a", "audio/x-m4a":
		return ".m4a"
	case "audio/aac":
		return ".aac"
	}
	return ""
}

// AudioFromResponse is the speak answer for speech the provider sent as
// the body of r, kept host-side (the request set ResponseBlob): the bytes
// never enter the plugin. mime "" takes the response's Content-Type. The
// host still checks the bytes are audio, so an error page served with 200
// never reaches a user as a voice message; check r.OK() first anyway, to
// answer the provider's error with its code.
func AudioFromResponse(r *Response, mime string) (abi.AudioRef, error) {
	if r.BodyBlob == 0 {
		return abi.AudioRef{}, Errorf(abi.ErrInternal, "the response body was not kept as a blob (set ResponseBlob on the request)")
	}
	if mime == "" {
		mime, _, _ = strings.Cut(r.Headers["content-type"], ";")
		mime = strings.TrimSpace(mime)
	}
	return abi.AudioRef{Blob: r.BodyBlob, MimeType: mime}, nil
}

// AudioFromBytes stores audio the plugin holds (e.g. decoded from a JSON
// answer) as a blob and returns the speak answer's AudioRef.
func AudioFromBytes(b []byte, mime string) (abi.AudioRef, error) {
	h, err := NewBlob(b)
	if err != nil {
		return abi.AudioRef{}, err
	}
	return abi.AudioRef{Blob: h, MimeType: mime}, nil
}
