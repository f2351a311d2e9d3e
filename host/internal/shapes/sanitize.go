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

// needsRepair is the fast check: most JSON has nothing to repair, and is
// returned as it is without being walked.
func needsRepair(raw []byte) bool {
	if !utf8.Valid(raw) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`\u`))
		if j < 0 || i+j+6 > len(raw) {
			return false
		}
		hex := raw[i+j+2 : i+j+6]
		if string(hex) == "0000" || ((hex[0] == 'd' || hex[0] == 'D') && bytes.IndexByte([]byte("89abcdefABCDEF"), hex[1]) >= 0) {
			return true
		}
		i += j + 2
	}
}

// sanitizeJSON returns raw with every string repaired as described above,
// and the repairs, with paths under prefix. raw must be valid JSON (it has
// been through a decoder); anything else is returned unchanged.
func sanitizeJSON(raw []byte, prefix string) ([]byte, []textFix) {
	if !needsRepair(raw) {
		return raw, nil
	}
	s := &sanitizer{in: raw, out: make([]byte, 0, len(raw)+16)}
	if !s.value(prefix) {
		return raw, nil
	}
	s.space()
	if s.pos != len(s.in) {
		return raw, nil
	}
	return s.out, s.fixes
}

type sanitizer struct {
	in    []byte
	pos   int
	out   []byte
	fixes []textFix
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

func (s *sanitizer) value(path string) bool {
	s.space()
	if s.pos >= len(s.in) {
		return false
	}
	switch s.in[s.pos] {
	case '{':
		return s.object(path)
	case '[':
		return s.array(path)
	case '"':
		_, ok := s.str(path, false)
		return ok
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

func (s *sanitizer) object(path string) bool {
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
		// The key's repairs are reported under the repaired key.
		key, ok := s.str(path, true)
		if !ok {
			return false
		}
		field := joinPath(path, key)
		if n := len(s.fixes); n > 0 && s.fixes[n-1].key && s.fixes[n-1].path == path {
			s.fixes[n-1].path = field
		}
		s.space()
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.out = append(s.out, ':')
		s.pos++
		if !s.value(field) {
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
		case '}':
			s.out = append(s.out, '}')
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *sanitizer) array(path string) bool {
	s.out = append(s.out, '[')
	s.pos++
	s.space()
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.out = append(s.out, ']')
		s.pos++
		return true
	}
	for i := 0; ; i++ {
		if !s.value(joinPath(path, "["+strconv.Itoa(i)+"]")) {
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

// str copies one JSON string, repairing it, and returns its decoded text
// (used for keys, to name fields).
func (s *sanitizer) str(path string, key bool) (string, bool) {
	start := len(s.out)
	s.out = append(s.out, '"')
	s.pos++
	fix := textFix{path: path, key: key}
	for {
		if s.pos >= len(s.in) {
			return "", false
		}
		c := s.in[s.pos]
		switch {
		case c == '"':
			s.out = append(s.out, '"')
			s.pos++
			if fix.invalid+fix.nul+fix.surrogate > 0 {
				s.fixes = append(s.fixes, fix)
			}
			var text string
			if key {
				if err := json.Unmarshal(s.out[start:], &text); err != nil {
					return "", false
				}
			}
			return text, true
		case c == '\\':
			if s.pos+1 >= len(s.in) {
				return "", false
			}
			if s.in[s.pos+1] != 'u' {
				s.out = append(s.out, s.in[s.pos:s.pos+2]...)
				s.pos += 2
				continue
			}
			r, ok := hex4(s.in, s.pos+2)
			if !ok {
				return "", false
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
