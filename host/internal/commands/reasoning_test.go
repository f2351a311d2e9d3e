package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// postedReply records, as the chat pipeline does after posting, a reply of
// personality pid to asker made of the messages ids (in order), with
// reasoning when it is not empty. It returns the messages as Discord would
// resolve them for a message command.
func (e *env) postedReply(asker discordfake.User, pid int64, reqID, reasoning string, ids ...string) []discordfake.MessageSpec {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.UserByDiscordID(ctx, asker.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := store.ReplyRecord{}
	var msgs []discordfake.MessageSpec
	for _, id := range ids {
		rec.Messages = append(rec.Messages, store.WebhookMessage{MessageID: id, PersonalityID: pid, ChannelID: e.channel, UserID: u.ID})
		msgs = append(msgs, discordfake.MessageSpec{ID: id, ChannelID: e.channel, GuildID: e.guildID,
			Author: discordfake.User{ID: "730000000000000001", Username: "Sage", Bot: true}, WebhookID: "730000000000000001",
			Content: "part of the reply"})
	}
	if reasoning != "" {
		rec.Reasoning = &store.Reasoning{RequestID: reqID, UserID: u.ID, PersonalityID: pid, MessageID: ids[0], Text: reasoning}
	}
	if err := e.store.RecordReplies(ctx, []store.ReplyRecord{rec}); err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// showReasoning runs the "Show reasoning" message command as u on target.
func (e *env) showReasoning(u discordfake.User, target discordfake.MessageSpec) (answer, discordfake.InteractionSpec) {
	e.t.Helper()
	in := e.spec(u)
	return e.inject(in, discordfake.MessageCommand(in, "Show reasoning", target)), in
}

func TestShowReasoning(t *testing.T) {
	e := newEnv(t)
	owner, asker, other := e.user(), e.user(), e.user()
	pid := e.create(owner, "sage", "Sage")
	const thought = "The user asks about tides. The moon's pull matters most; @everyone should not be pinged by this."
	reply := e.postedReply(asker, pid, "req-tides", thought, e.discord.NewID(), e.discord.NewID(), e.discord.NewID())
	plain := e.postedReply(asker, pid, "req-plain", "", e.discord.NewID())
	before := e.snapshot()

	t.Run("the asker sees it, ephemerally", func(t *testing.T) {
		e := e.in(t)
		a, _ := e.showReasoning(asker, reply[0])
		mustSay(t, a, "Reasoning behind this reply", "only you can see this", thought)
	})
	t.Run("from the second message of a multi-part reply", func(t *testing.T) {
		e := e.in(t)
		a, _ := e.showReasoning(asker, reply[1])
		mustSay(t, a, thought)
		a, _ = e.showReasoning(asker, reply[2])
		mustSay(t, a, thought)
	})
	t.Run("anyone else is refused without a word of it", func(t *testing.T) {
		e := e.in(t)
		for _, u := range []discordfake.User{other, owner, {ID: ownerID, Username: "botowner"}} {
			for _, m := range reply {
				a, _ := e.showReasoning(u, m)
				mustSay(t, a, "Only the person this reply answered can see its reasoning.")
				if strings.Contains(a.Content, "tides") {
					t.Errorf("%s saw the reasoning: %q", u.Username, a.Content)
				}
			}
		}
	})
	t.Run("a reply without reasoning", func(t *testing.T) {
		e := e.in(t)
		a, _ := e.showReasoning(asker, plain[0])
		mustSay(t, a, "This reply has no stored reasoning.")
		// Any other message (a user's, or one from before the bot): the same.
		a, _ = e.showReasoning(other, discordfake.MessageSpec{ID: e.discord.NewID(), ChannelID: e.channel, GuildID: e.guildID,
			Author: other, Content: "hello"})
		mustSay(t, a, "This reply has no stored reasoning.")
	})
	// Reading reasoning writes nothing, not even a user row for a stranger
	// beyond what was there.
	e.unchanged(before)
	if ch := e.discord.Messages(e.channel); len(ch) != 0 {
		t.Errorf("something was posted to the channel: %+v", ch)
	}
	e.discord.AssertMentionsSafe(t)
}

func TestShowReasoningTooLongForAMessageIsAttached(t *testing.T) {
	e := newEnv(t)
	owner, asker := e.user(), e.user()
	pid := e.create(owner, "deep", "Deep")
	var b strings.Builder
	for i := 0; b.Len() < 9000; i++ {
		b.WriteString("Step: weigh the next consideration carefully before answering. ")
	}
	long := strings.TrimSpace(b.String())
	reply := e.postedReply(asker, pid, "req-long", long, e.discord.NewID(), e.discord.NewID())
	before := e.snapshot()

	a, in := e.showReasoning(asker, reply[1])
	mustSay(t, a, "Reasoning behind this reply", "reasoning.txt")
	if len([]rune(a.Content)) > 2000 {
		t.Errorf("answer is %d characters, over Discord's 2,000", len([]rune(a.Content)))
	}
	m, ok := e.discord.Original(in.Token)
	if !ok || len(m.Files) != 1 {
		t.Fatalf("want the reasoning attached as one file, got %+v", m.Files)
	}
	if f := m.Files[0]; f.Name != "reasoning.txt" || strings.TrimSpace(string(f.Data)) != long {
		t.Errorf("attached %q (%d bytes), want reasoning.txt with the whole reasoning (%d bytes)", f.Name, len(f.Data), len(long))
	}
	e.unchanged(before)
	e.discord.AssertMentionsSafe(t)
}
