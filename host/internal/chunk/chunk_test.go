package chunk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// words returns n runes of prose: words of five letters separated by spaces, no sentence ends.
func words(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("lorem ")
	}
	return b.String()[:n]
}

func TestSplitShortTextIsOnePart(t *testing.T) {
	for _, text := range []string{"hi", "line one\nline two\n\nparagraph", strings.Repeat("x", DiscordLimit)} {
		got := Split(text)
		if len(got) != 1 || got[0] != text {
			t.Errorf("Split(%d runes) = %d parts, want the text unchanged in one part", utf8.RuneCountInString(text), len(got))
		}
	}
	if got := Split(""); len(got) != 0 {
		t.Errorf("Split(\"\") = %q, want no parts", got)
	}
}

func TestSplitCountsRunesNotBytes(t *testing.T) {
	// 2,000 emoji are 8,000 bytes but 2,000 characters on Discord: one message.
	text := strings.Repeat("😀", DiscordLimit)
	if got := Split(text); len(got) != 1 {
		t.Fatalf("2000 emoji split into %d parts, want 1", len(got))
	}
	got := Split(text + "😀")
	if len(got) != 2 || utf8.RuneCountInString(got[0]) != DiscordLimit || got[1] != "😀" {
		t.Fatalf("2001 emoji: parts of %v runes, want [2000 1]", runeCounts(got))
	}
	for _, p := range got {
		if !utf8.ValidString(p) {
			t.Fatalf("part is not valid UTF-8: an emoji was cut in half")
		}
	}
}

func TestSplitBoundaries(t *testing.T) {
	para1 := words(1200)
	para2 := words(1200)
	line1 := words(1500)
	sentence := words(1400) + "."
	long := words(2500)
	lastSpace := strings.LastIndex(long[:DiscordLimit-5], " ") + 1 // 5 runes go to "Hi.\n\n"
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "paragraph break wins over later line breaks",
			text: para1 + "\n\n" + words(300) + "\n" + words(1000),
			want: []string{para1 + "\n\n", words(300) + "\n" + words(1000)},
		},
		{
			name: "two paragraphs",
			text: para1 + "\n\n" + para2,
			want: []string{para1 + "\n\n", para2},
		},
		{
			name: "line break when there is no paragraph",
			text: line1 + "\n" + words(1000),
			want: []string{line1 + "\n", words(1000)},
		},
		{
			name: "sentence end when there is no line break",
			text: sentence + " " + words(1000),
			want: []string{sentence + " ", words(1000)},
		},
		{
			name: "space when there is no sentence end",
			text: strings.Repeat("abcd ", 500) + "tail",
			want: []string{strings.Repeat("abcd ", 400), strings.Repeat("abcd ", 100) + "tail"},
		},
		{
			name: "hard cut inside a word longer than a message",
			text: strings.Repeat("x", 2500),
			want: []string{strings.Repeat("x", 2000), strings.Repeat("x", 500)},
		},
		{
			name: "a paragraph break in the first half is not used",
			text: "Hi.\n\n" + long,
			want: []string{"Hi.\n\n" + long[:lastSpace], long[lastSpace:]},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.text)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d parts %v, want %d %v", len(got), runeCounts(got), len(tt.want), runeCounts(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("part %d: got %d runes ending %q, want %d runes ending %q", i,
						utf8.RuneCountInString(got[i]), tail(got[i]), utf8.RuneCountInString(tt.want[i]), tail(tt.want[i]))
				}
			}
		})
	}
}

func TestSplitReopensCodeBlockWithLanguage(t *testing.T) {
	var code strings.Builder
	for i := 0; code.Len() < 3000; i++ {
		code.WriteString("fmt.Println(\"line\")\n")
	}
	text := "Here is the program:\n```go\n" + code.String() + "```\nThat is all."
	got := Split(text)
	if len(got) < 2 {
		t.Fatalf("got %d parts, want at least 2", len(got))
	}
	if !strings.HasSuffix(got[0], "\n```") {
		t.Errorf("first part does not close the code block: ends %q", tail(got[0]))
	}
	if !strings.HasPrefix(got[1], "```go\n") {
		t.Errorf("second part does not reopen the block with its language: starts %q", got[1][:20])
	}
	for i, p := range got {
		if n := utf8.RuneCountInString(p); n > DiscordLimit {
			t.Errorf("part %d has %d runes", i, n)
		}
		if (fence{}).scan(p).open {
			t.Errorf("part %d leaves a code block open", i)
		}
	}
	if !strings.HasSuffix(got[len(got)-1], "That is all.") {
		t.Errorf("last part lost the closing prose: %q", tail(got[len(got)-1]))
	}
}

func TestSplitMovesWholeCodeBlockToNextPart(t *testing.T) {
	prose := words(1500)
	block := "```python\n" + strings.Repeat("print('hello')\n", 50) + "```"
	text := prose + "\n" + block
	got := Split(text)
	want := []string{prose + "\n", block}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got parts of %v runes, want the prose, then the whole block %v", runeCounts(got), runeCounts(want))
	}
}

func TestSplitClosesUnclosedFenceAtEnd(t *testing.T) {
	// A model cut off mid-answer leaves a block open; the part must still render as code.
	got := Split("look:\n```js\nlet a = 1;")
	want := []string{"look:\n```js\nlet a = 1;\n```"}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSplitLimitIsRaisedToMinimum(t *testing.T) {
	got := SplitLimit(strings.Repeat("y", 130), 1)
	if len(got) != 3 || utf8.RuneCountInString(got[0]) != MinLimit {
		t.Fatalf("limit 1: got parts of %v runes, want [64 64 2]", runeCounts(got))
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world", uint16(0))
	f.Add(words(5000), uint16(1936))
	f.Add("a\n\n```go\nfunc main() {}\n```\n\ntext "+strings.Repeat("long line of code\n", 40), uint16(20))
	f.Add("```\n"+strings.Repeat("x", 300)+"\n```", uint16(0))
	f.Add("  ```py\n````\n```\n```inline```\n```", uint16(3))
	f.Add(strings.Repeat("`", 500), uint16(5))
	f.Add(strings.Repeat("😀 ", 300)+"\xff\xfe", uint16(40))
	f.Fuzz(func(t *testing.T, text string, extra uint16) {
		limit := MinLimit + int(extra%2000)
		parts := splitParts(text, limit)
		var joined strings.Builder
		for i, p := range parts {
			s := p.String()
			if n := utf8.RuneCountInString(s); n > limit {
				t.Fatalf("part %d has %d runes, limit %d", i, n, limit)
			}
			if p.Body == "" {
				t.Fatalf("part %d has an empty body", i)
			}
			if p.Prefix != "" && (!strings.HasPrefix(p.Prefix, "```") || !strings.HasSuffix(p.Prefix, "\n") ||
				strings.Count(p.Prefix, "\n") != 1) {
				t.Fatalf("part %d: prefix %q is not a fence line", i, p.Prefix)
			}
			if p.Suffix != "" && p.Suffix != "```" && p.Suffix != "\n```" {
				t.Fatalf("part %d: suffix %q is not a fence line", i, p.Suffix)
			}
			if (fence{}).scan(s).open {
				t.Fatalf("part %d leaves a code block open: %q", i, s)
			}
			joined.WriteString(p.Body)
		}
		if joined.String() != text {
			t.Fatalf("joined bodies differ from the input")
		}
		if strs := SplitLimit(text, limit); len(strs) != len(parts) {
			t.Fatalf("SplitLimit gave %d parts, splitParts %d", len(strs), len(parts))
		}
	})
}

func runeCounts(parts []string) []int {
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i] = utf8.RuneCountInString(p)
	}
	return out
}

func tail(s string) string {
	if len(s) > 20 {
		return s[len(s)-20:]
	}
	return s
}

// BenchmarkSplit measures splitting a long model reply (about 10,000 characters of prose with a
// code block) into Discord messages. Results are recorded in docs/performance.md.
func BenchmarkSplit(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 6000 {
		sb.WriteString("This is a sentence of an ordinary answer, with a few words in it. ")
		if sb.Len()%700 < 70 {
			sb.WriteString("\n\n")
		}
	}
	sb.WriteString("\n```go\n")
	for sb.Len() < 10000 {
		sb.WriteString("\tfmt.Println(\"a line of code\")\n")
	}
	sb.WriteString("```\nDone.")
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Split(text)
	}
}
