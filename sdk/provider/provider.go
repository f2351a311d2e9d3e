// Package provider holds the small pieces every LLM provider plugin needs
// when it turns a provider's answer into words a user reads (masking text
// shaped like an API key, quoting a short, printable piece of a body in an
// error message) and when it reads tzurot's provider-neutral parameters
// (the thinking levels, the object form of reasoning), and validate_key's
// answer when the key check could not reach the provider.
//
// Why it exists: plugins/openai and plugins/anthropic had the same copies
// of these, and a third provider would have copied them again; a fix to
// the key pattern belongs in one place. It holds only what the shipped
// provider plugins share word for word. Each provider's own error mapping
// (which HTTP status or error type becomes which abi error code) stays in
// its plugin, since the providers disagree on it, except OpenAI's
// (OpenAIError), which plugins/openai, plugins/openai-speech and
// plugins/images share; so
// does the mapping of a reasoning object to a level.
//
// The host scrubs the user's own key from everything a plugin returns
// (docs/security.md); Scrub is the plugin's own second line, for key-shaped
// text the host does not know (another key a provider echoes back).
//
// It is plain Go with no host calls, so it works in a wasip1 plugin and in
// its native unit tests alike.
package provider

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// secretLike matches text shaped like a provider API key (sk-…, which
// covers OpenAI's sk-proj-… and Anthropic's sk-ant-api03-…): the first
// four characters after "sk-" are kept, so a user can tell keys apart.
var secretLike = regexp.MustCompile(`(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-*.]{8,}`)

// Scrub masks anything in s shaped like an API key: "sk-" and four more
// characters stay, the rest becomes "…". Use it on every message a
// provider sends back before it reaches a user.
func Scrub(s string) string { return secretLike.ReplaceAllString(s, "$1…") }

// SnippetBytes is how many bytes of a body Snippet quotes at most.
const SnippetBytes = 200

// Snippet is a short, printable piece of a body for an error message:
// trimmed, scrubbed of key-shaped text, cut to at most SnippetBytes on a
// character boundary (marked with "…"), and only a byte count when the
// body is not UTF-8 text.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%d bytes of binary data", len(b))
	}
	// Scrub before cutting: a key straddling the cut would otherwise be too
	// short to match and keep its first characters.
	s = Scrub(s)
	if len(s) > SnippetBytes {
		cut := SnippetBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "…"
	}
	return s
}
