// Package chunk splits a reply into parts that each fit in one Discord message.
//
// Discord rejects message content longer than 2,000 characters. It counts characters as Unicode
// code points (its API validates with Python's len), so this package counts runes, not bytes and
// not UTF-16 code units: an emoji outside the Basic Multilingual Plane is one character here and
// on Discord. (An emoji made of several code points joined by U+200D counts as several, on both.)
//
// Parts are cut at the most natural boundary that still fills the part at least halfway:
// a blank line (paragraph), then a line break, then the end of a sentence, then a space, and only
// when a single "word" is longer than a whole message, anywhere between two runes.
//
// Fenced code blocks (a line starting with exactly three backticks) are never left open: when a
// cut falls inside one, the part is closed with a fence line and the next part reopens it with the
// same language tag, so Discord renders both halves as code. Line breaks outside code blocks are
// preferred to cuts inside them. If the text itself ends with an unclosed fence, the last part
// closes it too, so every part renders on its own.
//
// Apart from those added fence lines, joining the parts gives back the input exactly: no
// whitespace is trimmed or lost. A part can consist of whitespace only when the input has a run of
// whitespace longer than a message; callers that post parts skip blank ones (Discord refuses
// empty messages).
package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// DiscordLimit is the maximum length of a Discord message's content, in characters (runes).
const DiscordLimit = 2000

// MinLimit is the smallest limit Split accepts; smaller limits are raised to it. It leaves room for
// a reopened fence with a language tag (up to 36 runes), a closing fence (4) and some text.
const MinLimit = 64

// maxLangRunes bounds the language tag copied into a reopened fence.
const maxLangRunes = 32

// Split cuts text into parts of at most DiscordLimit runes each. See the package comment for the
// rules. Empty text gives no parts.
func Split(text string) []string {
	return SplitLimit(text, DiscordLimit)
}

// SplitLimit is Split with a different limit (at least MinLimit; smaller values are raised).
func SplitLimit(text string, limit int) []string {
	parts := splitParts(text, limit)
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.String()
	}
	return out
}

// part is one message: Body is a slice of the input, Prefix and Suffix are fence lines added so
// the part renders on its own.
type part struct {
	Prefix string // "```lang\n" when the part starts inside a code block, else ""
	Body   string
	Suffix string // "```" or "\n```" when the part ends inside a code block, else ""
}

func (p part) String() string { return p.Prefix + p.Body + p.Suffix }

func splitParts(text string, limit int) []part {
	if limit < MinLimit {
		limit = MinLimit
	}
	var (
		parts []part
		open  fence // the code block state at the start of the next part
	)
	for pos := 0; pos < len(text); {
		prefix := ""
		if open.open {
			prefix = "```" + open.lang + "\n"
		}
		budget := limit - utf8.RuneCountInString(prefix)

		end := cutPoint(text, pos, budget, open)
		body := text[pos:end]
		state := fence{}.scan(prefix + body)
		suffix := closing(body, state)
		if utf8.RuneCountInString(prefix)+utf8.RuneCountInString(body)+utf8.RuneCountInString(suffix) > limit {
			// The part ends inside a code block and the closing fence does not fit: cut again with
			// room for it. The new cut is shorter, so whatever its state, it fits.
			end = cutPoint(text, pos, budget-len("\n```"), open)
			body = text[pos:end]
			state = fence{}.scan(prefix + body)
			suffix = closing(body, state)
		}
		parts = append(parts, part{Prefix: prefix, Body: body, Suffix: suffix})
		open = state
		pos = end
	}
	return parts
}

// closing returns the fence line that closes an open block at the end of body.
func closing(body string, state fence) string {
	if !state.open {
		return ""
	}
	if strings.HasSuffix(body, "\n") {
		return "```"
	}
	return "\n```"
}

// cutPoint returns the byte offset where the part starting at pos ends, using at most budget
// runes. start is the code block state at pos (already reopened by the part's prefix).
func cutPoint(text string, pos, budget int, start fence) int {
	if budget < 1 {
		budget = 1
	}
	// max is the byte offset just after budget runes (or the end of the text).
	max := pos
	for n := 0; n < budget && max < len(text); n++ {
		_, size := utf8.DecodeRuneInString(text[max:])
		max += size
	}
	if max == len(text) {
		return max
	}
	// Natural boundaries only count when they fill at least half the part, so a paragraph break
	// near the start does not produce a tiny part.
	half := pos
	for n := 0; n < budget/2 && half < max; n++ {
		_, size := utf8.DecodeRuneInString(text[half:])
		half += size
	}

	// One pass over the lines in the window, tracking the code block state at each line start.
	var paraOutside, lineOutside, lineAny int
	state := start
	for i := pos; i < max; {
		nl := strings.IndexByte(text[i:max], '\n')
		if nl < 0 {
			break
		}
		line := text[i : i+nl]
		state = state.line(line)
		next := i + nl + 1
		if next > half {
			lineAny = next
			if !state.open {
				lineOutside = next
				if strings.TrimSpace(line) == "" {
					paraOutside = next
				}
			}
		}
		i = next
	}
	switch {
	case paraOutside > 0:
		return paraOutside
	case lineOutside > 0:
		return lineOutside
	case lineAny > 0:
		return lineAny
	}
	if p := lastSentenceEnd(text, half, max); p > 0 {
		return p
	}
	if p := lastSpace(text, pos, max); p > 0 {
		return p
	}
	return max
}

// lastSentenceEnd returns the offset just after the last ". ", "! " or "? " (the space stays with
// the sentence) that ends after from and no later than max, or 0.
func lastSentenceEnd(text string, from, max int) int {
	for i := max - 1; i > from; i-- {
		if text[i] == ' ' || text[i] == '\t' {
			switch text[i-1] {
			case '.', '!', '?':
				return i + 1
			}
		}
	}
	return 0
}

// lastSpace returns the offset just after the last whitespace rune in (pos, max], or 0.
func lastSpace(text string, pos, max int) int {
	for i := max; i > pos; {
		r, size := utf8.DecodeLastRuneInString(text[pos:i])
		if unicode.IsSpace(r) {
			return i
		}
		i -= size
	}
	return 0
}

// fence is the code block state of a piece of Markdown: whether a fenced block is open and the
// language tag it was opened with.
type fence struct {
	open bool
	lang string
}

// scan returns the state after every line of s, starting from f. A trailing partial line counts.
func (f fence) scan(s string) fence {
	for s != "" {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			return f.line(s)
		}
		f = f.line(s[:nl])
		s = s[nl+1:]
	}
	return f
}

// line returns the state after one line (without its newline). A fence line starts, after at
// most three spaces, with exactly three backticks. Outside a block it opens one, unless the rest
// of the line holds another "```" (a one-line block); inside a block it closes it.
func (f fence) line(l string) fence {
	for i := 0; i < 3 && strings.HasPrefix(l, " "); i++ {
		l = l[1:]
	}
	if !strings.HasPrefix(l, "```") || strings.HasPrefix(l, "````") {
		return f
	}
	if f.open {
		return fence{}
	}
	rest := l[3:]
	if strings.Contains(rest, "```") {
		return f
	}
	return fence{open: true, lang: langTag(rest)}
}

// langTag extracts a language tag safe to repeat in a reopened fence, or "".
func langTag(rest string) string {
	rest = strings.TrimSpace(rest)
	if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" || utf8.RuneCountInString(rest) > maxLangRunes {
		return ""
	}
	for _, r := range rest {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("_+-.#", r))
		if !ok {
			return ""
		}
	}
	return rest
}
