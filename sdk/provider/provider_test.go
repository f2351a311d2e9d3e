package provider

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrubMasksKeyShapedText(t *testing.T) {
	cases := map[string]string{
		"Incorrect API key provided: sk-proj-abcdefghijklmnop.": "Incorrect API key provided: sk-proj…",
		"invalid x-api-key sk-ant-api03-AAAAbbbbCCCCdddd-xyz":   "invalid x-api-key sk-ant-…",
		"key sk-abcd1234efgh5678 and sk-wxyz9876543210ab":       "key sk-abcd… and sk-wxyz…",
		"sk-short stays":                    "sk-short stays",
		"no key here":                       "no key here",
		"masked already sk-abcd********xyz": "masked already sk-abcd…",
	}
	for in, want := range cases {
		if got := Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("x", SnippetBytes+50)
	cases := []struct {
		name, in, want string
	}{
		{"trimmed", "  \n{\"error\":\"bad\"}\n ", `{"error":"bad"}`},
		{"cut to its cap", long, strings.Repeat("x", SnippetBytes) + "…"},
		{"exactly the cap stays whole", long[:SnippetBytes], long[:SnippetBytes]},
		{"key masked", "<html>sk-proj-abcdefghijklmnop</html>", "<html>sk-proj…</html>"},
		{"binary", "\xff\xfe\x00ab", "5 bytes of binary data"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		if got := Snippet([]byte(c.in)); got != c.want {
			t.Errorf("%s: Snippet(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// A key that straddles the cut is masked whole (it was cut first, leaving a
// prefix too short to look like a key), and the cut never splits a
// character.
func TestSnippetScrubsBeforeCutting(t *testing.T) {
	const key = "sk-abcdSECRETSECRETSECRET"
	for off := SnippetBytes - len(key); off <= SnippetBytes; off++ {
		body := strings.Repeat("x", off) + key + strings.Repeat("y", 50)
		got := Snippet([]byte(body))
		if strings.Contains(got, "SEC") {
			t.Errorf("key at offset %d: snippet %q shows part of the key", off, got)
		}
	}
	for off := SnippetBytes - 4; off <= SnippetBytes; off++ {
		body := strings.Repeat("x", off) + strings.Repeat("é✓😀", 20)
		if got := Snippet([]byte(body)); !utf8.ValidString(got) {
			t.Errorf("multibyte text at offset %d: snippet is not UTF-8: %q", off, got[len(got)-8:])
		}
	}
}
