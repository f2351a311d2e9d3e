package vault

import "strings"

// Mask returns a hint that lets a user recognise a key without revealing it:
// the vendor prefix (up to and including the last '-' of the first 8
// characters, e.g. "sk-or-"), an ellipsis, and the last four characters. Keys
// shorter than 16 characters show only the last two: four would be a large
// share of the secret.
func Mask(secret string) string {
	s := strings.TrimSpace(secret)
	if s == "" {
		return ""
	}
	tail := 4
	if len(s) < 16 {
		tail = 2
	}
	if len(s) <= tail {
		return "…"
	}
	prefix := ""
	if len(s) >= 16 {
		head := s[:8]
		if i := strings.LastIndexByte(head, '-'); i > 0 {
			prefix = s[:i+1]
		}
	}
	return prefix + "…" + s[len(s)-tail:]
}
