package plugin

import (
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Scrubbing: the host takes every key a plugin instance may have seen out
// of everything the plugin hands back (output, errors, emitted text, usage,
// log lines). It is defence in depth: the guarantees are that a plugin reads
// no raw key unless granted (raw_key) and that an instance holding a user's
// key never serves another user. A plugin that transforms a key (base64,
// reversed, split across log lines) defeats scrubbing; that is why those
// guarantees come first.

// redactedText replaces a key.
const redactedText = "[redacted]"

// minSecretLen: shorter keys are not scrubbed, as they would mask ordinary
// words (no provider issues keys this short).
const minSecretLen = 8

// scrubString replaces every secret in s.
func scrubString(s string, secrets []string) string {
	for _, k := range secrets {
		if len(k) >= minSecretLen && strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, redactedText)
		}
	}
	return s
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut. Cut
// only text already scrubbed: a key straddling the cut would otherwise lose
// its tail and no longer match.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// keyPrefixSuffix returns the length of the longest end of s that is the
// start (not the whole) of a secret: text the next piece may complete into
// a key. Starts shorter than 4 bytes are ignored ("sk-" says nothing).
func keyPrefixSuffix(s string, secrets []string) int {
	best := 0
	for _, k := range secrets {
		if len(k) < minSecretLen {
			continue
		}
		for n := min(len(k)-1, len(s)); n > best; n-- {
			if n >= 4 && strings.HasSuffix(s, k[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

// scrubCutTail scrubs s, which was cut short by a cap before the host saw
// all of it, and also masks a key's beginning left at its end.
func scrubCutTail(s string, secrets []string) string {
	s = scrubString(s, secrets)
	if n := keyPrefixSuffix(s, secrets); n > 0 {
		s = s[:len(s)-n] + redactedText
	}
	return s
}

// secrets are the keys to scrub from what this call's plugin hands back.
func (st *callState) secrets() []string {
	if st.keyOK && st.key != "" {
		return []string{st.key}
	}
	return nil
}

// pluginError is the error a plugin set, as the user sees it: keys
// scrubbed, then cut to maxErrorText (a key across the cut would otherwise
// keep its start).
func (st *callState) pluginError(typed string) *abi.Error {
	e := parsePluginError(typed)
	e.Message = clip(st.redact(e.Message), maxErrorText)
	return e
}
