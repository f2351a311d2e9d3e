package redact

import (
	"regexp"
	"slices"
	"strings"
)

// Mask replaces a redacted secret.
const Mask = "[REDACTED]"

// urlPasswordMask replaces the password of a URL, which keeps the URL
// readable: postgres://tzurot:***@db:5432/tzurot.
const urlPasswordMask = "***"

// Redactor masks secrets in text: every exact value registered in its
// Secrets, and anything shaped like a credential (provider keys, bearer
// and bot tokens, URL passwords, string values of fields named like
// secrets). It is safe for concurrent use.
type Redactor struct {
	secrets *Secrets
}

// New returns a Redactor that masks the shapes of common credentials and
// every secret registered in secrets (which may be nil).
func New(secrets *Secrets) *Redactor {
	return &Redactor{secrets: secrets}
}

// span is a byte range of a text to replace by mask.
type span struct {
	start, end int
	mask       string
}

// String returns s with every secret it contains masked. When there is
// nothing to mask it returns s itself without allocating.
func (r *Redactor) String(s string) string {
	// Short strings (most attribute keys) can hold no secret: registered
	// ones are MinSecretLen bytes or more, every shape is longer still, and
	// only the field rule ("key=abc") works on less.
	if len(s) < 4 || len(s) < MinSecretLen && strings.IndexByte(s, ':') < 0 && strings.IndexByte(s, '=') < 0 {
		return s
	}
	var found [8]span
	spans := found[:0]
	if r != nil {
		spans = r.secrets.appendMatches(spans, s)
	}
	spans = appendFieldValues(spans, s)
	spans = appendURLPasswords(spans, s)
	spans = appendShapes(spans, s)
	if len(spans) == 0 {
		return s
	}
	return replaceSpans(s, spans)
}

// replaceSpans writes s with each span replaced by its mask; overlapping
// spans merge into one Mask.
func replaceSpans(s string, spans []span) string {
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s) + 8)
	pos := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		i++
		for i < len(spans) && spans[i].start <= cur.end {
			if spans[i].end > cur.end {
				cur.end = spans[i].end
			}
			if spans[i].mask != cur.mask {
				cur.mask = Mask
			}
			i++
		}
		if cur.start < pos { // cannot happen after the merge; kept as a guard
			cur.start = pos
		}
		b.WriteString(s[pos:cur.start])
		b.WriteString(cur.mask)
		pos = cur.end
	}
	b.WriteString(s[pos:])
	return b.String()
}

// appendURLPasswords finds the password of URLs with credentials
// (postgres://user:pass@host, redis://:pass@host, https://u:p@host).
func appendURLPasswords(dst []span, s string) []span {
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			return dst
		}
		p := i + j + len("://")
		i = p
		end := p
		for end < len(s) && !isAuthorityEnd(s[end]) {
			end++
		}
		authority := s[p:end]
		at := strings.LastIndexByte(authority, '@')
		if at < 0 {
			continue
		}
		colon := strings.IndexByte(authority[:at], ':')
		if colon < 0 || colon+1 == at {
			continue
		}
		dst = append(dst, span{start: p + colon + 1, end: p + at, mask: urlPasswordMask})
	}
}

// isAuthorityEnd reports whether c ends the user:pass@host part of a URL.
// '@' and ':' are allowed inside it; the last '@' ends the user info.
func isAuthorityEnd(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '`', '\\':
		return true
	}
	return false
}

// shape is a credential recognised by its form. mayMatch is a cheap test
// that must hold for re to match; it keeps the regexp off most log lines.
type shape struct {
	re       *regexp.Regexp
	group    int // submatch to mask: 0 = all of it
	mayMatch func(string) bool
}

// keyStart is where a credential may begin: at the start of the text,
// after a character that cannot be part of a word, or right after an
// escape such as \n or \u003e in JSON or Go-quoted text ("\nsk-..."), where
// a plain \b would see the escape's letter as part of the word.
const keyStart = `(?:^|[^A-Za-z0-9_]|\\[nrtfb]|\\u[0-9A-Fa-f]{4})`

var shapes = []shape{
	// OpenRouter (sk-or-...), Anthropic (sk-ant-...), OpenAI and others
	// (sk-...): the prefix stays visible so a reader knows whose key it was.
	{regexp.MustCompile(keyStart + `sk-(?:or-|ant-)?([A-Za-z0-9_-]{20,})`), 1,
		func(s string) bool { return strings.Contains(s, "sk-") }},
	// Google API keys.
	{regexp.MustCompile(keyStart + `AIza([A-Za-z0-9_-]{35,})`), 1,
		func(s string) bool { return strings.Contains(s, "AIza") }},
	// GitHub, Hugging Face, Groq, GitLab, Slack, Replicate tokens.
	{regexp.MustCompile(keyStart + `(?:gh[pousr]_|github_pat_|hf_|gsk_|glpat-|xox[abpors]-|r8_)([A-Za-z0-9_-]{20,})`), 1,
		mayBeVendorToken},
	// JSON Web Tokens.
	{regexp.MustCompile(keyStart + `(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})`), 1,
		func(s string) bool { return strings.Contains(s, "eyJ") }},
	// Discord bot tokens: base64 user id, timestamp and HMAC, dot-separated.
	{regexp.MustCompile(`[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}`), 0,
		mayBeDiscordToken},
	// Bearer credentials, in any case. Eight characters at least, so that
	// "the bearer of" stays; a shorter credential after "Authorization:" is
	// still masked by the field rule.
	{regexp.MustCompile(keyStart + `(?i:bearer)\s+([A-Za-z0-9._~+/=-]{8,})`), 1,
		func(s string) bool { return containsFold(s, "bearer") }},
	// Discord's "Bot <token>", even if the token has an unusual shape.
	{regexp.MustCompile(keyStart + `Bot\s+([A-Za-z0-9._-]{20,})`), 1,
		func(s string) bool { return strings.Contains(s, "Bot") }},
}

func appendShapes(dst []span, s string) []span {
	for i := range shapes {
		sh := &shapes[i]
		if !sh.mayMatch(s) {
			continue
		}
		for _, m := range sh.re.FindAllStringSubmatchIndex(s, -1) {
			dst = append(dst, span{start: m[2*sh.group], end: m[2*sh.group+1], mask: Mask})
		}
	}
	return dst
}

func mayBeVendorToken(s string) bool {
	if strings.Contains(s, "xox") || strings.Contains(s, "glpat-") {
		return true
	}
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '_')
		if j < 0 {
			return false
		}
		before := s[:i+j]
		for _, p := range [...]string{"ghp", "gho", "ghu", "ghs", "ghr", "github_pat", "hf", "gsk", "r8"} {
			if strings.HasSuffix(before, p) {
				return true
			}
		}
		i += j + 1
	}
}

// mayBeDiscordToken looks for a '.' with at least 20 token bytes before
// it, then 6 or 7 token bytes and another '.'.
func mayBeDiscordToken(s string) bool {
	if len(s) < 55 {
		return false
	}
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '.')
		if j < 0 {
			return false
		}
		dot := i + j
		i = dot + 1
		if dot < 20 || !isTokenRun(s[dot-20:dot]) {
			continue
		}
		for _, n := range [...]int{6, 7} {
			if second := dot + 1 + n; second+1+27 <= len(s) && s[second] == '.' && isTokenRun(s[dot+1:second]) {
				return true
			}
		}
	}
}

func isTokenRun(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains the lower-case ASCII word
// lower, in any case.
func containsFold(s, lower string) bool {
	upper := lower[0] - 'a' + 'A'
	for _, first := range [2]byte{lower[0], upper} {
		for i := 0; i+len(lower) <= len(s); {
			j := strings.IndexByte(s[i:len(s)-len(lower)+1], first)
			if j < 0 {
				break
			}
			if strings.EqualFold(s[i+j:i+j+len(lower)], lower) {
				return true
			}
			i += j + 1
		}
	}
	return false
}
