package main

import "strings"

// Inline reasoning tags some models write into their content. Their
// insides go to ChatResponse.Reasoning and are never shown as the reply.
var thinkTags = []string{"think", "thinking", "reasoning", "scratchpad"}

// thinkSplitter separates <think>…</think>-style blocks from visible text,
// fed piece by piece as a stream arrives: a tag split across two pieces is
// held back until it is complete, so no half tag is ever shown.
type thinkSplitter struct {
	visible strings.Builder // all visible text so far
	pending string          // held back: may be the start of a tag
	inside  string          // the open tag's name, "" when outside
	started bool            // visible text has begun (leading space is trimmed)
}

// feed takes the next piece and returns the text that became visible and
// the reasoning text that was found.
func (t *thinkSplitter) feed(s string) (visible, thought string) {
	buf := t.pending + s
	t.pending = ""
	var vis, th strings.Builder
	for buf != "" {
		if t.inside != "" {
			closeTag := "</" + t.inside + ">"
			if i := strings.Index(buf, closeTag); i >= 0 {
				th.WriteString(buf[:i])
				buf = buf[i+len(closeTag):]
				t.inside = ""
				continue
			}
			keep := partialSuffix(buf, []string{closeTag})
			th.WriteString(buf[:len(buf)-keep])
			t.pending = buf[len(buf)-keep:]
			break
		}
		i := strings.IndexByte(buf, '<')
		if i < 0 {
			vis.WriteString(buf)
			break
		}
		vis.WriteString(buf[:i])
		buf = buf[i:]
		if tag, ok := openTag(buf); ok {
			t.inside = tag
			buf = buf[len(tag)+2:]
			continue
		}
		if isOpenTagPrefix(buf) {
			t.pending = buf
			break
		}
		vis.WriteByte('<')
		buf = buf[1:]
	}
	return t.show(vis.String()), th.String()
}

// flush ends the text: a held-back piece is visible after all, and an
// unclosed block (the model ran out of tokens while thinking) is reasoning.
func (t *thinkSplitter) flush() (visible, thought string) {
	p := t.pending
	t.pending = ""
	if t.inside != "" {
		return "", p
	}
	return t.show(p), ""
}

// show records visible text, dropping the whitespace that usually follows
// a leading </think>.
func (t *thinkSplitter) show(s string) string {
	if !t.started {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return ""
		}
		t.started = true
	}
	t.visible.WriteString(s)
	return s
}

func openTag(buf string) (string, bool) {
	for _, tag := range thinkTags {
		if strings.HasPrefix(buf, "<"+tag+">") {
			return tag, true
		}
	}
	return "", false
}

func isOpenTagPrefix(buf string) bool {
	for _, tag := range thinkTags {
		if strings.HasPrefix("<"+tag+">", buf) {
			return true
		}
	}
	return false
}

// partialSuffix is the length of the longest end of buf that is a proper
// start of one of tags (a tag that may complete in the next piece).
func partialSuffix(buf string, tags []string) int {
	best := 0
	for _, tag := range tags {
		for n := min(len(tag)-1, len(buf)); n > best; n-- {
			if strings.HasSuffix(buf, tag[:n]) {
				best = n
				break
			}
		}
	}
	return best
}
