package chat_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

var refPattern = regexp.MustCompile(`\(ref: ([0-9A-Z]{6})\)`)

func TestMentionIsAnsweredAsThePersonality(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pid := h.personality(personalitySpec{slug: "bambi", name: "Bambi", prompt: "Speak softly.", aliases: []string{"bambi prime"}})
	h.setKey(userID)
	if err := h.store.SetTimezone(h.ctx, userID, "Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	// Earlier conversation in the channel, read back through REST as context.
	h.send(discordfake.MessageSpec{Content: "the kettle is on", Author: discordfake.User{ID: "700000000000000002", Username: "bob"}})

	h.send(discordfake.MessageSpec{Content: "@Bambi Prime what should I drink?"})

	posted := h.posted()
	if len(posted) != 1 {
		t.Fatalf("posted %d messages, want 1: %+v", len(posted), posted)
	}
	reply := posted[0]
	if reply.AuthorName != "Bambi" || reply.AvatarURL != "https://cdn.example.com/bambi.png" || reply.WebhookID == "" {
		t.Fatalf("reply not posted as the personality: %+v", reply)
	}
	if reply.Content != "echo: Alice: what should I drink?" {
		t.Fatalf("reply %q", reply.Content)
	}
	reqs := h.provider.received()
	if len(reqs) != 1 {
		t.Fatalf("provider saw %d requests", len(reqs))
	}
	req := reqs[0]
	if req.Auth != "Bearer "+userKey {
		t.Fatalf("the provider did not get the user's own key")
	}
	if req.Model != modelName {
		t.Fatalf("model %q", req.Model)
	}
	for _, want := range []string{"Speak softly.", "You are Bambi", "Bambi likes tea.", "## Tone\nwarm", "time zone Asia/Tokyo", "JST"} {
		if !strings.Contains(req.system(), want) {
			t.Errorf("system prompt lacks %q:\n%s", want, req.system())
		}
	}
	if len(req.Messages) != 3 || req.Messages[1].Content != "bob: the kettle is on" {
		t.Fatalf("history not in context: %+v", req.Messages)
	}
	if h.fake.TypingCount(h.channel.ID) == 0 {
		t.Fatal("no typing indicator while waiting for the model")
	}
	// The usage row and the message mapping are recorded.
	if n := h.usageRows(); n != 1 {
		t.Fatalf("usage rows %d", n)
	}
	var in, out int
	var provider, model string
	if err := h.store.Pool().QueryRow(h.ctx, `SELECT input_tokens, output_tokens, provider, model FROM usage_logs`).Scan(&in, &out, &provider, &model); err != nil {
		t.Fatal(err)
	}
	if in != 42 || out != 7 || provider != "openrouter" || model != modelName {
		t.Fatalf("usage %d/%d %s %s", in, out, provider, model)
	}
	if got, ok, err := h.store.PersonalityForMessage(h.ctx, reply.ID); err != nil || !ok || got != pid {
		t.Fatalf("reply not mapped to the personality: %v %v %v", got, ok, err)
	}

	// Replying to the personality's message wakes it again, with its own
	// words as the assistant's turn.
	h.send(discordfake.MessageSpec{Content: "and then?", ReplyToID: reply.ID})
	if got := len(h.posted()); got != 2 {
		t.Fatalf("a reply to the personality got %d answers in all", got-1)
	}
	req = h.provider.received()[1]
	var sawOwn bool
	for _, m := range req.Messages {
		if m.Role == "assistant" && m.Content == reply.Content {
			sawOwn = true
		}
	}
	if !sawOwn || !strings.Contains(req.last(), "[message replied to, from Bambi]: "+reply.Content) {
		t.Fatalf("reply context: %+v", req.Messages)
	}
}

func TestBotsAndWebhooksAreIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	h.activate(pid)
	h.send(discordfake.MessageSpec{Content: "@bambi beep", Author: discordfake.User{ID: "700000000000000021", Username: "otherbot", Bot: true}})
	h.send(discordfake.MessageSpec{Content: "@bambi from a webhook", WebhookID: "900000000000000001",
		Author: discordfake.User{ID: "900000000000000001", Username: "Some Integration"}})
	fromBambi := func() (out []string) {
		for _, m := range h.posted() {
			if m.AuthorName == "Bambi" {
				out = append(out, m.Content)
			}
		}
		return out
	}
	if n := h.provider.calls.Load(); n != 0 || len(fromBambi()) != 0 {
		t.Fatalf("bot or webhook messages were answered (%d provider calls)", n)
	}
	// A person in the same active channel is answered.
	h.send(discordfake.MessageSpec{Content: "hello"})
	if got := fromBambi(); len(got) != 1 || got[0] != "echo: Alice: hello" {
		t.Fatalf("answers %q", got)
	}
}

// TestAliasesAddedByAnotherProcessAreFound: a second process (here: a
// direct write to the database) adds an alias; the poll picks it up.
func TestAliasesAddedByAnotherProcessAreFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{config: func(c *chat.Config) { c.MentionPoll = 20 * time.Millisecond }})
	h.setKey(userID)
	pid := h.personality(personalitySpec{slug: "bambi"})
	if _, err := h.store.Pool().Exec(h.ctx, `INSERT INTO personality_aliases (personality_id, alias) VALUES ($1, 'fawn')`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // guards a hung test only
	for {
		if got, ok := h.pipeline.Mentions().Lookup("fawn"); ok && got == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new alias never reached the mention index")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.send(discordfake.MessageSpec{Content: "@fawn hi"})
	if p := h.posted(); len(p) != 1 || p[0].AuthorName != "Bambi" {
		t.Fatalf("posted %+v", p)
	}
}
