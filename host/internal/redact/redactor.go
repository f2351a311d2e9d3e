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
	if len(s) < 4 {
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

// appendFieldValues finds values of fields whose name is a secret name, in
// the forms logs and error messages carry them:
//
//	{"api_key": "v"}  {\"token\":\"v\"}  {'password': 'v'}  "X-Api-Key": ["v"]
//	password=v  token: v  Authorization: Bearer v  map[Authorization:[Bearer v]]
//
// Numbers, booleans and null after a quoted name are JSON, not
// credentials: {"token": 12} and {"token": null} pass through.
func appendFieldValues(dst []span, s string) []span {
	seps := separators{s: s, colon: unknown, equals: unknown}
	runEnd := 0 // where the last bare value ended (see bareValueEnd)
	for i := 0; i < len(s); {
		sep := seps.next(i)
		if sep < 0 {
			break
		}
		i = sep + 1
		name, form, ok := fieldNameBefore(s, sep)
		if !ok || !IsSecretName(name) {
			continue
		}
		var end int
		dst, end = appendFieldValue(dst, s, sep+1, form, &runEnd)
		if end > i {
			i = min(end, len(s))
		}
	}
	return dst
}

// separators finds the ':' and '=' of a text in order. It remembers where
// the next of each is, so a text full of one and free of the other is
// still scanned once (strings.IndexAny would be simpler, but it builds a
// byte set on every call, and this runs on every log string).
type separators struct {
	s             string
	colon, equals int // index of the next one, none (-1) or unknown
}

const (
	none    = -1
	unknown = -2
)

// next returns the index of the first separator at or after from, or -1.
func (p *separators) next(from int) int {
	p.colon = p.find(p.colon, from, ':')
	p.equals = p.find(p.equals, from, '=')
	switch {
	case p.colon == none:
		return p.equals
	case p.equals == none:
		return p.colon
	}
	return min(p.colon, p.equals)
}

func (p *separators) find(known, from int, c byte) int {
	if known == none || known >= from {
		return known
	}
	if i := strings.IndexByte(p.s[from:], c); i >= 0 {
		return from + i
	}
	return none
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
		open := strings.LastIndexByte(s[:end], q)
		if open < 0 || end-open-1 > 64 {
			return "", 0, false
		}
		if form == escapedName && (open == 0 || s[open-1] != '\\') {
			return "", 0, false
		}
		return s[open+1 : end], form, true
	}
	end := k + 1
	for k >= 0 && isNameByte(s[k]) {
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

// appendFieldValue appends the span of the value that starts at or after
// p, and returns the index where scanning may resume.
func appendFieldValue(dst []span, s string, p int, form nameForm, runEnd *int) ([]span, int) {
	for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	if p >= len(s) {
		return dst, p
	}
	switch {
	case form == escapedName:
		if !strings.HasPrefix(s[p:], `\"`) {
			return dst, p
		}
		start := p + 2
		end := closingEscapedQuote(s, start)
		return appendNonEmpty(dst, start, end, Mask), end
	case s[p] == '"' || s[p] == '\'':
		start := p + 1
		end := closingQuote(s, start, s[p])
		return appendNonEmpty(dst, start, end, Mask), end
	case s[p] == '[':
		return appendListValues(dst, s, p+1)
	}
	end := bareValueEnd(s, p, runEnd)
	if end == p || s[p] == '{' {
		return dst, p
	}
	if form != bareName && isJSONLiteral(s[p:end]) {
		return dst, p // {"token": 12}, {"token": null}: not a credential string
	}
	// "Authorization: Bearer abc" masks the credential, not the scheme.
	if isAuthScheme(s[p:end]) {
		q := end
		for q < len(s) && (s[q] == ' ' || s[q] == '\t') {
			q++
		}
		credEnd := bareValueEnd(s, q, runEnd)
		if credEnd > q {
			return append(dst, span{start: q, end: credEnd, mask: Mask}), q
		}
	}
	// Scanning resumes inside a bare value, not after it: in
	// "pass=password: hunter2" the value "password:" holds the separator
	// that introduces the real secret.
	return append(dst, span{start: p, end: end, mask: Mask}), p
}

// appendListValues masks the items of a list value: ["a", "b"], or
// [a b] as Go's %v prints a []string. p is just past the '['.
func appendListValues(dst []span, s string, p int) ([]span, int) {
	for p < len(s) {
		switch c := s[p]; c {
		case ']':
			return dst, p + 1
		case ' ', '\t', ',':
			p++
		case '"', '\'':
			end := closingQuote(s, p+1, c)
			dst = appendNonEmpty(dst, p+1, end, Mask)
			p = end + 1
		default:
			end := strings.IndexByte(s[p:], ']')
			if end < 0 {
				end = len(s)
			} else {
				end += p
			}
			return appendNonEmpty(dst, p, end, Mask), end
		}
	}
	return dst, len(s)
}

// closingQuote returns the index of the quote q that closes a string
// starting at start, skipping backslash escapes, or len(s) if the string
// is cut off.
func closingQuote(s string, start int, q byte) int {
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return len(s)
}

// closingEscapedQuote returns the index of the \" that closes a string
// of JSON that is itself inside a JSON string ({\"k\":\"a\\\"b\"}), starting
// at start, or len(s) if it is cut off. It decodes one level of escapes
// to tell the closing quote from an escaped quote inside the value.
func closingEscapedQuote(s string, start int) int {
	escaped := false // the previous inner character was an escaping backslash
	for i := start; i < len(s); i++ {
		c := s[i]
		at := i
		if c == '"' {
			return i // the outer string ends: the value is cut off here
		}
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i] // \\ is an inner '\\', \" an inner '"', \n and the like plain characters
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
			return at
		}
	}
	return len(s)
}

func appendNonEmpty(dst []span, start, end int, mask string) []span {
	if end <= start {
		return dst
	}
	return append(dst, span{start: start, end: end, mask: mask})
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

// bareValueEnd returns where an unquoted value starting at p ends.
// Scanning resumes inside bare values, so several may start within one run
// of value bytes ("password=password=password=..."); they all end where the
// run does, which *runEnd remembers, keeping the scan linear.
func bareValueEnd(s string, p int, runEnd *int) int {
	if p < *runEnd {
		return *runEnd
	}
	end := p
	for end < len(s) && !isBareValueEnd(s[end]) {
		end++
	}
	*runEnd = end
	return end
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
