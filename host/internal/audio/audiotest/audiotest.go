// Package audiotest writes tiny, valid audio files for tests (MPEG-1 Layer
// III frames of silence, PCM WAV, OGG Opus pages), so no test needs a binary
// blob from elsewhere. The files are valid as containers; the MP3 and Opus
// payloads are silence or filler a decoder may reject, which is all the
// host's inspection looks at.
package audiotest

import (
	"encoding/binary"
	"time"
)

// MP3FrameSamples is the samples in one MPEG-1 Layer III frame.
const MP3FrameSamples = 1152

// mp3Header is MPEG-1 Layer III, no CRC, 128 kbit/s, 44.1 kHz, stereo:
// each frame is 417 bytes (418 with padding) and plays 1152/44100 s.
var mp3Header = [4]byte{0xFF, 0xFB, 0x90, 0x00}

// MP3FrameSize is the size of an unpadded frame with mp3Header.
const MP3FrameSize = 417

// MP3FramesFor is how many frames play for at least d.
func MP3FramesFor(d time.Duration) int {
	n := int((d*44100 + time.Second - 1) / time.Second)
	return (n + MP3FrameSamples - 1) / MP3FrameSamples
}

// MP3Options shape the file MP3 writes.
type MP3Options struct {
	// ID3 prepends an ID3v2.4 tag with this many bytes of content.
	ID3 int
	// Xing puts a Xing VBR header frame first declaring XingFrames frames
	// (-1: the audio frame count).
	Xing       bool
	XingFrames int
	// VBRI puts a Fraunhofer VBRI header frame first (declaring the frame count).
	VBRI bool
	// ID3v1 appends a 128-byte ID3v1 tag.
	ID3v1 bool
}

// MP3 returns frames frames of silence (128 kbit/s, 44.1 kHz stereo).
func MP3(frames int, o MP3Options) []byte {
	var out []byte
	if o.ID3 > 0 {
		n := o.ID3
		out = append(out, 'I', 'D', '3', 4, 0, 0,
			byte(n>>21&0x7F), byte(n>>14&0x7F), byte(n>>7&0x7F), byte(n&0x7F))
		out = append(out, make([]byte, n)...)
	}
	frame := func() []byte {
		f := make([]byte, MP3FrameSize)
		copy(f, mp3Header[:])
		return f
	}
	if o.Xing {
		f := frame()
		count := o.XingFrames
		if count < 0 {
			count = frames
		}
		copy(f[36:], "Xing")
		binary.BigEndian.PutUint32(f[40:], 1) // flags: frame count present
		binary.BigEndian.PutUint32(f[44:], uint32(count))
		out = append(out, f...)
	}
	if o.VBRI {
		f := frame()
		copy(f[36:], "VBRI")
		binary.BigEndian.PutUint16(f[40:], 1)
		binary.BigEndian.PutUint32(f[46:], uint32(frames*MP3FrameSize))
		binary.BigEndian.PutUint32(f[50:], uint32(frames))
		out = append(out, f...)
	}
	for range frames {
		out = append(out, frame()...)
	}
	if o.ID3v1 {
		t := make([]byte, 128)
		copy(t, "TAG")
		out = append(out, t...)
	}
	return out
}

// WAVOptions shape the file WAV writes; zero values mean 16-bit mono 16 kHz.
type WAVOptions struct {
	Channels, Rate, Bits int
	// Extensible writes a WAVE_FORMAT_EXTENSIBLE fmt chunk (PCM subformat).
	Extensible bool
	// Format overrides the format tag (e.g. 3 for IEEE float).
	Format uint16
	// DataSize overrides the size the data chunk header claims (0: true).
	DataSize uint32
	// RIFFSize overrides the RIFF size (0: true).
	RIFFSize uint32
	// ByteRate overrides the fmt chunk's byte rate (0: true).
	ByteRate uint32
	// ListChunk puts a LIST chunk of odd size before the data chunk.
	ListChunk bool
}

// WAV returns d of PCM silence.
func WAV(d time.Duration, o WAVOptions) []byte {
	if o.Channels == 0 {
		o.Channels = 1
	}
	if o.Rate == 0 {
		o.Rate = 16000
	}
	if o.Bits == 0 {
		o.Bits = 16
	}
	block := o.Channels * o.Bits / 8
	frames := int(int64(d) * int64(o.Rate) / int64(time.Second))
	data := make([]byte, frames*block)
	le16 := func(b []byte, v int) []byte { return binary.LittleEndian.AppendUint16(b, uint16(v)) }
	le32 := func(b []byte, v int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(v)) }

	var fmtc []byte
	format := 1
	if o.Extensible {
		format = 0xFFFE
	}
	if o.Format != 0 {
		format = int(o.Format)
	}
	byteRate := o.Rate * block
	if o.ByteRate != 0 {
		byteRate = int(o.ByteRate)
	}
	fmtc = le16(fmtc, format)
	fmtc = le16(fmtc, o.Channels)
	fmtc = le32(fmtc, o.Rate)
	fmtc = le32(fmtc, byteRate)
	fmtc = le16(fmtc, block)
	fmtc = le16(fmtc, o.Bits)
	if o.Extensible {
		fmtc = le16(fmtc, 22)
		fmtc = le16(fmtc, o.Bits)
		fmtc = le32(fmtc, 0)
		fmtc = append(fmtc, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
	}
	var body []byte
	body = append(body, "WAVE"...)
	body = append(body, "fmt "...)
	body = le32(body, len(fmtc))
	body = append(body, fmtc...)
	if o.ListChunk {
		body = append(body, "LIST"...)
		body = le32(body, 5)
		body = append(body, "INFOx\x00"...) // 5 bytes and the pad byte
	}
	body = append(body, "data"...)
	dataSize := len(data)
	if o.DataSize != 0 {
		dataSize = int(o.DataSize)
	}
	body = le32(body, dataSize)
	body = append(body, data...)

	out := []byte("RIFF")
	riff := len(body)
	if o.RIFFSize != 0 {
		riff = int(o.RIFFSize)
	}
	out = le32(out, riff)
	return append(out, body...)
}

// oggCRC is the Ogg framing CRC-32 (polynomial 0x04C11DB7, not reflected).
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

// oggPage writes one page holding one packet (at most 255*255 bytes).
func oggPage(serial, seq uint32, granule int64, flags byte, packet []byte) []byte {
	var segs []byte
	n := len(packet)
	for n >= 255 {
		segs = append(segs, 255)
		n -= 255
	}
	segs = append(segs, byte(n))
	p := []byte("OggS")
	p = append(p, 0, flags)
	p = binary.LittleEndian.AppendUint64(p, uint64(granule))
	p = binary.LittleEndian.AppendUint32(p, serial)
	p = binary.LittleEndian.AppendUint32(p, seq)
	p = append(p, 0, 0, 0, 0)
	p = append(p, byte(len(segs)))
	p = append(p, segs...)
	p = append(p, packet...)
	var crc uint32
	for _, c := range p {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^c]
	}
	binary.LittleEndian.PutUint32(p[22:], crc)
	return p
}

// OpusPreSkip is the pre-skip OggOpus writes in its OpusHead (the usual 312).
const OpusPreSkip = 312

// OggOpus returns an OGG Opus stream that plays for d (the shape of a
// Discord voice message: OpusHead, OpusTags, then one page per second of
// 20 ms packets of filler).
func OggOpus(d time.Duration) []byte {
	const serial = 0x5EED
	head := []byte("OpusHead")
	head = append(head, 1, 1) // version, mono
	head = binary.LittleEndian.AppendUint16(head, OpusPreSkip)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0) // gain, mapping family
	out := oggPage(serial, 0, 0, 2, head)
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 4)
	tags = append(tags, "test"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	out = append(out, oggPage(serial, 1, 0, 0, tags)...)
	total := int64(d) * 48000 / int64(time.Second)
	var g int64
	seq := uint32(2)
	for g < total {
		step := min(int64(48000), total-g)
		g += step
		flags := byte(0)
		if g >= total {
			flags = 4 // end of stream
		}
		out = append(out, oggPage(serial, seq, g+OpusPreSkip, flags, make([]byte, 50))...)
		seq++
	}
	return out
}
