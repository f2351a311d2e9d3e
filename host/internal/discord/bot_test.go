package discord

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

const guildID = "500000000000000001"

var alice = discordfake.User{ID: "600000000000000001", Username: "alice", GlobalName: "Alice A."}

func TestGuildMessageBecomesAPipelineMessage(t *testing.T) {
	rec := newRecorder()
	tb := newTestBot(t, rec)
	ch := tb.fake.AddTextChannel(guildID)
	att := tb.fake.AddCDNFile("cat.png", "image/png", []byte("png bytes"))
	bob := discordfake.User{ID: "600000000000000002", Username: "bob"}

	raw := tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Nick: "Ally",
		Content: "@bambi look at this, <@600000000000000002>", Mentions: []discordfake.User{bob},
		Attachments: []discordfake.Attachment{att}})
	tb.inject(t, raw)
	m := rec.next(t)

	if m.ChannelID != ch.ID || m.GuildID != guildID || m.IsDM() {
		t.Errorf("channel %q guild %q", m.ChannelID, m.GuildID)
	}
	if m.Author.ID != alice.ID || m.Author.Username != "alice" || m.Author.DisplayName != "Ally" || m.Author.Bot {
		t.Errorf("author %+v, want alice shown by her nickname", m.Author)
	}
	if m.Content != "@bambi look at this, <@600000000000000002>" {
		t.Errorf("content %q", m.Content)
	}
	if len(m.Mentions) != 1 || m.Mentions[0].ID != bob.ID {
		t.Errorf("mentions %+v", m.Mentions)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "image/png" || m.Attachments[0].Name != "cat.png" || m.Attachments[0].URL != att.URL {
		t.Errorf("attachments %+v", m.Attachments)
	}
	if m.ThreadParentID != "" || m.Reference != nil || m.WebhookID != "" {
		t.Errorf("plain channel message has thread %q reference %+v webhook %q", m.ThreadParentID, m.Reference, m.WebhookID)
	}
	if m.CreatedAt.IsZero() {
		t.Error("no creation time")
	}
}

func TestThreadMessageKnowsItsParent(t *testing.T) {
	rec := newRecorder()
	tb := newTestBot(t, rec)
	parent := tb.fake.AddTextChannel(guildID)
	thread := tb.fake.AddThread(parent)
	for range 2 {
		tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: thread.ID, GuildID: guildID, Author: alice, Content: "hi"}))
		if m := rec.next(t); m.ThreadParentID != parent.ID {
			t.Fatalf("thread parent %q, want %q", m.ThreadParentID, parent.ID)
		}
	}
	// The second message is answered from the channel cache.
	if n := len(tb.fake.RequestsTo(discordfake.RouteGetChannel)); n != 1 {
		t.Errorf("%d channel lookups for two messages in one thread, want 1", n)
	}
}

func TestDirectMessage(t *testing.T) {
	rec := newRecorder()
	tb := newTestBot(t, rec)
	dm := tb.fake.AddChannel(discordfake.Channel{Type: discordfake.ChannelDM, Recipient: alice.ID})
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: dm.ID, Author: alice, Content: "psst"}))
	m := rec.next(t)
	if !m.IsDM() || m.ThreadParentID != "" || m.Author.DisplayName != "Alice A." {
		t.Errorf("DM: guild %q thread %q display %q", m.GuildID, m.ThreadParentID, m.Author.DisplayName)
	}
	if n := len(tb.fake.RequestsTo(discordfake.RouteGetChannel)); n != 0 {
		t.Errorf("%d channel lookups for a DM", n)
	}
}

func TestReplyReference(t *testing.T) {
	rec := newRecorder()
	tb := newTestBot(t, rec)
	ch := tb.fake.AddTextChannel(guildID)
	hook := tb.fake.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: guildID, Name: "Tzurot", ApplicationID: tb.fake.AppID})

	// A personality's message, posted through the webhook.
	var personaMsg string
	{
		raw := tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, WebhookID: hook.ID,
			Author: discordfake.User{ID: hook.ID, Username: "Bambi", Bot: true}, Content: "hello, I am Bambi"})
		tb.inject(t, raw)
		personaMsg = rec.next(t).ID
	}

	t.Run("included by Discord", func(t *testing.T) {
		tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice,
			Content: "hi Bambi", ReplyToID: personaMsg}))
		m := rec.next(t)
		if m.Reference == nil || m.Reference.ID != personaMsg || m.Reference.WebhookID != hook.ID || m.Reference.Content != "hello, I am Bambi" {
			t.Fatalf("reference %+v", m.Reference)
		}
	})

	t.Run("fetched when Discord leaves it out", func(t *testing.T) {
		before := len(tb.fake.RequestsTo(discordfake.RouteGetMessage))
		raw := discordfake.MessageCreate(discordfake.MessageSpec{ID: tb.fake.NewID(), ChannelID: ch.ID, GuildID: guildID,
			Author: alice, Content: "again", ReplyToID: personaMsg})
		tb.inject(t, raw)
		m := rec.next(t)
		if m.Reference == nil || m.Reference.WebhookID != hook.ID || m.Reference.Author.ID != hook.ID {
			t.Fatalf("reference %+v", m.Reference)
		}
		if n := len(tb.fake.RequestsTo(discordfake.RouteGetMessage)) - before; n != 1 {
			t.Errorf("%d message fetches, want 1", n)
		}
	})

	t.Run("unreadable", func(t *testing.T) {
		tb.fake.SetUnreadable(ch.ID, true)
		defer tb.fake.SetUnreadable(ch.ID, false)
		raw := discordfake.MessageCreate(discordfake.MessageSpec{ID: tb.fake.NewID(), ChannelID: ch.ID, GuildID: guildID,
			Author: alice, Content: "can you see it?", ReplyToID: personaMsg})
		tb.inject(t, raw)
		m := rec.next(t)
		if m.Reference == nil || m.Reference.ID != personaMsg || m.Reference.Author.ID != "" || m.Reference.WebhookID != "" {
			t.Fatalf("reference %+v, want only the id", m.Reference)
		}
	})
}

// TestHandlersDoNotBlockDelivery: a handler that never returns must not stop the next events.
func TestHandlersDoNotBlockDelivery(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	h := HandlerFunc(func(ctx context.Context, m message.Message) {
		started.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	tb := newTestBot(t, h, WithWorkers(3))
	ch := tb.fake.AddTextChannel(guildID)
	for range 3 {
		// Inject returns only when disgo's listeners return: if the handler ran inline, the
		// second injection would never start.
		tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "x"}))
	}
	eventually(t, "three handlers running at once", func() bool { return started.Load() == 3 })
	close(release)
}

func TestOverflowingEventsAreDropped(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, m message.Message) {
		<-release
		handled.Add(1)
	})
	tb := newTestBot(t, h, WithWorkers(1), WithMaxPending(2))
	ch := tb.fake.AddTextChannel(guildID)
	for range 3 {
		tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "x"}))
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 2 {
		t.Fatalf("%d handled, want 2 (the third waited behind a full queue and was dropped)", handled.Load())
	}
	if !strings.Contains(tb.logs.String(), "event dropped") {
		t.Error("dropping an event was not logged")
	}
}

// TestShutdownDrainsHandlers: a handler still working when shutdown starts finishes, and can
// still post its reply (REST closes only after the drain).
func TestShutdownDrainsHandlers(t *testing.T) {
	release := make(chan struct{})
	var sender *Sender
	var ids []string
	var sendErr error
	var calls atomic.Int32
	done := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, m message.Message) {
		if calls.Add(1) > 1 {
			return
		}
		defer close(done)
		<-release
		ids, sendErr = sender.SendAsPersonality(ctx, m.ChannelID, "", "Bambi", "", "finishing my thought")
	})
	tb := newTestBot(t, h)
	sender = tb.NewSender(NewMemoryWebhookStore())
	ch := tb.fake.AddTextChannel(guildID)
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "x"}))

	// Not eventually: this goroutine is not the test's, and Fatal here would leave the handler
	// blocked and the test running on. The handler is released whatever happens, and the outcome
	// is reported on the test's goroutine.
	waited := make(chan error, 1)
	go func() {
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), hungTest)
		defer cancel()
		waited <- waitFor(ctx, "shutdown to start", func() bool {
			tb.mu.Lock()
			defer tb.mu.Unlock()
			return tb.shutdown
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdownErr := tb.Shutdown(ctx)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if shutdownErr != nil {
		t.Fatalf("Shutdown: %v", shutdownErr)
	}
	select {
	case <-done:
	default:
		t.Fatal("Shutdown returned before the handler finished")
	}
	if sendErr != nil || len(ids) != 1 {
		t.Fatalf("reply during drain: ids %v err %v", ids, sendErr)
	}
	if msgs := tb.fake.Messages(ch.ID); len(msgs) != 2 || msgs[1].Content != "finishing my thought" {
		t.Fatalf("messages %+v", msgs)
	}

	// After shutdown, events are dropped (submission is synchronous, so no wait is needed).
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "late"}))
	if calls.Load() != 1 {
		t.Fatalf("a message injected after shutdown reached the handler")
	}
}

func TestShutdownDeadlineCancelsStuckHandlers(t *testing.T) {
	started, sawCancel := make(chan struct{}), make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, m message.Message) {
		close(started)
		<-ctx.Done()
		close(sawCancel)
	})
	tb := newTestBot(t, h)
	ch := tb.fake.AddTextChannel(guildID)
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "x"}))
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has already passed
	err := tb.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 event handlers were still running") {
		t.Fatalf("Shutdown error %v, want it to report the abandoned handler", err)
	}
	<-sawCancel
}

func TestPanickingHandlerDoesNotKillTheBot(t *testing.T) {
	got := make(chan string, 2)
	h := HandlerFunc(func(ctx context.Context, m message.Message) {
		if m.Content == "first" {
			panic("boom")
		}
		got <- m.Content
	})
	tb := newTestBot(t, h, WithWorkers(1))
	ch := tb.fake.AddTextChannel(guildID)
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "first"}))
	tb.inject(t, tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "second"}))
	if c := <-got; c != "second" {
		t.Fatalf("got %q", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil { // drain, so the panicking handler has run
		t.Fatal(err)
	}
	if !strings.Contains(tb.logs.String(), "event handler panicked") {
		t.Error("the panic was not logged")
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	fake := discordfake.New(t)
	h := HandlerFunc(func(context.Context, message.Message) {})
	cases := []struct {
		name  string
		token string
		h     Handler
		opts  []Option
		want  string
	}{
		{"empty token", "  ", h, nil, "token is empty"},
		{"no handler", fake.Token, nil, nil, "handler is required"},
		{"malformed token", "not-a-token", h, []Option{WithRESTURL(fake.RESTURL())}, "check the bot token"},
		{"bad public key", fake.Token, h, []Option{WithRESTURL(fake.RESTURL()), WithHTTPInteractions("xyz")}, "64 hex characters"},
		{"zero workers", fake.Token, h, []Option{WithRESTURL(fake.RESTURL()), WithWorkers(0)}, "at least 1"},
	}
	for _, c := range cases {
		_, err := New(c.token, c.h, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// A wrong token is refused by Discord at GET /gateway... which needs no auth; the gateway
	// refuses it at IDENTIFY (see the websocket tests). Here: Discord unreachable.
	fake.FailNext(discordfake.RouteGateway, 1, discordfake.Failure{Status: 500})
	_, err := New(fake.Token, h, WithRESTURL(fake.RESTURL()))
	if err == nil || !strings.Contains(err.Error(), "Discord is reachable") {
		t.Errorf("gateway lookup failure: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), fake.Token) {
		t.Error("the error shows the bot token")
	}
}
