package redact

import "strings"

// appendFieldValues finds values of fields whose name is a secret name, in
// the forms logs and error messages carry them:
//
//	{"api_key": "v"}  {\"token\":\"v\"}  {'password': 'v'}  "X-Api-Key": ["v"]
//	password=v  token: v  Authorization: Bearer v  map[Authorization:[Bearer v]]
//
// Numbers, booleans and null after a quoted name are JSON, not
// credentials: {"token": 12} and {"token": null} pass through.
func appendFieldValues(dst []span, s string) []span {
	f := fieldScanner{
		s: s, colon: unknown, equals: unknown,
		bareEnd: -1, quoteEnd: [2]int{-1, -1}, escEnd: -1, listClose: -1,
	}
	for i := 0; i < len(s); {
		sep := f.nextSeparator(i)
		if sep < 0 {
			break
		}
		i = sep + 1
		name, form, ok := fieldNameBefore(s, sep)
		if !ok || !IsSecretName(name) {
			continue
		}
		// Scanning goes on inside the value just masked, never past it:
		// where a value ends is a guess ("pass='{"k":"'v"}" ends at the
		// second quote), and a separator inside it may introduce a
		// secret that runs past that guess.
		dst = f.appendValue(dst, sep+1, form)
	}
	return dst
}

const (
	none    = -1 // no such byte in the rest of the text
	unknown = -2 // not looked for yet
)

// fieldScanner holds one text's scan. Because scanning resumes inside
// values, many values may start within the same stretch of text; the
// scanner remembers where the last stretch of each kind ended, and a value
// starting inside it ends there too, which keeps the whole scan linear
// even on text built to defeat it ("password=password=...").
type fieldScanner struct {
	s string

	colon, equals int // next ':' and '=' (or none/unknown)

	// The last scan of each kind: where it started and what it found
	// (-1 before the first).
	bareFrom, bareEnd   int    // unquoted value
	quoteFrom, quoteEnd [2]int // quoted value, for '"' and '\''
	escFrom, escEnd     int    // \"-quoted value
	listFrom, listClose int    // search for ']'
}

// nextSeparator returns the index of the first ':' or '=' at or after
// from, or -1. (strings.IndexAny would do, but it builds a byte set on
// every call, and this runs on every log string.)
func (f *fieldScanner) nextSeparator(from int) int {
	f.colon = f.nextByte(f.colon, from, ':')
	f.equals = f.nextByte(f.equals, from, '=')
	switch {
	case f.colon == none:
		return f.equals
	case f.equals == none:
		return f.colon
	}
	return min(f.colon, f.equals)
}

func (f *fieldScanner) nextByte(known, from int, c byte) int {
	if known == none || known >= from {
		return known
	}
	if i := strings.IndexByte(f.s[from:], c); i >= 0 {
		return from + i
	}
	return none
}

func masked(dst []span, start, end int) []span {
	if end > start {
		dst = append(dst, span{start: start, end: end, mask: Mask})
	}
	return dst
}

// appendValue appends the span of the value that starts at or after p
// (after spaces).
func (f *fieldScanner) appendValue(dst []span, p int, form nameForm) []span {
	s := f.s
	for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	if p >= len(s) {
		return dst
	}
	switch {
	case form == escapedName:
		if strings.HasPrefix(s[p:], `\"`) {
			dst = masked(dst, p+2, f.escapedStringEnd(p+2))
		}
		return dst
	case s[p] == '"' || s[p] == '\'':
		return masked(dst, p+1, f.quotedStringEnd(p+1, s[p]))
	case s[p] == '[':
		return f.appendList(dst, p+1)
	}
	end := f.bareValueEnd(p)
	if end == p || s[p] == '{' {
		return dst
	}
	if form != bareName && isJSONLiteral(s[p:end]) {
		return dst // {"token": 12}, {"token": null}: not a credential string
	}
	// "Authorization: Bearer abc" masks the credential, not the scheme.
	if isAuthScheme(s[p:end]) {
		q := end
		for q < len(s) && (s[q] == ' ' || s[q] == '\t') {
			q++
		}
		if credEnd := f.bareValueEnd(q); credEnd > q {
			return masked(dst, q, credEnd)
		}
	}
	return masked(dst, p, end)
}

// appendList appends the spans of the items of a list value: ["a", "b"],
// or [a b] as Go's %v prints a []string. p is just past the '['.
func (f *fieldScanner) appendList(dst []span, p int) []span {
	s := f.s
	for p < len(s) {
		switch c := s[p]; c {
		case ']':
			return dst
		case ' ', '\t', ',':
			p++
		case '"', '\'':
			end := f.quotedStringEnd(p+1, c)
			dst = masked(dst, p+1, end)
			p = end + 1
		default:
			return masked(dst, p, f.listEnd(p))
		}
	}
	return dst
}

// bareValueEnd returns where an unquoted value starting at p ends.
func (f *fieldScanner) bareValueEnd(p int) int {
	if f.bareFrom <= p && p <= f.bareEnd {
		return f.bareEnd // same stretch, same end
	}
	end := p
	for end < len(f.s) && !isBareValueEnd(f.s[end]) {
		end++
	}
	f.bareFrom, f.bareEnd = p, end
	return end
}

// quotedStringEnd returns the index of the quote q that closes a string
// starting at start, skipping backslash escapes, or len(s) if the string
// is cut off.
func (f *fieldScanner) quotedStringEnd(start int, q byte) int {
	k := 0
	if q == '\'' {
		k = 1
	}
	// A string opened by a quote inside the last scanned one ends where
	// that one did: the earlier scan passed the opening quote as an escaped
	// character, so both scans are in step from start on.
	if f.quoteFrom[k] < start && start <= f.quoteEnd[k] {
		return f.quoteEnd[k]
	}
	end := len(f.s)
	for i := start; i < len(f.s); i++ {
		if c := f.s[i]; c == '\\' {
			i++
		} else if c == q {
			end = i
			break
		}
	}
	f.quoteFrom[k], f.quoteEnd[k] = start, end
	return end
}

// escapedStringEnd returns the index of the \" that closes a string of
// JSON that is itself inside a JSON string ({\"k\":\"a\\\"b\"}), starting
// at start, or len(s) if it is cut off. It decodes one level of escapes
// to tell the closing quote from an escaped quote inside the value.
func (f *fieldScanner) escapedStringEnd(start int) int {
	if f.escFrom < start && start <= f.escEnd {
		return f.escEnd // in step with the earlier scan, as in quotedStringEnd
	}
	s := f.s
	end := len(s)
	escaped := false // the previous inner character was an escaping backslash
scan:
	for i := start; i < len(s); i++ {
		c := s[i]
		at := i
		if c == '"' {
			end = i // the outer string ends: the value is cut off here
			break
		}
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i] // \\ is an inner '\', \" an inner '"', \n and the like plain characters
			if c != '\\' && c != '"' {
				c = 'x'
			}
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			end = at
			break scan
		}
	}
	f.escFrom, f.escEnd = start, end
	return end
}

// listEnd returns the index of the first ']' at or after p, or len(s).
func (f *fieldScanner) listEnd(p int) int {
	if f.listFrom <= p && p <= f.listClose {
		return f.listClose
	}
	end := strings.IndexByte(f.s[p:], ']')
	if end < 0 {
		end = len(f.s)
	} else {
		end += p
	}
	f.listFrom, f.listClose = p, end
	return end
}

// nameForm is how a field name was written.
type nameForm int

const (
	bareName    nameForm = iota // password=...
	quotedName                  // "password": ...
	escapedName                 // \"password\": ... (JSON inside a JSON string)
)

// fieldNameBefore returns the field name that ends just before the
// separator at sep, skipping spaces.
func fieldNameBefore(s string, sep int) (name string, form nameForm, ok bool) {
	k := sep - 1
	for k >= 0 && (s[k] == ' ' || s[k] == '\t') {
		k--
	}
	if k < 0 {
		return "", 0, false
	}
	if q := s[k]; q == '"' || q == '\'' {
		end := k
		form = quotedName
		if k > 0 && s[k-1] == '\\' {
			end, form = k-1, escapedName
		}
		// Names are short: look back at most 65 bytes for the opening
		// quote, so a long quoted stretch is not walked once per separator.
		from := max(0, end-65)
		open := strings.LastIndexByte(s[from:end], q)
		if open < 0 {
			return "", 0, false
		}
		open += from
		if form == escapedName && (open == 0 || s[open-1] != '\\') {
			return "", 0, false
		}
		return s[open+1 : end], form, true
	}
	end := k + 1
	for k >= 0 && end-k <= 65 && isNameByte(s[k]) {
		k--
	}
	if end-k-1 == 0 || end-k-1 > 64 {
		return "", 0, false
	}
	if s[sep] == ':' && strings.HasPrefix(s[sep:], "://") {
		return "", 0, false // a URL scheme, not a field
	}
	return s[k+1 : end], bareName, true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// isJSONLiteral reports whether v is a JSON number, true, false or null.
func isJSONLiteral(v string) bool {
	switch v {
	case "true", "false", "null":
		return true
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

func isBareValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '&', '"', '\'', '<', '>', ')', ']', '}':
		return true
	}
	return false
}

func isAuthScheme(word string) bool {
	for _, scheme := range [...]string{"bearer", "basic", "bot", "token", "digest", "negotiate", "apikey"} {
		if strings.EqualFold(word, scheme) {
			return true
		}
	}
	return false
}
