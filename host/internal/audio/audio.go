// Package audio inspects audio files that users upload (voice samples for
// cloning, voice messages for transcription): it tells what the file really
// is and how long it plays, measured from the file itself (MPEG frames, the
// WAV data chunk, the last OGG granule position), never from the name,
// extension or Content-Type the client sent. A file that only claims to be
// audio is refused with a sentence a user understands.
package audio

import (
	"errors"
	"fmt"
	"time"
)

// MIME types Inspect returns.
const (
	MIMEMP3 = "audio/mpeg"
	MIMEWAV = "audio/wav"
	MIMEOGG = "audio/ogg"
)

// Errors Inspect returns (match with errors.Is). Every error's text is
// written for the user who uploaded the file.
var (
	// ErrNotAudio: the bytes are not MP3, WAV or OGG at all (e.g. a text
	// file renamed .mp3).
	ErrNotAudio = errors.New("this is not an MP3, WAV or OGG audio file")
	// ErrNoAudio: a valid container that holds no sound (0 seconds).
	ErrNoAudio = errors.New("the file has no audio (0 seconds)")
	// ErrDamaged: the file starts like audio but its own headers contradict
	// it (sizes that lie, impossible rates, a non-PCM WAV).
	ErrDamaged = errors.New("damaged or unsupported audio file")
)

// damaged is an ErrDamaged with the user's explanation.
type damaged struct{ msg string }

func (e *damaged) Error() string        { return e.msg }
func (e *damaged) Is(target error) bool { return target == ErrDamaged }

func damagedf(format string, args ...any) error { return &damaged{msg: fmt.Sprintf(format, args...)} }

// Info is what Inspect learned about a file.
type Info struct {
	// MIME is MIMEMP3, MIMEWAV or MIMEOGG.
	MIME string
	// Duration is how long the audio plays.
	Duration time.Duration
	// Detail says what the file is in a few words for users, e.g.
	// "MP3, 44.1 kHz, 128 kbit/s" or "WAV PCM, 16-bit stereo, 48 kHz".
	Detail string
}

// Inspect reports the file's type and duration, or an error that says in the
// user's words why it is not usable audio. It reads only b (no I/O) and is
// safe on any input: hostile headers cannot make it allocate or loop beyond
// the file's own size.
func Inspect(b []byte) (mime string, duration time.Duration, err error) {
	info, err := InspectInfo(b)
	return info.MIME, info.Duration, err
}

// InspectInfo is Inspect with a short description of the format.
func InspectInfo(b []byte) (Info, error) {
	var (
		info Info
		err  error
	)
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		info, err = inspectWAV(b)
	case len(b) >= 4 && string(b[:4]) == "RIFF":
		return Info{}, fmt.Errorf("%w (it is a RIFF file, but not WAVE audio)", ErrNotAudio)
	case len(b) >= 4 && string(b[:4]) == "OggS":
		info, err = inspectOGG(b)
	default:
		info, err = inspectMP3(b)
	}
	if err != nil {
		return Info{}, err
	}
	if info.Duration <= 0 {
		return Info{}, ErrNoAudio
	}
	return info, nil
}

// Size formats a byte count the way users read sizes: "40 KB", "3 MB",
// "10.5 MB" (decimal units, as Discord shows file sizes).
func Size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return trimZero(float64(n)/1000) + " KB"
	case n < 1000*1000*1000:
		return trimZero(float64(n)/(1000*1000)) + " MB"
	}
	return trimZero(float64(n)/(1000*1000*1000)) + " GB"
}

// trimZero prints v with one decimal, or none when it is whole or large.
func trimZero(v float64) string {
	if v >= 100 || v == float64(int64(v)) {
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.1f", v)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// Duration formats d for users: "2 min 14 s", "14.2 s", "0.4 s".
func Duration(d time.Duration) string {
	if d < time.Minute {
		return trimZero(float64(d.Milliseconds())/1000) + " s"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%d min %d s", s/60, s%60)
}

// khz formats a sample rate: 44100 -> "44.1 kHz".
func khz(rate int) string { return trimZero(float64(rate)/1000) + " kHz" }
