package provider

import (
	"strings"
	"testing"
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
