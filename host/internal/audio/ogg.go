package audio

import (
	"encoding/binary"
	"fmt"
	"time"
)

// oggCRC is the CRC-32 of the Ogg framing (polynomial 0x04C11DB7, not
// reflected, initial value 0), over the page with its checksum field zeroed.
var oggCRC = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04C11DB7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggChecksum(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 { // the checksum field counts as zero
			c = 0
		}
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^c]
	}
	return crc
}

// inspectOGG walks the Ogg pages (each checked with its CRC) of the first
// logical stream, which must be Opus (Discord's voice messages) or Vorbis.
// The duration is the last page's granule position: the count of 48 kHz
// samples for Opus, less the pre-skip the OpusHead declares; of samples at
// the stream's own rate for Vorbis.
func inspectOGG(b []byte) (Info, error) {
	var (
		serial   uint32
		codec    string
		rate     int64
		preSkip  int64
		granule  int64 = -1
		channels int
		pages    int
	)
	for pos := 0; pos < len(b); {
		if len(b)-pos < 27 || string(b[pos:pos+4]) != "OggS" {
			if pages == 0 {
				return Info{}, ErrNotAudio
			}
			break // trailing bytes after the last whole page
		}
		h := b[pos:]
		if h[4] != 0 {
			return Info{}, damagedf("the OGG file uses an unknown version of the format")
		}
		nseg := int(h[26])
		if len(h) < 27+nseg {
			break // cut inside a page header: count what came before
		}
		body := 0
		for _, s := range h[27 : 27+nseg] {
			body += int(s)
		}
		size := 27 + nseg + body
		if size > len(h) {
			break // the last page was cut short
		}
		page := h[:size]
		if oggChecksum(page) != binary.LittleEndian.Uint32(page[22:26]) {
			if pages == 0 {
				return Info{}, damagedf("the OGG file is damaged (its first page fails its checksum)")
			}
			break
		}
		s := binary.LittleEndian.Uint32(page[14:18])
		g := int64(binary.LittleEndian.Uint64(page[6:14]))
		data := page[27+nseg:]
		if pages == 0 {
			serial = s
			switch {
			case len(data) >= 19 && string(data[:8]) == "OpusHead":
				codec, rate = "Opus", 48000
				channels = int(data[9])
				preSkip = int64(binary.LittleEndian.Uint16(data[10:12]))
			case len(data) >= 30 && string(data[:7]) == "\x01vorbis":
				codec = "Vorbis"
				channels = int(data[11])
				rate = int64(binary.LittleEndian.Uint32(data[12:16]))
				if rate < 1000 || rate > 384000 {
					return Info{}, damagedf("the OGG Vorbis header says its sample rate is %d Hz", rate)
				}
			default:
				return Info{}, damagedf("this OGG file holds neither Opus nor Vorbis audio")
			}
		}
		pages++
		if s == serial && g >= 0 { // -1: no packet ends on this page
			granule = g
		}
		pos += size
	}
	if granule < 0 {
		return Info{MIME: MIMEOGG}, nil // headers only: no audio
	}
	samples := granule - preSkip
	if samples < 0 {
		samples = 0
	}
	// Even silence with Opus DTX costs more than a byte a second; a larger
	// claim is a forged granule (and would overflow the duration).
	if samples/rate > int64(len(b)) {
		return Info{}, damagedf("the OGG file claims to play for %d hours but holds only %s", samples/rate/3600, Size(int64(len(b))))
	}
	d := time.Duration(samples) * time.Second / time.Duration(rate)
	return Info{MIME: MIMEOGG, Duration: d, Detail: fmt.Sprintf("OGG %s, %s", codec, channelWord(channels))}, nil
}
