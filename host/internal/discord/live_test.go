package discord

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chunk"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// liveBot is a bot whose live replies update at once (no 1 s interval), so
// the tests are paced by events, not the clock.
func liveBot(t *testing.T, fakeOpts ...discordfake.Option) (*testBot, *Sender, discordfake.Channel) {
	t.Helper()
	fake := discordfake.New(t, fakeOpts...)
	tb := newTestBotWith(t, fake, nopHandler(),
		WithLiveEdits(LiveEdits{Interval: time.Millisecond, PerWebhook: 5, Window: 2 * time.Second}),
		WithSendRetry(SendRetry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 2 * time.Second}))
	return tb, tb.NewSender(NewMemoryWebhookStore()), fake.AddTextChannel(guildID)
}

func (tb *testBot) webhookMessages(channel string) []discordfake.Message {
	var out []discordfake.Message
	for _, m := range tb.fake.Messages(channel) {
		if m.WebhookID != "" {
			out = append(out, m)
		}
	}
	return out
}

func TestLiveReplyPostsEditsAndFinishesExact(t *testing.T) {
	tb, s, ch := liveBot(t)
	ctx := context.Background()
	live, err := s.StartLive(ctx, ch.ID, "", "Bambi", "https://example.com/b.png")
	if err != nil {
		t.Fatal(err)
	}
	if live.Shown() {
		t.Fatal("shown before any text")
	}
	live.Update("Hello")
	eventually(t, "the first text to be posted", func() bool { return len(tb.webhookMessages(ch.ID)) == 1 })
	live.Update("Hello there, ")
	eventually(t, "the edit", func() bool {
		m := tb.webhookMessages(ch.ID)
		return len(m) == 1 && m[0].Content == "Hello there, "
	})
	ids, err := live.Finish(ctx, "Hello there, friend.", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.webhookMessages(ch.ID)
	if len(ids) != 1 || len(msgs) != 1 || msgs[0].ID != ids[0] || msgs[0].Content != "Hello there, friend." || msgs[0].AuthorName != "Bambi" {
		t.Fatalf("ids %v, messages %+v", ids, msgs)
	}
	for _, b := range tb.fake.MessageBodies() {
		if b.AllowedMentions == "" {
			t.Errorf("%s without allowed_mentions", b.Route)
		}
	}
}

func TestLiveReplyNeverShownIsPostedWhole(t *testing.T) {
	tb, s, ch := liveBot(t)
	live, err := s.StartLive(context.Background(), ch.ID, "", "Bambi", "")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := live.Finish(context.Background(), "All at once.", nil)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	if n := len(tb.fake.RequestsTo(discordfake.RouteEditWebhookMessage)); n != 0 {
		t.Errorf("%d edits for a reply never shown", n)
	}
}

func TestLiveReplyRepostsADeletedPartAndRetriesA5xxEdit(t *testing.T) {
	tb, s, ch := liveBot(t)
	ctx := context.Background()
	live, err := s.StartLive(ctx, ch.ID, "", "Bambi", "")
	if err != nil {
		t.Fatal(err)
	}
	live.Update("First words")
	eventually(t, "the first text", func() bool { return len(tb.webhookMessages(ch.ID)) == 1 })
	live.Stop()
	first := tb.webhookMessages(ch.ID)[0]

	// A 502 on the final edit is retried (an edit is idempotent).
	tb.fake.FailNext(discordfake.RouteEditWebhookMessage, 1, discordfake.Failure{Status: http.StatusBadGateway})
	ids, err := live.Finish(ctx, "First words, then more.", nil)
	if err != nil || len(ids) != 1 || ids[0] != first.ID {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	if m := tb.webhookMessages(ch.ID); len(m) != 1 || m[0].Content != "First words, then more." {
		t.Fatalf("messages %+v", m)
	}

	// A part a moderator deleted while it was written is posted again.
	live2, _ := s.StartLive(ctx, ch.ID, "", "Rose", "")
	live2.Update("Soon deleted")
	eventually(t, "the second reply", func() bool { return len(tb.webhookMessages(ch.ID)) == 2 })
	live2.Stop()
	gone := tb.webhookMessages(ch.ID)[1]
	hook := tb.fake.Webhooks(ch.ID)[0]
	req, _ := http.NewRequest(http.MethodDelete, tb.fake.RESTURL()+"/webhooks/"+hook.ID+"/"+hook.Token+"/messages/"+gone.ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	ids, err = live2.Finish(ctx, "Soon deleted, yet here.", nil)
	if err != nil || len(ids) != 1 || ids[0] == gone.ID {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	if m := tb.webhookMessages(ch.ID); len(m) != 2 || m[1].ID != ids[0] || m[1].Content != "Soon deleted, yet here." {
		t.Fatalf("messages %+v", m)
	}
}

func TestLiveReplyGrowsIntoPartsAndShrinksBack(t *testing.T) {
	tb, s, ch := liveBot(t)
	ctx := context.Background()
	live, err := s.StartLive(ctx, ch.ID, "", "Bambi", "")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("Tea leaves unfold slowly in the warm water. ", 60) // ~2,600 characters
	live.Update(long)
	eventually(t, "two parts", func() bool { return len(tb.webhookMessages(ch.ID)) == 2 })
	// The final answer is shorter than what was streamed (the final
	// ChatResponse is the truth): the surplus part goes.
	final := strings.TrimSpace(long[:900])
	ids, err := live.Finish(ctx, final, nil)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	m := tb.webhookMessages(ch.ID)
	if len(m) != 1 || m[0].Content != chunk.Split(final)[0] {
		t.Fatalf("messages %+v", m)
	}
}
