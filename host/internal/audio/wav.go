package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// WAVE format tags.
const (
	wavePCM        = 0x0001
	waveExtensible = 0xFFFE
)

// pcmSubformat is KSDATAFORMAT_SUBTYPE_PCM, the GUID a WAVE_FORMAT_EXTENSIBLE
// fmt chunk names for integer PCM (00000001-0000-0010-8000-00aa00389b71, as
// stored: the first three fields little-endian).
var pcmSubformat = []byte{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// inspectWAV reads a RIFF/WAVE file: a PCM fmt chunk and a data chunk whose
// sizes the file really holds. The duration is the data size over the byte
// rate, and the byte rate must be what the channels, rate and sample size
// make (a header that says otherwise would make the duration a lie).
func inspectWAV(b []byte) (Info, error) {
	riff := int64(binary.LittleEndian.Uint32(b[4:8]))
	if riff+8 > int64(len(b)) {
		return Info{}, damagedf("the WAV header says the file is %s but it has %s (it was cut short or the header lies)",
			Size(riff+8), Size(int64(len(b))))
	}
	end := int(riff + 8) // bytes after the RIFF chunk (padding, junk) are not the WAV's
	var (
		fmtFound                   bool
		channels, bits, blockAlign int
		rate, byteRate             int64
		dataSize                   int64
		dataFound                  bool
	)
	for pos := 12; pos+8 <= end; {
		id := string(b[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(b[pos+4 : pos+8]))
		body := pos + 8
		avail := int64(end - body)
		switch id {
		case "fmt ":
			if size < 16 || size > avail {
				return Info{}, damagedf("the WAV format header is damaged (its size is %d bytes)", size)
			}
			c := b[body : body+int(size)]
			format := binary.LittleEndian.Uint16(c[0:])
			channels = int(binary.LittleEndian.Uint16(c[2:]))
			rate = int64(binary.LittleEndian.Uint32(c[4:]))
			byteRate = int64(binary.LittleEndian.Uint32(c[8:]))
			blockAlign = int(binary.LittleEndian.Uint16(c[12:]))
			bits = int(binary.LittleEndian.Uint16(c[14:]))
			switch format {
			case wavePCM:
			case waveExtensible:
				if size < 40 || !bytes.Equal(c[24:40], pcmSubformat) {
					return Info{}, damagedf("this WAV file is not PCM audio (only uncompressed PCM WAV is accepted; convert it to PCM WAV or MP3)")
				}
			default:
				return Info{}, damagedf("this WAV file is not PCM audio (format %d; only uncompressed PCM WAV is accepted; convert it to PCM WAV or MP3)", format)
			}
			switch {
			case channels < 1 || channels > 8:
				return Info{}, damagedf("the WAV header says it has %d channels", channels)
			case rate < 1000 || rate > 384000:
				return Info{}, damagedf("the WAV header says its sample rate is %d Hz", rate)
			case bits != 8 && bits != 16 && bits != 24 && bits != 32:
				return Info{}, damagedf("the WAV header says each sample has %d bits (8, 16, 24 or 32 expected)", bits)
			}
			if want := rate * int64(channels) * int64(bits) / 8; byteRate != want {
				return Info{}, damagedf("the WAV header's byte rate (%d per second) does not match %d channels × %d Hz × %d bits (%d per second)",
					byteRate, channels, rate, bits, want)
			}
			if want := channels * bits / 8; blockAlign != want {
				return Info{}, damagedf("the WAV header's block size (%d bytes) does not match %d channels × %d bits", blockAlign, channels, bits)
			}
			fmtFound = true
		case "data":
			if !fmtFound {
				return Info{}, damagedf("the WAV file's audio comes before its format header")
			}
			if size > avail {
				return Info{}, damagedf("the WAV header says %s of audio but the file has %s", Size(size), Size(max(avail, 0)))
			}
			dataSize, dataFound = size, true
		}
		if dataFound {
			break
		}
		if size > avail {
			return Info{}, damagedf("the WAV file's %q section says %s but the file has %s", id, Size(size), Size(max(avail, 0)))
		}
		pos = body + int(size) + int(size&1) // chunks are padded to even sizes
	}
	switch {
	case !fmtFound:
		return Info{}, damagedf("the WAV file has no format header")
	case !dataFound:
		return Info{}, damagedf("the WAV file has no audio data section")
	}
	d := time.Duration(dataSize/int64(blockAlign)) * time.Second / time.Duration(rate)
	return Info{MIME: MIMEWAV, Duration: d, Detail: fmt.Sprintf("WAV PCM, %d-bit %s, %s", bits, channelWord(channels), khz(int(rate)))}, nil
}

func channelWord(n int) string {
	switch n {
	case 1:
		return "mono"
	case 2:
		return "stereo"
	}
	return fmt.Sprintf("%d-channel", n)
}
