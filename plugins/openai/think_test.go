//go:build !wasip1

package main

import "testing"

// However a stream cuts the text into pieces, the user sees the same reply
// and the reasoning lands in the same place.
func TestThinkSplitterAnyChunking(t *testing.T) {
	cases := []struct{ in, visible, thought string }{
		{"<think>plan</think>\n\nAnswer <i>x</i> < 3", "Answer <i>x</i> < 3", "plan"},
		{"Sure.<thinking>hmm</thinking> More.", "Sure. More.", "hmm"},
		{"<scratchpad>a</scratchpad><reasoning>b</reasoning>ok", "ok", "ab"},
		{"no tags at all <thin", "no tags at all <thin", ""},
		{"<think>cut off by max_tokens", "", "cut off by max_tokens"},
		{"Grüße ✓ <think>ü</think>ß", "Grüße ✓ ß", "ü"},
	}
	for _, c := range cases {
		for i := 0; i <= len(c.in); i++ {
			for j := i; j <= len(c.in); j++ {
				var ts thinkSplitter
				var shown, thought string
				for _, piece := range []string{c.in[:i], c.in[i:j], c.in[j:]} {
					v, th := ts.feed(piece)
					shown, thought = shown+v, thought+th
				}
				v, th := ts.flush()
				shown, thought = shown+v, thought+th
				if shown != c.visible || thought != c.thought || ts.visible.String() != c.visible {
					t.Fatalf("%q split at %d,%d: shown %q thought %q; want %q and %q", c.in, i, j, shown, thought, c.visible, c.thought)
				}
			}
		}
	}
}
