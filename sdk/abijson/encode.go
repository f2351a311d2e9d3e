package abijson

import (
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, byte for byte as json.Marshal
// writes it (HTML characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by \ufffd).
func AppendString(dst []byte, s string) []byte {
	if len(s) < 8 {
		// Short strings (roles, names, enum values) are tested as one word
		// instead of byte by byte.
		if escapeLanes(shortWord(s))&(1<<(8*len(s))-1) == 0 {
			dst = append(dst, '"')
			dst = append(dst, s...)
			return append(dst, '"')
		}
	}
	dst = append(dst, '"')
	start := 0
	for i := escapeIndex(s, 0); i < len(s); i = escapeIndex(s, i) {
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
		default:
			i += size
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// escapeIndex returns the index of the first byte at or after i that
// json.Marshal does not copy as it is (see escapeLanes), or len(s). Like
// scanStop it tests 32 bytes per loop step; the last few bytes of a string
// of 8 bytes or more are tested with one load that overlaps bytes already
// seen.
func escapeIndex(s string, i int) int {
	for i+32 <= len(s) {
		x0, x1, x2, x3 := load256s(s, i)
		if escapeLanes(x0)|escapeLanes(x1)|escapeLanes(x2)|escapeLanes(x3) != 0 {
			break
		}
		i += 32
	}
	for i+8 <= len(s) {
		if m := escapeLanes(load64s(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	if i == len(s) {
		return i
	}
	if len(s) >= 8 {
		rem := uint(len(s) - i) // 1..7 bytes not yet tested, the top of the last word
		x := load64s(s, len(s)-8) >> (8 * (8 - rem))
		if m := escapeLanes(x) & (1<<(8*rem) - 1); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		return len(s)
	}
	for i < len(s) && htmlSafeTable[s[i]] {
		i++
	}
	return i
}

// shortWord packs a string of fewer than 8 bytes into a word, zero-padded.
func shortWord(s string) uint64 {
	var w [8]byte
	copy(w[:], s)
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// htmlSafeTable[c] is htmlSafe(c), one load instead of six tests.
var htmlSafeTable = func() (t [256]bool) {
	for c := range t {
		t[c] = htmlSafe(byte(c))
	}
	return t
}()

// htmlSafe reports an ASCII byte json.Marshal copies unescaped.
func htmlSafe(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendStringMap appends m as json.Marshal does: keys sorted.
func appendStringMap(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, m[k])
	}
	return append(dst, '}')
}

// field appends `,"name":` (or `"name":` as the first field); name is a
// plain ASCII literal.
func field(dst []byte, first bool, name string) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendToolCall(dst []byte, t *abi.ToolCall) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, t.ID)
	dst = append(dst, `,"name":`...)
	dst = AppendString(dst, t.Name)
	dst = append(dst, `,"arguments":`...)
	dst = AppendString(dst, t.Arguments)
	return append(dst, '}')
}

// AppendChatResponse appends v as json.Marshal encodes it.
func AppendChatResponse(dst []byte, v *abi.ChatResponse) []byte {
	dst = append(dst, `{"content":`...)
	dst = AppendString(dst, v.Content)
	if v.Reasoning != "" {
		dst = append(dst, `,"reasoning":`...)
		dst = AppendString(dst, v.Reasoning)
	}
	if v.Model != "" {
		dst = append(dst, `,"model":`...)
		dst = AppendString(dst, v.Model)
	}
	if v.FinishReason != "" {
		dst = append(dst, `,"finish_reason":`...)
		dst = AppendString(dst, v.FinishReason)
	}
	if len(v.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range v.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCall(dst, &v.ToolCalls[i])
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"usage":`...)
	dst = AppendUsage(dst, &v.Usage)
	return append(dst, '}')
}

// AppendUsage appends v as json.Marshal encodes it.
func AppendUsage(dst []byte, v *abi.Usage) []byte {
	dst = append(dst, `{"kind":`...)
	dst = AppendString(dst, v.Kind)
	if v.Model != "" {
		dst = append(dst, `,"model":`...)
		dst = AppendString(dst, v.Model)
	}
	dst = appendIntField(dst, "input_tokens", v.InputTokens)
	dst = appendIntField(dst, "output_tokens", v.OutputTokens)
	dst = appendIntField(dst, "reasoning_tokens", v.ReasoningTokens)
	dst = appendIntField(dst, "characters", v.Characters)
	dst = appendIntField(dst, "images", v.Images)
	dst = appendIntField(dst, "audio_ms", v.AudioMS)
	if v.Provider != "" {
		dst = append(dst, `,"provider":`...)
		dst = AppendString(dst, v.Provider)
	}
	if v.Plugin != "" {
		dst = append(dst, `,"plugin":`...)
		dst = AppendString(dst, v.Plugin)
	}
	return append(dst, '}')
}

// appendIntField appends `,"name":n` unless n is 0 (omitempty).
func appendIntField(dst []byte, name string, n int64) []byte {
	if n == 0 {
		return dst
	}
	dst = field(dst, false, name)
	return strconv.AppendInt(dst, n, 10)
}

// AppendHTTPRequest appends v as json.Marshal encodes it.
func AppendHTTPRequest(dst []byte, v *abi.HTTPRequest) []byte {
	dst = append(dst, `{"method":`...)
	dst = AppendString(dst, v.Method)
	dst = append(dst, `,"url":`...)
	dst = AppendString(dst, v.URL)
	if len(v.Headers) > 0 {
		dst = append(dst, `,"headers":`...)
		dst = appendStringMap(dst, v.Headers)
	}
	if v.Body != "" {
		dst = append(dst, `,"body":`...)
		dst = AppendString(dst, v.Body)
	}
	if v.BodyBase64 != "" {
		dst = append(dst, `,"body_base64":`...)
		dst = AppendString(dst, v.BodyBase64)
	}
	if v.Auth != nil {
		dst = append(dst, `,"auth":{`...)
		first := true
		if v.Auth.Header != "" {
			dst = field(dst, first, "header")
			dst = AppendString(dst, v.Auth.Header)
			first = false
		}
		if v.Auth.Scheme != "" {
			dst = field(dst, first, "scheme")
			dst = AppendString(dst, v.Auth.Scheme)
		}
		dst = append(dst, '}')
	}
	dst = appendIntField(dst, "timeout_ms", int64(v.TimeoutMS))
	if v.NoRetry {
		dst = append(dst, `,"no_retry":true`...)
	}
	dst = appendIntField(dst, "body_blob", v.BodyBlob)
	if v.ResponseBlob {
		dst = append(dst, `,"response_blob":true`...)
	}
	if len(v.Multipart) > 0 {
		dst = append(dst, `,"multipart":[`...)
		for i := range v.Multipart {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendMultipartPart(dst, &v.Multipart[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendMultipartPart appends p as json.Marshal encodes it.
func appendMultipartPart(dst []byte, p *abi.MultipartPart) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendString(dst, p.Name)
	if p.Value != "" {
		dst = append(dst, `,"value":`...)
		dst = AppendString(dst, p.Value)
	}
	dst = appendIntField(dst, "blob", p.Blob)
	if p.Filename != "" {
		dst = append(dst, `,"filename":`...)
		dst = AppendString(dst, p.Filename)
	}
	if p.ContentType != "" {
		dst = append(dst, `,"content_type":`...)
		dst = AppendString(dst, p.ContentType)
	}
	return append(dst, '}')
}

// AppendLogEntry appends v as json.Marshal encodes it.
func AppendLogEntry(dst []byte, v *abi.LogEntry) []byte {
	dst = append(dst, `{"level":`...)
	dst = AppendString(dst, v.Level)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, v.Message)
	if len(v.Attrs) > 0 {
		dst = append(dst, `,"attrs":`...)
		dst = appendStringMap(dst, v.Attrs)
	}
	return append(dst, '}')
}

// AppendError appends v as json.Marshal encodes it.
func AppendError(dst []byte, v *abi.Error) []byte {
	dst = append(dst, `{"code":`...)
	dst = AppendString(dst, v.Code)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, v.Message)
	if v.Retryable {
		dst = append(dst, `,"retryable":true`...)
	}
	dst = appendIntField(dst, "http_status", int64(v.HTTPStatus))
	return append(dst, '}')
}
