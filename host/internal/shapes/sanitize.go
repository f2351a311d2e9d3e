package shapes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Text that PostgreSQL cannot store is repaired in one place, before any
// value is read: every JSON string of a profile, a v2 store, a metadata
// file or a record (keys included) has
//
//   - each byte sequence that is not valid UTF-8 (text and jsonb refuse it),
//   - each \u0000 escape (a NUL character: text and jsonb refuse it), and
//   - each \uD800-\uDFFF escape that is not half of a surrogate pair (jsonb
//     refuses it; Go would decode it as U+FFFD silently)
//
// replaced with U+FFFD, the Unicode replacement character, and each
// repaired value is reported as a warning naming the file and the field.
// The same rule holds for every field, so a stray byte never fails a whole
// personality in one place and vanishes silently in another.

// textFix is the repairs made in one JSON string.
type textFix struct {
	// path is the field, as messages name it: "name",
	// "shape_settings.status", "metadata.msg_ids[2]"; "" for the value
	// itself.
	path string
	// key is set when the repaired string is the field's name.
	key                     bool
	invalid, nul, surrogate int
}

func (f textFix) message() string {
	var what []string
	if f.invalid > 0 {
		what = append(what, plural(f.invalid, "byte sequence that is not valid UTF-8", "byte sequences that are not valid UTF-8"))
	}
	if f.nul > 0 {
		what = append(what, plural(f.nul, `NUL character (\u0000)`, `NUL characters (\u0000)`))
	}
	if f.surrogate > 0 {
		what = append(what, plural(f.surrogate, `unpaired UTF-16 surrogate escape`, `unpaired UTF-16 surrogate escapes`))
	}
	where := "the value"
	if f.key {
		where = "the field name"
	}
	s := what[0]
	for i := 1; i < len(what); i++ {
		s += " and " + what[i]
	}
	return fmt.Sprintf("%s had %s, which PostgreSQL cannot store; replaced with U+FFFD (\ufffd)", where, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// joinPath appends a field to a path.
func joinPath(prefix, sub string) string {
	switch {
	case prefix == "":
		return sub
	case sub == "":
		return prefix
	case sub[0] == '[':
		return prefix + sub
	}
	return prefix + "." + sub
}

// needsRepair is the fast check: most JSON has nothing to repair (valid
// surrogate pairs, as exporters write emoji, included), and is returned as
// it is without being walked.
func needsRepair(raw []byte) bool {
	if !utf8.Valid(raw) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		k := i + j
		r, ok := hex4(raw, k+2)
		switch {
		case !ok:
			return true // not JSON; the walker leaves it alone
		case r == 0:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if k+12 > len(raw) || raw[k+6] != '\\' || raw[k+7] != 'u' {
				return true
			}
			if low, ok := hex4(raw, k+8); !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i = k + 12
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i = k + 6
		}
	}
}

// sanitizeJSON returns raw with every string repaired as described above,
// and the repairs, with paths under prefix. raw must be valid JSON (it has
// been through a decoder); anything else is returned unchanged.
func sanitizeJSON(raw []byte, prefix string) ([]byte, []textFix) {
	if !needsRepair(raw) {
		return raw, nil
	}
	s := &sanitizer{in: raw, out: make([]byte, 0, len(raw)+16), prefix: prefix}
	if !s.value() {
		return raw, nil
	}
	s.space()
	if s.pos != len(s.in) {
		return raw, nil
	}
	return s.out, s.fixes
}

type sanitizer struct {
	in     []byte
	pos    int
	out    []byte
	fixes  []textFix
	prefix string
	// stack is where the walk is; a path is only spelled out for a fix.
	stack []segment
}

// segment is one step of a path: an object key (its repaired JSON string
// at out[keyStart:keyEnd]) or a list index.
type segment struct {
	keyStart, keyEnd int
	index            int
	isIndex          bool
}

// path spells out the current position.
func (s *sanitizer) path() string {
	p := s.prefix
	for _, seg := range s.stack {
		if seg.isIndex {
			p = joinPath(p, "["+strconv.Itoa(seg.index)+"]")
			continue
		}
		var key string
		if err := json.Unmarshal(s.out[seg.keyStart:seg.keyEnd], &key); err != nil {
			key = string(s.out[seg.keyStart:seg.keyEnd])
		}
		p = joinPath(p, key)
	}
	return p
}

func (s *sanitizer) space() {
	for s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.out = append(s.out, s.in[s.pos])
			s.pos++
		default:
			return
		}
	}
}

func (s *sanitizer) value() bool {
	s.space()
	if s.pos >= len(s.in) {
		return false
	}
	switch s.in[s.pos] {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		return s.str(false)
	}
	// A number, true, false or null: copied up to the next delimiter.
	start := s.pos
	for s.pos < len(s.in) {
		c := s.in[s.pos]
		if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		s.pos++
	}
	s.out = append(s.out, s.in[start:s.pos]...)
	return s.pos > start
}

func (s *sanitizer) object() bool {
	s.out = append(s.out, '{')
	s.pos++
	s.space()
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.out = append(s.out, '}')
		s.pos++
		return true
	}
	for {
		s.space()
		if s.pos >= len(s.in) || s.in[s.pos] != '"' {
			return false
		}
		keyStart := len(s.out)
		if !s.str(true) {
			return false
		}
		s.stack = append(s.stack, segment{keyStart: keyStart, keyEnd: len(s.out)})
		s.space()
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.out = append(s.out, ':')
		s.pos++
		if !s.value() {
			return false
		}
		s.stack = s.stack[:len(s.stack)-1]
		s.space()
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.out = append(s.out, ',')
			s.pos++
		case '}':
			s.out = append(s.out, '}')
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *sanitizer) array() bool {
	s.out = append(s.out, '[')
	s.pos++
	s.space()
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.out = append(s.out, ']')
		s.pos++
		return true
	}
	s.stack = append(s.stack, segment{isIndex: true})
	defer func() { s.stack = s.stack[:len(s.stack)-1] }()
	for i := 0; ; i++ {
		s.stack[len(s.stack)-1].index = i
		if !s.value() {
			return false
		}
		s.space()
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.out = append(s.out, ',')
			s.pos++
		case ']':
			s.out = append(s.out, ']')
			s.pos++
			return true
		default:
			return false
		}
	}
}

// replacement is U+FFFD as a JSON escape: ASCII, so it is valid wherever
// it lands.
const replacement = `\ufffd`

// str copies one JSON string, repairing it. A repaired key is reported
// under its own (repaired) name.
func (s *sanitizer) str(key bool) bool {
	start := len(s.out)
	s.out = append(s.out, '"')
	s.pos++
	fix := textFix{key: key}
	for {
		if s.pos >= len(s.in) {
			return false
		}
		c := s.in[s.pos]
		switch {
		case c == '"':
			s.out = append(s.out, '"')
			s.pos++
			if fix.invalid+fix.nul+fix.surrogate > 0 {
				fix.path = s.path()
				if key {
					var name string
					if err := json.Unmarshal(s.out[start:], &name); err != nil {
						return false
					}
					fix.path = joinPath(fix.path, name)
				}
				s.fixes = append(s.fixes, fix)
			}
			return true
		case c == '\\':
			if s.pos+1 >= len(s.in) {
				return false
			}
			if s.in[s.pos+1] != 'u' {
				s.out = append(s.out, s.in[s.pos:s.pos+2]...)
				s.pos += 2
				continue
			}
			r, ok := hex4(s.in, s.pos+2)
			if !ok {
				return false
			}
			switch {
			case r == 0:
				fix.nul++
				s.out = append(s.out, replacement...)
				s.pos += 6
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if s.pos+12 <= len(s.in) && s.in[s.pos+6] == '\\' && s.in[s.pos+7] == 'u' {
					if low, ok := hex4(s.in, s.pos+8); ok && low >= 0xDC00 && low <= 0xDFFF {
						s.out = append(s.out, s.in[s.pos:s.pos+12]...)
						s.pos += 12
						continue
					}
				}
				fix.surrogate++
				s.out = append(s.out, replacement...)
				s.pos += 6
			case r >= 0xDC00 && r <= 0xDFFF:
				fix.surrogate++
				s.out = append(s.out, replacement...)
				s.pos += 6
			default:
				s.out = append(s.out, s.in[s.pos:s.pos+6]...)
				s.pos += 6
			}
		case c < utf8.RuneSelf:
			s.out = append(s.out, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.in[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				fix.invalid++
				s.out = append(s.out, replacement...)
				s.pos++
				// A run of bad bytes counts as one sequence.
				for s.pos < len(s.in) && s.in[s.pos] >= utf8.RuneSelf {
					if r, size := utf8.DecodeRune(s.in[s.pos:]); r != utf8.RuneError || size > 1 {
						break
					}
					s.pos++
				}
				continue
			}
			s.out = append(s.out, s.in[s.pos:s.pos+size]...)
			s.pos += size
		}
	}
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

// warnFixes reports the repairs made in file as warnings (record: one of
// the warnings capped per file).
func warnFixes(log *issueLog, file string, fixes []textFix, record bool) {
	for _, f := range fixes {
		if record {
			log.recordWarn(file, f.path, "%s", f.message())
		} else {
			log.warn(file, f.path, "%s", f.message())
		}
	}
}
