package chat

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// CharsPerToken is the estimate the context budget uses: about four
// characters per token, OpenAI's rule of thumb for English. It errs towards
// sending less for code and non-Latin text (more tokens per character), and
// the provider, not this estimate, has the final word.
const CharsPerToken = 4

// estimateTokens is the token estimate of s (rounded up; at least 1 for any
// text, plus a few for the message's own framing).
func estimateTokens(s string) int {
	return (utf8.RuneCountInString(s)+CharsPerToken-1)/CharsPerToken + 4
}

// Limits on the context of one reply.
const (
	// maxRefRunes cuts a referenced message that is very long.
	maxRefRunes = 4000
	// mentionOnlyText stands in for a message that only mentioned the
	// personality, so the model has a turn to answer.
	mentionOnlyText = "(mentioned you without saying anything else)"
)

// messageLink matches links to Discord messages: guild (or @me), channel,
// message.
var messageLink = regexp.MustCompile(`https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d+|@me)/(\d+)/(\d+)`)

// link is a Discord message link found in text.
type link struct{ guildID, channelID, messageID string }

func findLinks(text string, max int) []link {
	var out []link
	seen := map[string]bool{}
	for _, m := range messageLink.FindAllStringSubmatch(text, -1) {
		if len(out) >= max {
			break
		}
		if seen[m[3]] {
			continue
		}
		seen[m[3]] = true
		g := m[1]
		if g == "@me" {
			g = ""
		}
		out = append(out, link{guildID: g, channelID: m[2], messageID: m[3]})
	}
	return out
}

// reference is a message the user pointed at (a reply or a link).
type reference struct {
	how  string // "replied to", "linked"
	msg  Message
	note string // set instead of msg when it could not be read
}

// promptInput is everything the context of one reply is built from.
type promptInput struct {
	personality store.Personality
	user        store.User
	msg         Message
	content     string // the message text, mentions stripped
	now         time.Time
	history     []Message // oldest first
	refs        []reference
	budget      int // tokens for the whole prompt
	// memory is what the personality remembers and knows for this reply,
	// already cut to its own budget (host/internal/memory).
	memory memory.Blocks
}

// personalityName is the name a personality speaks under.
func personalityName(p store.Personality) string {
	if n := strings.TrimSpace(p.DisplayName); n != "" {
		return n
	}
	return p.Name
}

// systemPrompt is the personality's prompt fields, what it remembers and
// knows (memory, already rendered), and the current time in the user's
// zone; the instructions about the conversation stay last.
func systemPrompt(p store.Personality, user store.User, userName string, now time.Time, memory string) string {
	var b strings.Builder
	name := personalityName(p)
	if s := strings.TrimSpace(p.SystemPrompt); s != "" {
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "You are %s, talking with people on Discord.", name)
	fields := []struct{ label, value string }{
		{"Character", p.CharacterInfo},
		{"Personality traits", p.Traits},
		{"Tone", p.Tone},
		{"Age", p.Age},
		{"Appearance", p.Appearance},
		{"Likes", p.Likes},
		{"Dislikes", p.Dislikes},
		{"Conversational goals", p.ConversationalGoals},
		{"Conversational examples", p.ConversationalExamples},
	}
	if bd := birthday(p); bd != "" {
		fields = append(fields, struct{ label, value string }{"Birthday", bd})
	}
	for _, f := range fields {
		if v := strings.TrimSpace(f.value); v != "" {
			fmt.Fprintf(&b, "\n\n## %s\n%s", f.label, v)
		}
	}
	b.WriteString(memory)
	loc := user.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	fmt.Fprintf(&b, "\n\n## Now\nFor %s it is %s (time zone %s).", userName, local.Format("Monday, 2 January 2006, 15:04 MST"), loc.String())
	b.WriteString("\nMessages from people start with their name and a colon; reply with your message only, without a name in front.")
	return b.String()
}

func birthday(p store.Personality) string {
	if p.BirthMonth == nil {
		return ""
	}
	m := time.Month(*p.BirthMonth).String()
	switch {
	case p.BirthDay != nil && p.BirthYear != nil:
		return fmt.Sprintf("%d %s %d", *p.BirthDay, m, *p.BirthYear)
	case p.BirthDay != nil:
		return fmt.Sprintf("%d %s", *p.BirthDay, m)
	case p.BirthYear != nil:
		return fmt.Sprintf("%s %d", m, *p.BirthYear)
	}
	return m
}

// describeAttachments lists attachments by type, name and URL: the model
// cannot open them, but knows they are there.
func describeAttachments(atts []Attachment) string {
	var b strings.Builder
	for _, a := range atts {
		kind := a.ContentType
		if kind == "" {
			kind = "file"
		}
		fmt.Fprintf(&b, "\n[attachment: %s %q %s]", kind, a.Name, a.URL)
	}
	return b.String()
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// isOwnMessage reports whether a history message was posted by this
// personality (through a webhook under its name, or as the bot in DMs).
func isOwnMessage(m Message, name, botUserID string, dm bool) bool {
	if m.WebhookID != "" {
		return m.Author.Username == name || m.Author.DisplayName == name
	}
	return dm && botUserID != "" && m.Author.ID == botUserID && strings.HasPrefix(m.Content, dmPrefix(name))
}

// speaker is how a message's author is named in the context.
func speaker(u Author) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	if u.Username != "" {
		return u.Username
	}
	return "someone"
}

// buildMessages turns the input into the chat request's messages: the
// system prompt, as much recent history as the token budget leaves (newest
// kept first), and the user's message with its references, attachments and
// notes. The system prompt and the user's message are always sent whole.
func buildMessages(in promptInput, botUserID string) []abi.Message {
	name := personalityName(in.personality)
	userName := speaker(in.msg.Author)
	system := systemPrompt(in.personality, in.user, userName, in.now, memorySections(in.memory, name, userName))

	var last strings.Builder
	fmt.Fprintf(&last, "%s: %s", userName, in.content)
	last.WriteString(describeAttachments(in.msg.Attachments))
	used := estimateTokens(system) + estimateTokens(last.String())

	// References, in order, while they fit.
	var refText strings.Builder
	for _, r := range in.refs {
		var s string
		if r.note != "" {
			s = fmt.Sprintf("\n[note: %s]", r.note)
		} else {
			s = fmt.Sprintf("\n[message %s, from %s]: %s%s", r.how, speaker(r.msg.Author),
				truncateRunes(r.msg.Content, maxRefRunes), describeAttachments(r.msg.Attachments))
		}
		t := estimateTokens(s)
		if used+t > in.budget && r.note == "" {
			refText.WriteString("\n[note: a referenced message was left out to stay within the context budget]")
			continue
		}
		used += t
		refText.WriteString(s)
	}
	if refText.Len() > 0 {
		last.WriteString("\n")
		last.WriteString(strings.TrimPrefix(refText.String(), "\n"))
	}

	// History, newest first, while it fits.
	dm := in.msg.IsDM()
	var hist []abi.Message
	for i := len(in.history) - 1; i >= 0; i-- {
		h := in.history[i]
		text := strings.TrimSpace(h.Content) + describeAttachments(h.Attachments)
		if strings.TrimSpace(text) == "" {
			continue
		}
		var m abi.Message
		if isOwnMessage(h, name, botUserID, dm) {
			m = abi.Message{Role: abi.RoleAssistant, Content: strings.TrimPrefix(text, dmPrefix(name))}
		} else {
			m = abi.Message{Role: abi.RoleUser, Content: speaker(h.Author) + ": " + text}
		}
		t := estimateTokens(m.Content)
		if used+t > in.budget {
			break
		}
		used += t
		hist = append(hist, m)
	}

	out := make([]abi.Message, 0, len(hist)+2)
	out = append(out, abi.Message{Role: abi.RoleSystem, Content: system})
	for i := len(hist) - 1; i >= 0; i-- {
		out = append(out, hist[i])
	}
	out = append(out, abi.Message{Role: abi.RoleUser, Content: last.String()})
	return out
}

// memorySections renders retrieval's blocks for the system prompt, each
// under its own heading so the model can tell what the user said about
// themselves from what it knows and what it remembers. Empty blocks are
// left out. Memory text is data, not instructions: each memory is one
// quoted line (a newline in it cannot start a heading of its own).
func memorySections(b memory.Blocks, name, userName string) string {
	if b.Empty() {
		return ""
	}
	var s strings.Builder
	if b.Persona != nil {
		fmt.Fprintf(&s, "\n\n## About the person you are talking to\nWhat %s says about themselves:\n%s", userName, strings.TrimSpace(b.Persona.Content))
	}
	if len(b.Knowledge) > 0 {
		s.WriteString("\n\n## Things you know")
		for _, k := range b.Knowledge {
			if t := strings.TrimSpace(k.Title); t != "" {
				fmt.Fprintf(&s, "\n### %s\n%s", oneLine(t), strings.TrimSpace(k.Content))
			} else {
				fmt.Fprintf(&s, "\n- %s", strings.TrimSpace(k.Content))
			}
		}
	}
	if len(b.Memories) > 0 {
		fmt.Fprintf(&s, "\n\n## What you remember about %s\nFrom earlier conversations (most relevant first):", userName)
		for _, m := range b.Memories {
			if m.RememberedAt.IsZero() {
				fmt.Fprintf(&s, "\n- %s", oneLine(m.Content))
			} else {
				fmt.Fprintf(&s, "\n- (%s) %s", m.RememberedAt.UTC().Format("2 Jan 2006"), oneLine(m.Content))
			}
		}
	}
	if len(b.Examples) > 0 {
		fmt.Fprintf(&s, "\n\n## Example dialogue\nHow %s talks (examples, not part of this conversation):", name)
		for _, e := range b.Examples {
			fmt.Fprintf(&s, "\nUser: %s\n%s: %s", oneLine(e.User), name, oneLine(e.Character))
		}
	}
	return s.String()
}

// oneLine folds whitespace runs (newlines included) into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
