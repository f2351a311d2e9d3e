package audio

import (
	"encoding/binary"
	"fmt"
	"time"
)

// MPEG audio versions as coded in the frame header (bits 19-20).
const (
	mpeg25 = 0
	mpeg2  = 2
	mpeg1  = 3
)

// bitrates in kbit/s by [version is MPEG-1][layer 1..3][index]; index 0 is
// "free format" and 15 is invalid, both refused.
var bitrates = [2][4][16]int{
	{ // MPEG-2 and 2.5
		{},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	},
	{ // MPEG-1
		{},
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
	},
}

// sampleRates in Hz by [version][index]; index 3 is reserved.
var sampleRates = [4][3]int{
	mpeg25: {11025, 12000, 8000},
	mpeg2:  {22050, 24000, 16000},
	mpeg1:  {44100, 48000, 32000},
}

// frame is one parsed MPEG audio frame header.
type frame struct {
	version, layer int // layer 1..3
	bitrate        int // kbit/s
	sampleRate     int // Hz
	samples        int // PCM samples per channel in the frame
	size           int // bytes including the header
	mono           bool
	crc            bool
}

// parseFrame reads the 4-byte header at b[0:4]; ok is false unless it is a
// valid, non-free-format MPEG audio frame header.
func parseFrame(b []byte) (frame, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return frame{}, false
	}
	h := binary.BigEndian.Uint32(b)
	f := frame{
		version: int(h>>19) & 3,
		layer:   4 - int(h>>17)&3, // coded 3=Layer I, 2=II, 1=III
		crc:     h>>16&1 == 0,
		mono:    h>>6&3 == 3,
	}
	bi, si, pad := int(h>>12)&15, int(h>>10)&3, int(h>>9)&1
	if f.version == 1 || f.layer == 4 || bi == 0 || bi == 15 || si == 3 {
		return frame{}, false
	}
	v1 := 0
	if f.version == mpeg1 {
		v1 = 1
	}
	f.bitrate = bitrates[v1][f.layer][bi]
	f.sampleRate = sampleRates[f.version][si]
	switch {
	case f.layer == 1:
		f.samples = 384
		f.size = (12*f.bitrate*1000/f.sampleRate + pad) * 4
	case f.layer == 3 && f.version != mpeg1:
		f.samples = 576
		f.size = 72*f.bitrate*1000/f.sampleRate + pad
	default:
		f.samples = 1152
		f.size = 144*f.bitrate*1000/f.sampleRate + pad
	}
	return f, f.size > 4
}

// vbrFrames reads a Xing/Info or VBRI header in the first frame and returns
// the number of audio frames it declares; ok is false when there is none
// (the frame is then audio like any other).
func vbrFrames(b []byte, f frame) (n int64, ok bool) {
	if f.size > len(b) {
		return 0, false
	}
	fb := b[:f.size]
	// Xing/Info sits after the side information.
	side := 32
	switch {
	case f.version == mpeg1 && f.mono:
		side = 17
	case f.version != mpeg1 && !f.mono:
		side = 17
	case f.version != mpeg1 && f.mono:
		side = 9
	}
	for _, off := range []int{4 + side, 4 + side + 2} { // some encoders count the CRC
		if off+8 > len(fb) {
			continue
		}
		tag := string(fb[off : off+4])
		if tag != "Xing" && tag != "Info" {
			continue
		}
		flags := binary.BigEndian.Uint32(fb[off+4:])
		if flags&1 == 0 || off+12 > len(fb) {
			return -1, true // a VBR header without a frame count: not audio, count unknown
		}
		return int64(binary.BigEndian.Uint32(fb[off+8:])), true
	}
	// VBRI (Fraunhofer) is always 32 bytes after the header.
	if off := 4 + 32; off+18 <= len(fb) && string(fb[off:off+4]) == "VBRI" {
		return int64(binary.BigEndian.Uint32(fb[off+14:])), true
	}
	return 0, false
}

// minFrames is how many consecutive valid frames a file must start with,
// unless it ends cleanly sooner: one header-like 4 bytes happen by chance in
// text or noise, three chained ones (each at the offset the previous one's
// size points to) practically never do.
const minFrames = 3

// maxSyncSearch bounds how far past the tags Inspect looks for the first
// frame (some encoders leave padding; anything longer is not an MP3).
const maxSyncSearch = 64 << 10

// inspectMP3 walks the MPEG frames after any ID3v2 tag.
func inspectMP3(b []byte) (Info, error) {
	start, err := skipID3v2(b)
	if err != nil {
		return Info{}, err
	}
	first := -1
	for i := start; i < len(b) && i-start < maxSyncSearch; i++ {
		if b[i] != 0xFF {
			continue
		}
		if n, clean := chain(b, i); n >= minFrames || (clean && n > 0) {
			first = i
			break
		}
	}
	if first < 0 {
		if start > 0 {
			return Info{}, fmt.Errorf("%w (it has an MP3 tag but no MPEG audio frames after it)", ErrNotAudio)
		}
		return Info{}, ErrNotAudio
	}
	f0, _ := parseFrame(b[first:])
	declared, hasVBR := vbrFrames(b[first:], f0)

	var (
		pos     = first
		samples int64
		frames  int64
		kbits   int64
		clean   bool
	)
	for {
		f, ok := parseFrame(b[pos:])
		if !ok || pos+f.size > len(b) || f.version != f0.version || f.layer != f0.layer || f.sampleRate != f0.sampleRate {
			clean = endsClean(b[pos:])
			break
		}
		if !(hasVBR && pos == first) { // the VBR header frame is silence, not audio
			samples += int64(f.samples)
			frames++
			kbits += int64(f.bitrate)
		}
		pos += f.size
	}
	if !clean && hasVBR && declared > frames && declared*int64(f0.samples) > 0 &&
		declared*24 <= int64(len(b)) { // 24 bytes is the smallest frame: a count the file cannot hold is a lie
		// The walk stopped on damage in the middle; the encoder's count
		// (written over the whole stream) is the better measure.
		samples = declared * int64(f0.samples)
	}
	d := time.Duration(samples) * time.Second / time.Duration(f0.sampleRate)
	detail := fmt.Sprintf("MP3, %s", khz(f0.sampleRate))
	if frames > 0 {
		detail += fmt.Sprintf(", %d kbit/s", kbits/frames)
	}
	if f0.layer != 3 {
		detail = fmt.Sprintf("MPEG layer %d audio, %s", f0.layer, khz(f0.sampleRate))
	}
	return Info{MIME: MIMEMP3, Duration: d, Detail: detail}, nil
}

// chain counts consecutive valid frames from i (up to minFrames) and
// reports whether the chain ended at the end of the file or at a trailing
// tag.
func chain(b []byte, i int) (n int, clean bool) {
	f0, ok := parseFrame(b[i:])
	if !ok {
		return 0, false
	}
	for n < minFrames {
		f, ok := parseFrame(b[i:])
		if !ok || i+f.size > len(b) || f.version != f0.version || f.layer != f0.layer || f.sampleRate != f0.sampleRate {
			return n, n > 0 && endsClean(b[i:])
		}
		n++
		i += f.size
	}
	return n, false
}

// endsClean reports whether rest is what may follow the last frame: nothing,
// or an ID3v1, APEv2 or Lyrics3 tag.
func endsClean(rest []byte) bool {
	if len(rest) == 0 {
		return true
	}
	for _, tag := range []string{"TAG", "APETAGEX", "LYRICS200", "LYRICSBEGIN"} {
		if len(rest) >= len(tag) && string(rest[:len(tag)]) == tag {
			return true
		}
	}
	return false
}

// skipID3v2 returns the offset after any ID3v2 tags at the start (some
// files carry more than one).
func skipID3v2(b []byte) (int, error) {
	pos := 0
	for len(b)-pos >= 10 && string(b[pos:pos+3]) == "ID3" {
		h := b[pos:]
		if h[3] == 0xFF || h[4] == 0xFF || h[6]|h[7]|h[8]|h[9] >= 0x80 {
			return 0, damagedf("the MP3's ID3 tag header is damaged")
		}
		size := int(h[6])<<21 | int(h[7])<<14 | int(h[8])<<7 | int(h[9])
		end := pos + 10 + size
		if h[5]&0x10 != 0 { // footer present
			end += 10
		}
		if end > len(b) {
			return 0, damagedf("the MP3's ID3 tag says it is %s long but the file has %s", Size(int64(end-pos)), Size(int64(len(b))))
		}
		pos = end
	}
	return pos, nil
}
