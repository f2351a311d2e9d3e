package abijson

// Word-at-a-time byte tests ("SIMD within a register"). For a word x
// holding 8 bytes, each function returns a word with the high bit set in
// the byte lanes that match. Borrows can set lanes above a true match, never
// below, so the lowest set lane is always a true match: callers use
// bits.TrailingZeros64(m)/8 to find the first one.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroLanes marks the zero bytes of v.
func zeroLanes(v uint64) uint64 { return (v - lsb) &^ v & msb }

// lessLanes marks the bytes of x below n (n <= 0x80).
func lessLanes(x uint64, n byte) uint64 { return (x - lsb*uint64(n)) &^ x & msb }

// stopLanes marks the bytes a JSON string reader must look at: '"', '\\'
// and control characters.
func stopLanes(x uint64) uint64 {
	return zeroLanes(x^(lsb*'"')) | zeroLanes(x^(lsb*'\\')) | lessLanes(x, 0x20)
}

// escapeLanes marks the bytes json.Marshal does not copy as they are:
// stopLanes, the HTML characters '<', '>' and '&', and every non-ASCII byte
// (checked for invalid UTF-8 and U+2028/U+2029). Setting bit 1 maps '<'
// (0x3C) onto '>' (0x3E), and setting bit 2 maps '"' (0x22) onto '&'
// (0x26), and no other byte onto either, which saves two tests.
func escapeLanes(x uint64) uint64 {
	return zeroLanes((x|lsb*0x02)^(lsb*'>')) | zeroLanes((x|lsb*0x04)^(lsb*'&')) |
		zeroLanes(x^(lsb*'\\')) | lessLanes(x, 0x20) | x&msb
}
