package abijson

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is encoding/json's nesting limit; deeper input goes to it for
// its error.
const maxDepth = 10000

// decoder reads one JSON document. Any input it does not handle sets bad,
// after which the caller discards the result and asks encoding/json.
type decoder struct {
	b     []byte
	i     int
	depth int
	bad   bool
	// arena holds the unescaped strings of the document (see strSlow).
	arena []byte
}

// ws skips whitespace; the usual case, none, costs one comparison.
func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] <= ' ' {
		d.wsSlow()
	}
}

func (d *decoder) wsSlow() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end checks that only whitespace follows the document.
func (d *decoder) end() {
	d.ws()
	if d.i != len(d.b) {
		d.bad = true
	}
}

// peek returns the next non-space byte without consuming it, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// object starts reading an object; false (and bad set) when the next value
// is not one. Loop over its keys with more.
func (d *decoder) object() bool {
	if d.peek() != '{' {
		d.bad = true
		return false
	}
	d.i++
	d.depth++
	if d.depth > maxDepth {
		d.bad = true
		return false
	}
	return true
}

// more moves to the next key of the current object and returns it (no
// escapes, else bad), with the colon consumed; ok is false at the closing
// brace or on bad input. first is true before the first key.
func (d *decoder) more(first bool) (key string, ok bool) {
	if d.bad {
		return "", false
	}
	c := d.peek()
	if c == '}' {
		d.i++
		d.depth--
		return "", false
	}
	if !first {
		if c != ',' {
			d.bad = true
			return "", false
		}
		d.i++
		c = d.peek()
	}
	if c != '"' {
		d.bad = true
		return "", false
	}
	start := d.i + 1
	j, hi := scanStop(d.b, start)
	if j >= len(d.b) || d.b[j] != '"' {
		// Escaped keys are rare; encoding/json unescapes them.
		d.bad = true
		return "", false
	}
	if hi&msb != 0 && !utf8.Valid(d.b[start:j]) {
		d.bad = true // encoding/json would replace the invalid bytes
		return "", false
	}
	key = unsafe.String(unsafe.SliceData(d.b[start:]), j-start)
	d.i = j + 1
	if d.peek() != ':' {
		d.bad = true
		return "", false
	}
	d.i++
	return key, true
}

// array starts reading an array; loop over its elements with next.
func (d *decoder) array() bool {
	if d.peek() != '[' {
		d.bad = true
		return false
	}
	d.i++
	d.depth++
	if d.depth > maxDepth {
		d.bad = true
		return false
	}
	return true
}

// next reports whether another element follows (its first byte is next),
// consuming the comma; false at the closing bracket or on bad input.
func (d *decoder) next(first bool) bool {
	if d.bad {
		return false
	}
	c := d.peek()
	if c == ']' {
		d.i++
		d.depth--
		return false
	}
	if !first {
		if c != ',' {
			d.bad = true
			return false
		}
		d.i++
		if d.peek() == ']' {
			d.bad = true
			return false
		}
	}
	if d.i >= len(d.b) {
		d.bad = true
		return false
	}
	return true
}

// unknown skips the value of a key the type does not have. A key that
// matches one of names except for case goes to encoding/json, which
// matches keys case-insensitively.
//
// names are ASCII (Go field names and JSON tags of this module), so once
// key is known to be ASCII only a name of its length can fold to it: the
// length test spares most EqualFold calls, each several timeout checks in
// a plugin.
func (d *decoder) unknown(key string, names ...string) {
	if !asciiString(key) { // encoding/json folds some non-ASCII letters too
		d.bad = true
		return
	}
	for _, n := range names {
		if len(n) == len(key) && strings.EqualFold(key, n) {
			d.bad = true
			return
		}
	}
	d.skip()
}

// asciiString reports whether s is all ASCII, a word at a time.
func asciiString(s string) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		acc |= load64s(s, i)
	}
	if i < len(s) {
		acc |= shortWord(s[i:])
	}
	return acc&msb == 0
}

// seen marks field bit in *set; a key seen twice goes to encoding/json.
func (d *decoder) seen(set *uint32, bit uint32) {
	if *set&bit != 0 {
		d.bad = true
	}
	*set |= bit
}

// scanStop returns the index of the first '"', '\\' or control character
// at or after i, or len(b), and the OR of the bytes before it (at least),
// so hi&msb == 0 means they are all ASCII. It looks at 32 bytes per loop
// step: in a plugin each step costs a timeout check, the byte tests do not.
func scanStop(b []byte, i int) (j int, hi uint64) {
	for i+32 <= len(b) {
		x0, x1, x2, x3 := load256(b, i)
		if stopLanes(x0)|stopLanes(x1)|stopLanes(x2)|stopLanes(x3) != 0 {
			break
		}
		hi |= x0 | x1 | x2 | x3
		i += 32
	}
	for i+8 <= len(b) {
		x := load64(b, i)
		if m := stopLanes(x); m != 0 {
			// Keep only the bytes below the stop (the stop byte is ASCII).
			return i + bits.TrailingZeros64(m)>>3, hi | x&(m&-m-1)
		}
		hi |= x
		i += 8
	}
	for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
		hi |= uint64(b[i])
		i++
	}
	return i, hi
}

// str reads a string value. Without escapes (the usual case) the result
// shares memory with the input.
func (d *decoder) str() string {
	if d.peek() != '"' {
		d.bad = true
		return ""
	}
	start := d.i + 1
	j, hi := scanStop(d.b, start)
	if j < len(d.b) && d.b[j] == '"' {
		s := d.b[start:j]
		if hi&msb == 0 || utf8.Valid(s) {
			d.i = j + 1
			return unsafe.String(unsafe.SliceData(s), len(s))
		}
	}
	return d.strSlow(start)
}

// strSlow unquotes a string with escapes or invalid UTF-8 exactly as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD).
//
// The unescaped strings of one document share a buffer, the arena,
// allocated at the first escaped string with room for the rest of the
// input (unescaping never lengthens valid UTF-8) up to maxArena, and the
// result points into it rather than being copied: a chat request with a few
// escapes in every message made two allocations per message, each several
// timeout checks in a plugin. The strings then keep the arena alive, as
// the unescaped ones keep the input; the cap keeps one short escaped
// string in a large document from holding a buffer the document's size. A
// string that outgrows the arena's room gets its own buffer, and an arena
// with little room left is replaced.
func (d *decoder) strSlow(start int) string {
	b := d.b
	if cap(d.arena)-len(d.arena) < minArenaRoom {
		d.arena = make([]byte, 0, min(len(b)-start, maxArena))
	}
	n := len(d.arena)
	out := d.arena[n:n:cap(d.arena)]
	i := start
	for {
		j, hi := scanStop(b, i)
		if hi&msb == 0 {
			out = append(out, b[i:j]...)
		} else {
			out = appendValidUTF8(out, b[i:j])
		}
		if j >= len(b) {
			d.bad = true
			return ""
		}
		switch c := b[j]; {
		case c == '"':
			d.i = j + 1
			if len(out) == 0 {
				return ""
			}
			if n < cap(d.arena) && unsafe.SliceData(out) == &d.arena[:n+1][n] {
				// Still in the arena (invalid UTF-8, replaced by 3 bytes
				// each, may have outgrown it).
				d.arena = d.arena[:n+len(out)]
			}
			return unsafe.String(unsafe.SliceData(out), len(out))
		case c < 0x20:
			d.bad = true
			return ""
		}
		// A backslash.
		if j+1 >= len(b) {
			d.bad = true
			return ""
		}
		i = j + 2
		switch b[j+1] {
		case '"', '\\', '/':
			out = append(out, b[j+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(b, j+2)
			if r < 0 {
				d.bad = true
				return ""
			}
			i = j + 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2 = hex4(b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					out = utf8.AppendRune(out, dec)
					i += 6
					break
				}
				r = unicode.ReplacementChar
			}
			out = utf8.AppendRune(out, r)
		default:
			d.bad = true
			return ""
		}
	}
}

// Arena sizes for strSlow: a pipeline-sized chat request (a few KiB) fits
// one arena.
const (
	maxArena     = 32 << 10
	minArenaRoom = 256
)

// hex4 reads the 4 hex digits at b[i:], or -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendValidUTF8 appends s with every invalid byte replaced by U+FFFD.
func appendValidUTF8(dst, s []byte) []byte {
	if utf8.Valid(s) {
		return append(dst, s...)
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

// skipString moves past a string, checking its escapes.
func (d *decoder) skipString() {
	b := d.b
	i := d.i + 1
	for {
		j, _ := scanStop(b, i)
		if j >= len(b) || b[j] < 0x20 {
			d.bad = true
			return
		}
		if b[j] == '"' {
			d.i = j + 1
			return
		}
		if j+1 >= len(b) {
			d.bad = true
			return
		}
		switch b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i = j + 2
		case 'u':
			if hex4(b, j+2) < 0 {
				d.bad = true
				return
			}
			i = j + 6
		default:
			d.bad = true
			return
		}
	}
}

// skip moves past one value of any kind, checking it is valid JSON. null is
// fine here: it only appears inside values the types do not keep.
func (d *decoder) skip() {
	switch d.peek() {
	case '"':
		d.skipString()
	case '{':
		d.object()
		for first := true; ; first = false {
			if _, ok := d.more(first); !ok {
				return
			}
			d.skip()
		}
	case '[':
		d.array()
		for first := true; d.next(first); first = false {
			d.skip()
		}
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		d.number()
	}
}

func (d *decoder) literal(lit string) {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		d.bad = true
		return
	}
	d.i += len(lit)
}

// boolean reads true or false; null goes to encoding/json.
func (d *decoder) boolean() bool {
	switch d.peek() {
	case 't':
		d.literal("true")
		return true
	case 'f':
		d.literal("false")
		return false
	}
	d.bad = true
	return false
}

// number reads a JSON number and returns its text, checking the grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. integer is true when it
// has neither fraction nor exponent.
func (d *decoder) number() (lit string, integer bool) {
	d.ws()
	b, i := d.b, d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		d.bad = true
		return "", false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		j := digits(b, i+1)
		if j == i+1 {
			d.bad = true
			return "", false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			d.bad = true
			return "", false
		}
		i = j
	}
	d.i = i
	return unsafe.String(unsafe.SliceData(b[start:]), i-start), integer
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// int64v reads an integer; fractions, exponents and overflow go to
// encoding/json for its error.
func (d *decoder) int64v() int64 {
	lit, integer := d.number()
	if !integer {
		d.bad = true
		return 0
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		d.bad = true
	}
	return n
}

// intv reads an integer into an int (32 or 64 bits, as encoding/json
// checks).
func (d *decoder) intv() int {
	lit, integer := d.number()
	if !integer {
		d.bad = true
		return 0
	}
	n, err := strconv.ParseInt(lit, 10, strconv.IntSize)
	if err != nil {
		d.bad = true
	}
	return int(n)
}

// float64v reads a number as json.Unmarshal does into a float64.
func (d *decoder) float64v() float64 {
	lit, _ := d.number()
	if d.bad {
		return 0
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		d.bad = true
	}
	return f
}

// raw reads any value and returns a copy of its bytes, as json.RawMessage
// gets them.
func (d *decoder) raw() []byte {
	d.ws()
	if d.peek() == 'n' { // null: encoding/json's rules for it differ by type
		d.bad = true
		return nil
	}
	start := d.i
	d.skip()
	if d.bad {
		return nil
	}
	return append([]byte(nil), d.b[start:d.i]...)
}

// stringMap reads an object of strings into a new map.
func (d *decoder) stringMap() map[string]string {
	if !d.object() {
		return nil
	}
	m := make(map[string]string)
	for first := true; ; first = false {
		k, ok := d.more(first)
		if !ok {
			return m
		}
		m[k] = d.str()
	}
}
