package audio

import "testing"

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		name string
		b    string
		mime string
	}{
		{"mp3 with ID3", "ID3\x04\x00\x00\x00\x00\x00\x0a\xff\xfb\x90\x00", "audio/mpeg"},
		{"mp3 frame, no tag", "\xff\xfb\x90\x64\x00\x00", "audio/mpeg"},
		{"mpeg-2 layer III frame", "\xff\xf3\x48\xc4\x00", "audio/mpeg"},
		{"wav", "RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00", "audio/wav"},
		{"ogg opus (Discord voice message)", "OggS\x00\x02\x00\x00\x00\x00", "audio/ogg"},
		{"flac", "fLaC\x00\x00\x00\x22", "audio/flac"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm"},
		{"matroska", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "audio/x-matroska"},
		{"m4a", "\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"},
		{"aac adts", "\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"},
	} {
		if got, ok := Sniff([]byte(c.b)); !ok || got != c.mime {
			t.Errorf("%s: Sniff = %q, %v; want %q", c.name, got, ok, c.mime)
		}
	}
}

// TestSniffRefusesNonAudio: what a provider sends with status 200 when
// something went wrong, and a text file renamed to .mp3, are not audio.
func TestSniffRefusesNonAudio(t *testing.T) {
	for name, b := range map[string]string{
		"empty":             "",
		"html error page":   "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
		"json error":        `{"detail":{"status":"voice_not_found"}}`,
		"text renamed .mp3": "hello, this is a text file",
		"RIFF but not WAVE": "RIFF\x24\x08\x00\x00AVI LIST",
		"truncated RIFF":    "RIFF",
		"reserved mpeg":     "\xff\xe9\x90\x00", // version 01 is reserved
		"bad bitrate":       "\xff\xfb\xf0\x00",
		"short ID3":         "ID3",
		"png":               "\x89PNG\r\n\x1a\n\x00\x00",
	} {
		if got, ok := Sniff([]byte(b)); ok {
			t.Errorf("%s: Sniff = %q, want not audio", name, got)
		}
	}
}
