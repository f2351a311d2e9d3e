package shapes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jsonKind names what a raw JSON value is, for messages and type checks.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "text"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "true/false"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// isEmpty reports whether raw says "not set": null, "", [] or {}.
func isEmpty(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return true
	}
	switch string(raw) {
	case `""`, `[]`, `{}`:
		return true
	}
	if raw[0] == '[' || raw[0] == '{' {
		// "[ ]" and friends.
		inner := bytes.TrimSpace(raw[1 : len(raw)-1])
		return len(inner) == 0
	}
	return false
}

// asString decodes a JSON string. ok is false for any other kind (null
// included: callers treat null as "not set" before asking).
func asString(raw json.RawMessage) (string, bool) {
	if jsonKind(raw) != "text" {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	// Most strings have no escapes: take the bytes between the quotes.
	// Input has been through sanitizeJSON, which replaced (and reported)
	// what PostgreSQL cannot store; the UTF-8 check is a second guard.
	if len(raw) >= 2 && raw[len(raw)-1] == '"' {
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner), true
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// asNumber decodes a JSON number, or a string holding one (exports are not
// always careful about "0.5" versus 0.5). The json.Number keeps the
// original digits for storage.
func asNumber(raw json.RawMessage) (json.Number, float64, bool) {
	raw = bytes.TrimSpace(raw)
	var text string
	switch jsonKind(raw) {
	case "a number":
		text = string(raw)
	case "text":
		s, _ := asString(raw)
		text = strings.TrimSpace(s)
	default:
		return "", 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", 0, false
	}
	if jsonKind(raw) == "text" {
		// Re-format so the stored JSON is a number, not a string.
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), f, true
	}
	return json.Number(text), f, true
}

// asBool decodes true/false.
func asBool(raw json.RawMessage) (bool, bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// asStrings decodes a list of strings.
func asStrings(raw json.RawMessage) ([]string, bool) {
	if jsonKind(raw) != "a list" {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, false
	}
	return out, true
}

// asObject decodes a JSON object into its keys, keeping each value
// verbatim and numbers exact.
func asObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if jsonKind(raw) != "an object" {
		return nil, false
	}
	// Values stay raw, so numbers keep their digits without UseNumber.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// mustJSON marshals values that cannot fail (maps of strings, numbers and
// raw JSON).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("shapes: marshal %T: %v", v, err))
	}
	return b
}

// compactJSON returns raw without insignificant spaces (a stable form to
// hash); invalid input is returned as is.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// contentID names a record that has no id of its own by its content, so a
// re-import finds the same row again.
func contentID(raw json.RawMessage) string {
	sum := sha256.Sum256(compactJSON(raw))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// recordID reads an id that may be a string or a number.
func recordID(raw json.RawMessage) (string, bool) {
	if s, ok := asString(raw); ok && strings.TrimSpace(s) != "" {
		return s, true
	}
	if jsonKind(raw) == "a number" {
		return string(bytes.TrimSpace(raw)), true
	}
	return "", false
}

// unixTime turns seconds since 1970 (shapes.inc writes floats such as
// 1747842910.953056) or an RFC 3339 string into a time, to the microsecond
// PostgreSQL keeps.
func unixTime(raw json.RawMessage) (*time.Time, bool) {
	if isNull(raw) {
		return nil, true
	}
	if s, ok := asString(raw); ok {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				t = t.UTC().Truncate(time.Microsecond)
				return &t, true
			}
		}
	}
	_, f, ok := asNumber(raw)
	if !ok || f < 0 || f > 253402300799 { // year 9999
		return nil, false
	}
	// Milliseconds (JavaScript exports) are told apart by size: 1e11 s is
	// the year 5138, 1e11 ms is 1973.
	if f > 1e11 {
		f /= 1000
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
	return &t, true
}

// Birthday is a parsed shapes.inc birthday; Year is 0 when unknown.
type Birthday struct {
	Month, Day, Year int
}

var (
	birthdayMonthDay = regexp.MustCompile(`^(?:--)?(\d{1,2})-(\d{1,2})$`)
	birthdayFull     = regexp.MustCompile(`^(\d{1,4})-(\d{1,2})-(\d{1,2})$`)
)

// parseBirthday accepts "MM-DD" (also "--MM-DD", the ISO form without a
// year) and "YYYY-MM-DD", and checks the date exists (29 February only in a
// leap year, or when the year is unknown).
func parseBirthday(s string) (Birthday, error) {
	s = strings.TrimSpace(s)
	var b Birthday
	if m := birthdayFull.FindStringSubmatch(s); m != nil {
		b.Year, _ = strconv.Atoi(m[1])
		b.Month, _ = strconv.Atoi(m[2])
		b.Day, _ = strconv.Atoi(m[3])
		if b.Year < 1 {
			return Birthday{}, fmt.Errorf("%q has year 0; use MM-DD when the year is unknown", s)
		}
	} else if m := birthdayMonthDay.FindStringSubmatch(s); m != nil {
		b.Month, _ = strconv.Atoi(m[1])
		b.Day, _ = strconv.Atoi(m[2])
	} else {
		return Birthday{}, fmt.Errorf("%q is not a date in the form MM-DD or YYYY-MM-DD", s)
	}
	if b.Month < 1 || b.Month > 12 {
		return Birthday{}, fmt.Errorf("%q has month %d; months are 1 to 12", s, b.Month)
	}
	year := b.Year
	if year == 0 {
		year = 2000 // a leap year, so 02-29 is allowed when the year is unknown
	}
	last := time.Date(year, time.Month(b.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if b.Day < 1 || b.Day > last {
		return Birthday{}, fmt.Errorf("%q has day %d; that month has %d days", s, b.Day, last)
	}
	return b, nil
}

var slugInvalid = regexp.MustCompile(`[^a-z0-9._-]+`)

// maxSlugLen mirrors the personalities_slug_format constraint.
const maxSlugLen = 100

// slugify turns a shapes.inc username (or a name) into a slug the schema
// accepts: lowercase letters, digits, '.', '_' and '-', starting with a
// letter or digit, at most 100 characters.
func slugify(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = slugInvalid.ReplaceAllString(s, "-")
	s = strings.TrimLeft(s, "._-")
	if len(s) > maxSlugLen {
		s = s[:maxSlugLen]
	}
	return strings.TrimRight(s, "._-")
}

// truncateRunes cuts s to at most n characters without splitting one.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// snowflake matches a Discord id.
var snowflake = regexp.MustCompile(`^[0-9]{1,20}$`)

// IsDiscordID reports whether s looks like a Discord user id.
func IsDiscordID(s string) bool { return snowflake.MatchString(s) }
