package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/audio"
	"github.com/tzurot-go/tzurot/host/internal/audio/audiotest"
)

// near reports whether got is within one MP3 frame (26 ms) of want.
func near(got, want time.Duration) bool {
	d := got - want
	return d > -30*time.Millisecond && d < 30*time.Millisecond
}

func TestInspectAcceptsRealShapes(t *testing.T) {
	frames := audiotest.MP3FramesFor(3 * time.Second)
	for _, tc := range []struct {
		name   string
		file   []byte
		mime   string
		want   time.Duration
		detail string
	}{
		{"mp3 plain", audiotest.MP3(frames, audiotest.MP3Options{}), audio.MIMEMP3, 3 * time.Second, "MP3, 44.1 kHz, 128 kbit/s"},
		{"mp3 with ID3v2", audiotest.MP3(frames, audiotest.MP3Options{ID3: 4096}), audio.MIMEMP3, 3 * time.Second, "MP3"},
		{"mp3 with ID3v2 and ID3v1", audiotest.MP3(frames, audiotest.MP3Options{ID3: 300, ID3v1: true}), audio.MIMEMP3, 3 * time.Second, "MP3"},
		{"mp3 with Xing", audiotest.MP3(frames, audiotest.MP3Options{Xing: true, XingFrames: -1}), audio.MIMEMP3, 3 * time.Second, "MP3"},
		{"mp3 with VBRI", audiotest.MP3(frames, audiotest.MP3Options{VBRI: true}), audio.MIMEMP3, 3 * time.Second, "MP3"},
		{"wav 16-bit mono", audiotest.WAV(2*time.Second, audiotest.WAVOptions{}), audio.MIMEWAV, 2 * time.Second, "WAV PCM, 16-bit mono, 16 kHz"},
		{"wav 24-bit stereo 48k", audiotest.WAV(1500*time.Millisecond, audiotest.WAVOptions{Channels: 2, Rate: 48000, Bits: 24}), audio.MIMEWAV, 1500 * time.Millisecond, "24-bit stereo, 48 kHz"},
		{"wav extensible", audiotest.WAV(time.Second, audiotest.WAVOptions{Extensible: true}), audio.MIMEWAV, time.Second, "WAV PCM"},
		{"wav with a LIST chunk", audiotest.WAV(time.Second, audiotest.WAVOptions{ListChunk: true}), audio.MIMEWAV, time.Second, "WAV PCM"},
		{"ogg opus voice message", audiotest.OggOpus(7 * time.Second), audio.MIMEOGG, 7 * time.Second, "OGG Opus, mono"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := audio.InspectInfo(tc.file)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if info.MIME != tc.mime || !near(info.Duration, tc.want) || !strings.Contains(info.Detail, tc.detail) {
				t.Fatalf("got %+v, want %s for %v (%q)", info, tc.mime, tc.want, tc.detail)
			}
		})
	}
}

// TestXingCountWins: a VBR file whose frames are damaged half way through
// still reports the length its encoder wrote in the Xing header; an
// undamaged file reports what its frames hold even if the Xing header
// claims more (a lie the file cannot back).
func TestXingCount(t *testing.T) {
	n := audiotest.MP3FramesFor(4 * time.Second)
	f := audiotest.MP3(n, audiotest.MP3Options{Xing: true, XingFrames: -1})
	mid := len(f) / 2
	copy(f[mid:], bytes.Repeat([]byte{0x55}, 8)) // garbage inside a frame breaks the walk there
	_, d, err := audio.Inspect(f)
	if err != nil || !near(d, 4*time.Second) {
		t.Fatalf("damaged VBR file: %v %v, want 4s from the Xing count", d, err)
	}
	liar := audiotest.MP3(n, audiotest.MP3Options{Xing: true, XingFrames: 1 << 30})
	if _, d, err := audio.Inspect(liar); err != nil || !near(d, 4*time.Second) {
		t.Fatalf("Xing claiming 2^30 frames: %v %v, want the 4s the frames hold", d, err)
	}
}

func TestInspectRefusesWithUserWords(t *testing.T) {
	wav3s := audiotest.WAV(3*time.Second, audiotest.WAVOptions{})
	cut := wav3s[:40000]
	binary.LittleEndian.PutUint32(cut[4:], uint32(len(cut)-8)) // the RIFF size fixed, the data size not

	for _, tc := range []struct {
		name string
		file []byte
		is   error
		want string
	}{
		{"text renamed .mp3", []byte(strings.Repeat("Dear diary, today I recorded my voice. ", 200)), audio.ErrNotAudio, "this is not an MP3, WAV or OGG audio file"},
		{"empty file", nil, audio.ErrNotAudio, "not an MP3"},
		{"a PNG", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 2000)...), audio.ErrNotAudio, "not an MP3"},
		{"an AVI (RIFF but not WAVE)", append([]byte("RIFF\x10\x00\x00\x00AVI LIST"), make([]byte, 8)...), audio.ErrNotAudio, "not WAVE"},
		{"one lucky MP3 header in noise", append([]byte{0xFF, 0xFB, 0x90, 0x00}, bytes.Repeat([]byte("noise"), 300)...), audio.ErrNotAudio, "not an MP3"},
		{"ID3 tag and nothing else", audiotest.MP3(0, audiotest.MP3Options{ID3: 100}), audio.ErrNotAudio, "no MPEG audio frames"},
		{"ID3 tag longer than the file", audiotest.MP3(5, audiotest.MP3Options{ID3: 100})[:50], audio.ErrDamaged, "ID3 tag says"},
		{"0-second MP3 (Xing frame only)", audiotest.MP3(0, audiotest.MP3Options{Xing: true}), audio.ErrNoAudio, "the file has no audio (0 seconds)"},
		{"0-second WAV", audiotest.WAV(0, audiotest.WAVOptions{}), audio.ErrNoAudio, "0 seconds"},
		{"0-second OGG", audiotest.OggOpus(0), audio.ErrNoAudio, "0 seconds"},
		{"WAV data size lies", cut, audio.ErrDamaged, "the WAV header says 96 KB of audio but the file has 40 KB"},
		{"WAV data size 3 MB in a small file", audiotest.WAV(time.Second, audiotest.WAVOptions{DataSize: 3_000_000, RIFFSize: 3_000_036}), audio.ErrDamaged, "the WAV header says the file is 3 MB but it has 32 KB"},
		{"WAV RIFF size lies", audiotest.WAV(time.Second, audiotest.WAVOptions{RIFFSize: 1 << 30}), audio.ErrDamaged, "the WAV header says the file is 1.1 GB"},
		{"WAV byte rate lies", audiotest.WAV(time.Second, audiotest.WAVOptions{ByteRate: 1000}), audio.ErrDamaged, "byte rate (1000 per second) does not match 1 channels × 16000 Hz × 16 bits (32000 per second)"},
		{"WAV float", audiotest.WAV(time.Second, audiotest.WAVOptions{Format: 3, Bits: 32}), audio.ErrDamaged, "not PCM audio"},
		{"WAV header only", func() []byte {
			b := audiotest.WAV(time.Second, audiotest.WAVOptions{})[:36]
			binary.LittleEndian.PutUint32(b[4:], 28)
			return b
		}(), audio.ErrDamaged, "no audio data section"},
		{"OGG with a bad checksum", func() []byte { b := audiotest.OggOpus(2 * time.Second); b[30] ^= 1; return b }(), audio.ErrDamaged, "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mime, d, err := audio.Inspect(tc.file)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Inspect = %q %v %v; want %v saying %q", mime, d, err, tc.is, tc.want)
			}
			if mime != "" || d != 0 {
				t.Fatalf("a refused file still reported %q %v", mime, d)
			}
		})
	}
}

// TestTruncatedFilesCountWhatTheyHold: a voice message or MP3 cut short
// (an interrupted upload) reports the audio it really has.
func TestTruncatedFilesCountWhatTheyHold(t *testing.T) {
	mp3 := audiotest.MP3(audiotest.MP3FramesFor(10*time.Second), audiotest.MP3Options{})
	if _, d, err := audio.Inspect(mp3[:len(mp3)/2+100]); err != nil || !near(d, 5*time.Second) {
		t.Fatalf("half an MP3: %v %v", d, err)
	}
	ogg := audiotest.OggOpus(10 * time.Second)
	_, d, err := audio.Inspect(ogg[:len(ogg)-30])
	if err != nil || d != 9*time.Second {
		t.Fatalf("OGG missing its last page: %v %v", d, err)
	}
}

func TestSizeAndDurationWords(t *testing.T) {
	for n, want := range map[int64]string{12: "12 bytes", 40_000: "40 KB", 40_960: "41 KB", 3_000_000: "3 MB", 10_485_760: "10.5 MB", 11_000_000: "11 MB"} {
		if got := audio.Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{400 * time.Millisecond: "0.4 s", 14200 * time.Millisecond: "14.2 s", 134 * time.Second: "2 min 14 s", 3 * time.Minute: "3 min"} {
		if got := audio.Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzInspect: no input panics, loops or reports a negative or absurd
// duration; anything accepted has a known type and a positive duration.
func FuzzInspect(f *testing.F) {
	f.Add(audiotest.MP3(5, audiotest.MP3Options{ID3: 20, Xing: true, XingFrames: -1}))
	f.Add(audiotest.MP3(4, audiotest.MP3Options{VBRI: true, ID3v1: true}))
	f.Add(audiotest.WAV(100*time.Millisecond, audiotest.WAVOptions{Extensible: true, ListChunk: true}))
	f.Add(audiotest.OggOpus(2 * time.Second))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt "))
	f.Add([]byte("ID3\x04\x00\x10\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mime, d, err := audio.Inspect(b)
		if err != nil {
			if mime != "" || d != 0 || err.Error() == "" {
				t.Fatalf("error with a result: %q %v %v", mime, d, err)
			}
			return
		}
		switch mime {
		case audio.MIMEMP3, audio.MIMEWAV, audio.MIMEOGG:
		default:
			t.Fatalf("unknown type %q", mime)
		}
		if d <= 0 || d > time.Duration(len(b)+1)*time.Second {
			t.Fatalf("%s of %d bytes plays %v", mime, len(b), d)
		}
	})
}
