package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

func nopHandler() Handler { return HandlerFunc(func(context.Context, message.Message) {}) }

func TestSendAsPersonalityCreatesThenReusesWebhook(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	store := NewMemoryWebhookStore()
	s := tb.NewSender(store)
	ch := tb.fake.AddTextChannel(guildID)
	ctx := context.Background()

	ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "https://example.com/bambi.png", "Hello there!")
	if err != nil {
		t.Fatal(err)
	}
	ids2, err := s.SendAsPersonality(ctx, ch.ID, "", "Rose", "", "And hello from me.")
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 2 || len(ids) != 1 || len(ids2) != 1 || msgs[0].ID != ids[0] || msgs[1].ID != ids2[0] {
		t.Fatalf("ids %v %v, messages %+v", ids, ids2, msgs)
	}
	if msgs[0].AuthorName != "Bambi" || msgs[0].AvatarURL != "https://example.com/bambi.png" || msgs[0].Content != "Hello there!" {
		t.Errorf("first message %+v", msgs[0])
	}
	if msgs[1].AuthorName != "Rose" || msgs[1].AvatarURL != "" {
		t.Errorf("second message %+v", msgs[1])
	}
	if msgs[0].WebhookID == "" || msgs[0].WebhookID != msgs[1].WebhookID {
		t.Errorf("messages posted through webhooks %q and %q, want one shared webhook", msgs[0].WebhookID, msgs[1].WebhookID)
	}
	if n := tb.fake.WebhooksCreated(); n != 1 {
		t.Errorf("%d webhooks created, want 1", n)
	}
	if n := len(tb.fake.RequestsTo(discordfake.RouteListWebhooks)); n != 1 {
		t.Errorf("%d webhook listings, want 1 (the second send uses the store)", n)
	}
	for _, r := range tb.fake.RequestsTo(discordfake.RouteExecuteWebhook) {
		if !strings.Contains(r.Query, "wait=true") {
			t.Errorf("execute without wait=true: %q", r.Query)
		}
	}
	if !strings.Contains(msgs[0].AllowedMentions, `"parse":["users"]`) {
		t.Errorf("allowed mentions %s: personalities must not ping @everyone or roles", msgs[0].AllowedMentions)
	}
	if w, ok, _ := store.ChannelWebhook(ctx, ch.ID); !ok || w.ID != msgs[0].WebhookID {
		t.Errorf("store holds %v %v", w, ok)
	}
	tb.fake.AssertNoViolations(t)
}

func TestSendAsPersonalityReusesOnlyOurOwnWebhook(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	tb.fake.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: guildID, Name: "Other bot", ApplicationID: "222222222222222222"})
	ours := tb.fake.AddWebhook(discordfake.Webhook{ChannelID: ch.ID, GuildID: guildID, Name: "Tzurot", ApplicationID: tb.fake.AppID})
	s := tb.NewSender(NewMemoryWebhookStore())
	if _, err := s.SendAsPersonality(context.Background(), ch.ID, "", "Bambi", "", "hi"); err != nil {
		t.Fatal(err)
	}
	if msgs := tb.fake.Messages(ch.ID); len(msgs) != 1 || msgs[0].WebhookID != ours.ID {
		t.Fatalf("posted through %+v, want our existing webhook %s", msgs, ours.ID)
	}
	if tb.fake.WebhooksCreated() != 0 {
		t.Error("created a webhook although ours existed")
	}
}

func TestSendAsPersonalitySplitsLongReplies(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	var b strings.Builder
	for b.Len() < 4500 {
		b.WriteString("This sentence is part of a long answer. ")
	}
	text := b.String()
	ids, err := s.SendAsPersonality(context.Background(), ch.ID, "", "Bambi", "", text)
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(ids) != 3 || len(msgs) != 3 {
		t.Fatalf("%d ids, %d messages, want 3", len(ids), len(msgs))
	}
	var joined strings.Builder
	for i, m := range msgs {
		if m.ID != ids[i] || utf8.RuneCountInString(m.Content) > 2000 {
			t.Errorf("part %d: id %s (want %s), %d characters", i, m.ID, ids[i], utf8.RuneCountInString(m.Content))
		}
		joined.WriteString(m.Content)
	}
	if joined.String() != text {
		t.Error("the parts do not add up to the reply")
	}
	tb.fake.AssertNoViolations(t)
}

func TestSendAsPersonalityInThreadUsesParentWebhook(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	parent := tb.fake.AddTextChannel(guildID)
	thread := tb.fake.AddThread(parent)
	s := tb.NewSender(NewMemoryWebhookStore())
	ids, err := s.SendAsPersonality(context.Background(), thread.ID, parent.ID, "Bambi", "", "in the thread")
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(thread.ID)
	if len(msgs) != 1 || msgs[0].ID != ids[0] || msgs[0].ThreadID != thread.ID {
		t.Fatalf("thread messages %+v", msgs)
	}
	if hooks := tb.fake.Webhooks(parent.ID); len(hooks) != 1 || hooks[0].ID != msgs[0].WebhookID {
		t.Fatalf("parent webhooks %+v", hooks)
	}
	if len(tb.fake.Messages(parent.ID)) != 0 {
		t.Error("the reply landed in the parent channel")
	}
	tb.fake.AssertNoViolations(t)
}

func TestSendAsPersonalityRecreatesDeletedWebhook(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	ctx := context.Background()
	if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "one"); err != nil {
		t.Fatal(err)
	}
	old := tb.fake.Webhooks(ch.ID)[0]
	tb.fake.DeleteWebhook(old.ID) // a server admin cleans up

	ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "two")
	if err != nil {
		t.Fatalf("send after the webhook was deleted: %v", err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(msgs) != 2 || msgs[1].ID != ids[0] || msgs[1].Content != "two" || msgs[1].WebhookID == old.ID {
		t.Fatalf("messages %+v", msgs)
	}
	if tb.fake.WebhooksCreated() != 2 {
		t.Errorf("%d webhooks created, want 2", tb.fake.WebhooksCreated())
	}
}

func TestSendAsPersonalityConcurrentSendsShareOneWebhook(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SendAsPersonality(context.Background(), ch.ID, "", "Bambi", "", "hi")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.fake.WebhooksCreated(); n != 1 {
		t.Fatalf("%d webhooks created by 5 concurrent replies, want 1", n)
	}
	if n := len(tb.fake.Messages(ch.ID)); n != 5 {
		t.Fatalf("%d messages, want 5", n)
	}
}

func TestSendAsPersonalitySanitizesName(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	name := "Discord Clyde " + strings.Repeat("x", 100)
	if _, err := s.SendAsPersonality(context.Background(), ch.ID, "", name, "", "hi"); err != nil {
		t.Fatalf("send as %q: %v", name, err)
	}
	got := tb.fake.Messages(ch.ID)[0].AuthorName
	if utf8.RuneCountInString(got) != 80 || !strings.HasPrefix(got, "Discоrd Clydе x") {
		t.Errorf("username %q", got)
	}
	tb.fake.AssertNoViolations(t)
}

func TestSendAsPersonalityErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("empty reply", func(t *testing.T) {
		tb := newTestBot(t, nopHandler())
		ch := tb.fake.AddTextChannel(guildID)
		_, err := tb.NewSender(NewMemoryWebhookStore()).SendAsPersonality(ctx, ch.ID, "", "Bambi", "", " \n\t ")
		if !errors.Is(err, ErrEmptyReply) {
			t.Fatalf("err %v", err)
		}
		if len(tb.fake.Requests()) != 1 { // only GET /gateway at start
			t.Errorf("%d requests for an empty reply", len(tb.fake.Requests()))
		}
	})

	t.Run("no manage webhooks permission", func(t *testing.T) {
		tb := newTestBot(t, nopHandler())
		ch := tb.fake.AddChannel(discordfake.Channel{GuildID: guildID, NoManageWebhooks: true})
		_, err := tb.NewSender(NewMemoryWebhookStore()).SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "hi")
		if !errors.Is(err, message.ErrNoWebhookPermission) || !strings.Contains(err.Error(), "Manage Webhooks") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("rate limited then fine", func(t *testing.T) {
		tb := newTestBot(t, nopHandler())
		ch := tb.fake.AddTextChannel(guildID)
		s := tb.NewSender(NewMemoryWebhookStore())
		tb.fake.FailNext(discordfake.RouteExecuteWebhook, 2, discordfake.Failure{Status: 429, RetryAfter: 0})
		ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "patience")
		if err != nil || len(ids) != 1 {
			t.Fatalf("ids %v err %v, want disgo to retry the 429s", ids, err)
		}
		if n := len(tb.fake.RequestsTo(discordfake.RouteExecuteWebhook)); n != 3 {
			t.Errorf("%d execute attempts, want 3", n)
		}
	})

	t.Run("server error keeps earlier parts and hides the token", func(t *testing.T) {
		tb := newTestBot(t, nopHandler(), WithSendRetry(fastRetry))
		ch := tb.fake.AddTextChannel(guildID)
		s := tb.NewSender(NewMemoryWebhookStore())
		long := strings.Repeat("word ", 500) // 2500 characters: two parts
		// The first part goes through, the second keeps failing past the retry budget.
		tb.fake.FailNext(discordfake.RouteExecuteWebhook, 1, discordfake.Failure{})
		tb.fake.FailNext(discordfake.RouteExecuteWebhook, 10000, discordfake.Failure{Status: 500})
		ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", long)
		if err == nil || len(ids) != 1 || !strings.Contains(err.Error(), "part 2 of 2") {
			t.Fatalf("ids %v err %v, want the first part's id and an error about part 2", ids, err)
		}
		if msgs := tb.fake.Messages(ch.ID); len(msgs) != 1 || msgs[0].ID != ids[0] {
			t.Fatalf("messages %+v", msgs)
		}
		hook := tb.fake.Webhooks(ch.ID)[0]
		if strings.Contains(err.Error(), hook.Token) {
			t.Errorf("the error shows the webhook token: %v", err)
		}
	})

	t.Run("network error hides the token", func(t *testing.T) {
		tb := newTestBot(t, nopHandler(), WithSendRetry(fastRetry))
		ch := tb.fake.AddTextChannel(guildID)
		store := NewMemoryWebhookStore()
		s := tb.NewSender(store)
		if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "hi"); err != nil {
			t.Fatal(err)
		}
		hook, _, _ := store.ChannelWebhook(ctx, ch.ID)
		tb.fake.Close() // Discord vanishes: net/http's error repeats the URL, token included
		_, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "anyone?")
		if err == nil {
			t.Fatal("send to a closed server succeeded")
		}
		if strings.Contains(err.Error(), hook.Token) {
			t.Errorf("the error shows the webhook token: %v", err)
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("error %v: expected the URL with the token masked", err)
		}
	})
}

func TestReplyAsBot(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "question"})
	question := tb.fake.Messages(ch.ID)[0].ID
	ids, err := s.Reply(context.Background(), ch.ID, question, strings.Repeat("answer ", 400))
	if err != nil {
		t.Fatal(err)
	}
	msgs := tb.fake.Messages(ch.ID)
	if len(ids) != 2 || len(msgs) != 3 {
		t.Fatalf("ids %v, %d messages", ids, len(msgs))
	}
	if msgs[1].ReferenceID != question || msgs[2].ReferenceID != "" {
		t.Errorf("references %q %q, want only the first part to reply", msgs[1].ReferenceID, msgs[2].ReferenceID)
	}
	if msgs[1].WebhookID != "" || msgs[1].AuthorID != tb.fake.AppID {
		t.Errorf("reply not posted as the bot: %+v", msgs[1])
	}
	if !strings.Contains(msgs[1].AllowedMentions, `"replied_user":false`) {
		t.Errorf("allowed mentions %s: the reply must not ping", msgs[1].AllowedMentions)
	}
	tb.fake.AssertNoViolations(t)
}

func TestNotifyUserByDM(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	s := tb.NewSender(NewMemoryWebhookStore())
	ids, err := s.NotifyUser(context.Background(), alice.ID, "Your API key was rejected by the provider.")
	if err != nil {
		t.Fatal(err)
	}
	dm, ok := tb.fake.DMChannel(alice.ID)
	if !ok {
		t.Fatal("no DM channel opened")
	}
	if msgs := tb.fake.Messages(dm); len(msgs) != 1 || msgs[0].ID != ids[0] || !strings.Contains(msgs[0].Content, "API key") {
		t.Fatalf("DM messages %+v", msgs)
	}

	tb.fake.BlockDMs(alice.ID)
	_, err = s.NotifyUser(context.Background(), alice.ID, "again")
	if !errors.Is(err, ErrDMsClosed) {
		t.Fatalf("err %v, want ErrDMsClosed", err)
	}
}

func TestSendTypingRenewsUntilStopped(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithTypingInterval(5*time.Millisecond)) // 5 ms, so renewals happen during the test
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	stop := s.SendTyping(context.Background(), ch.ID)
	eventually(t, "three typing indicators", func() bool { return tb.fake.TypingCount(ch.ID) >= 3 })
	stop()
	after := tb.fake.TypingCount(ch.ID)
	stop() // idempotent
	// stop returns only once the renewer has exited, so the count is final. A request that was
	// already in flight has been counted by the fake before its reply, which stop waited for.
	if got := tb.fake.TypingCount(ch.ID); got != after {
		t.Fatalf("typing sent after stop: %d then %d", after, got)
	}
}

func TestSendTypingStopsAtShutdown(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithTypingInterval(5*time.Millisecond))
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	_ = s.SendTyping(context.Background(), ch.ID) // the caller forgets to stop it
	eventually(t, "a typing indicator", func() bool { return tb.fake.TypingCount(ch.ID) >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	after := tb.fake.TypingCount(ch.ID)
	if stop := s.SendTyping(context.Background(), ch.ID); stop == nil {
		t.Fatal("nil stop func")
	}
	if got := tb.fake.TypingCount(ch.ID); got != after {
		t.Fatalf("typing sent after shutdown: %d then %d", after, got)
	}
}

func TestDownloadAttachment(t *testing.T) {
	tb := newTestBot(t, nopHandler(), WithMaxDownload(16))
	ctx := context.Background()
	small := tb.fake.AddCDNFile("note.txt", "text/plain", []byte("hello"))
	data, ctype, err := tb.Download(ctx, small.URL)
	if err != nil || string(data) != "hello" || ctype != "text/plain" {
		t.Fatalf("data %q type %q err %v", data, ctype, err)
	}
	big := tb.fake.AddCDNFile("big.bin", "application/octet-stream", make([]byte, 17))
	if _, _, err := tb.Download(ctx, big.URL); !errors.Is(err, message.ErrDownloadTooLarge) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized download: %v", err)
	}
	// A caller with its own cap (voice samples: 10 MB) gets the file the
	// message cap refuses, and its own cap holds.
	if data, _, err := tb.DownloadAtMost(ctx, big.URL, 17); err != nil || len(data) != 17 {
		t.Errorf("DownloadAtMost(17) of 17 bytes: %d bytes, %v", len(data), err)
	}
	if _, _, err := tb.DownloadAtMost(ctx, big.URL, 10); !errors.Is(err, message.ErrDownloadTooLarge) {
		t.Errorf("DownloadAtMost(10) of 17 bytes: %v", err)
	}
	if _, _, err := tb.Download(ctx, "http://169.254.169.254/latest/meta-data"); err == nil || !strings.Contains(err.Error(), "not a Discord CDN host") {
		t.Errorf("foreign host: %v", err)
	}
	if _, _, err := tb.Download(ctx, "file:///etc/passwd"); err == nil {
		t.Error("file URL accepted")
	}
	tb.fake.AssertNoViolations(t) // no Authorization header went to the CDN
}

func TestWebhookUsername(t *testing.T) {
	tests := map[string]string{
		"Bambi":                    "Bambi",
		"  spaced  ":               "spaced",
		"":                         "Personality",
		"Discord Helper":           "Discоrd Helper",
		"my discord & CLYDE":       "my discоrd & CLYDЕ",
		"discorddiscord":           "discоrddiscоrd",
		"Clydesdale":               "Clydеsdale",
		strings.Repeat("é", 81):    strings.Repeat("é", 80),
		"DISCORD" + "\u00e9" + "x": "DISCОRD\u00e9x",
	}
	for in, want := range tests {
		got := WebhookUsername(in)
		if got != want {
			t.Errorf("WebhookUsername(%q) = %q, want %q", in, got, want)
		}
		if l := strings.ToLower(got); strings.Contains(l, "discord") || strings.Contains(l, "clyde") {
			t.Errorf("WebhookUsername(%q) = %q still contains a forbidden word", in, got)
		}
	}
}

func TestWebhookNeverPrintsToken(t *testing.T) {
	w := Webhook{ID: "1", Token: "super-secret"}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", slog.Any("webhook", w))
	for _, s := range []string{fmt.Sprint(w), fmt.Sprintf("%v %+v %#v %s", w, w, w, w), logs.String()} {
		if strings.Contains(s, "super-secret") {
			t.Errorf("token printed: %s", s)
		}
	}
}

// fastRetry keeps the retry tests short: the waits are pacing only, nothing asserts on time.
var fastRetry = SendRetry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 300 * time.Millisecond}

// TestPostSurvivesTransientDiscordFailures fails the webhook post the ways the real API does and
// checks that the reply ends up in the channel exactly once.
func TestPostSurvivesTransientDiscordFailures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		failures []discordfake.Failure
		executes int // webhook executes the fake should see
	}{
		{"500 before posting", []discordfake.Failure{{Status: 500}, {Status: 503}}, 3},
		{"500 after posting", []discordfake.Failure{{Status: 500, AfterProcessing: true}}, 1},
		{"502 after posting, then the read-back finds it", []discordfake.Failure{{Status: 502, AfterProcessing: true}}, 1},
		{"connection reset before posting", []discordfake.Failure{{Reset: true}}, 2},
		{"connection reset after posting", []discordfake.Failure{{Reset: true, AfterProcessing: true}}, 1},
		{"500 before, then 500 after posting", []discordfake.Failure{{Status: 500}, {Status: 500, AfterProcessing: true}}, 2},
		// disgo retries a 429 ten times by itself; the eleventh reaches the sender, which waits
		// for the reset and posts again.
		{"429 beyond disgo's retries", repeat(discordfake.Failure{Status: 429, RetryAfter: 0}, 11), 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := newTestBot(t, nopHandler(), WithSendRetry(SendRetry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 20 * time.Second}))
			ch := tb.fake.AddTextChannel(guildID)
			s := tb.NewSender(NewMemoryWebhookStore())
			// The webhook exists already (the first post made it).
			if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "warm-up"); err != nil {
				t.Fatal(err)
			}
			before := len(tb.fake.RequestsTo(discordfake.RouteExecuteWebhook))
			for _, f := range c.failures {
				tb.fake.FailNext(discordfake.RouteExecuteWebhook, 1, f)
			}
			ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "the paid reply")
			if err != nil {
				t.Fatalf("post failed: %v", err)
			}
			var posted []discordfake.Message
			for _, m := range tb.fake.Messages(ch.ID) {
				if m.Content == "the paid reply" {
					posted = append(posted, m)
				}
			}
			if len(posted) != 1 || len(ids) != 1 || ids[0] != posted[0].ID {
				t.Fatalf("the reply is in the channel %d times (ids %v), want exactly once with its id", len(posted), ids)
			}
			if n := len(tb.fake.RequestsTo(discordfake.RouteExecuteWebhook)) - before; n != c.executes {
				t.Errorf("%d webhook executes, want %d", n, c.executes)
			}
			tb.fake.AssertNoViolations(t)
		})
	}
}

func repeat(f discordfake.Failure, n int) []discordfake.Failure {
	out := make([]discordfake.Failure, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// TestPostGivenUpNamesTheCause: Discord failing for the whole budget gives a DeliveryError
// that says what Discord did, not a permission problem.
func TestPostGivenUpNamesTheCause(t *testing.T) {
	ctx := context.Background()
	tb := newTestBot(t, nopHandler(), WithSendRetry(fastRetry))
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "warm-up"); err != nil {
		t.Fatal(err)
	}
	tb.fake.FailNext(discordfake.RouteExecuteWebhook, 100000, discordfake.Failure{Status: 500})
	_, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "lost reply")
	var de *message.DeliveryError
	if !errors.Is(err, message.ErrUnavailable) || !errors.As(err, &de) {
		t.Fatalf("err %v, want a message.DeliveryError", err)
	}
	if !strings.Contains(de.Cause, "HTTP 500 Internal Server Error") || de.Attempts < 2 {
		t.Errorf("cause %q after %d attempts", de.Cause, de.Attempts)
	}
	if errors.Is(err, message.ErrNoWebhookPermission) || errors.Is(err, message.ErrNoChannelAccess) {
		t.Errorf("a 500 is reported as a permission problem: %v", err)
	}
	for _, m := range tb.fake.Messages(ch.ID) {
		if m.Content == "lost reply" {
			t.Fatal("the fake posted a message it answered 500 for before posting")
		}
	}
}

// TestPostIntoAnUnreadableChannelPostsAgain: when the channel cannot be read back, the bot
// cannot tell whether a failed post went through and posts again (a duplicate is better than a
// lost reply).
func TestPostIntoAnUnreadableChannelPostsAgain(t *testing.T) {
	ctx := context.Background()
	tb := newTestBot(t, nopHandler(), WithSendRetry(fastRetry))
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "warm-up"); err != nil {
		t.Fatal(err)
	}
	tb.fake.FailNext(discordfake.RouteGetMessages, 1, discordfake.Failure{Status: 403, Code: 50001, Message: "Missing Access"})
	tb.fake.FailNext(discordfake.RouteExecuteWebhook, 1, discordfake.Failure{Status: 500, AfterProcessing: true})
	ids, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", "said twice")
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids %v err %v", ids, err)
	}
	n := 0
	for _, m := range tb.fake.Messages(ch.ID) {
		if m.Content == "said twice" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("posted %d times, want 2 (the first post could not be seen)", n)
	}
	if !strings.Contains(tb.logs.String(), "cannot read the channel back") {
		t.Error("the duplicate risk was not logged")
	}
}

// TestBotPostSurvivesTransientDiscordFailures: the bot's own posts (DM replies, notices) are
// retried too; they carry a nonce with enforce_nonce, so a retry after Discord posted the
// message anyway returns it instead of posting it twice.
func TestBotPostSurvivesTransientDiscordFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		failures []discordfake.Failure
		attempts int
	}{
		{"500 before posting", []discordfake.Failure{{Status: 500}}, 2},
		{"500 after posting", []discordfake.Failure{{Status: 500, AfterProcessing: true}}, 2},
		{"reset after posting", []discordfake.Failure{{Reset: true, AfterProcessing: true}}, 2},
		{"429 beyond disgo's retries", repeat(discordfake.Failure{Status: 429}, 11), 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := newTestBot(t, nopHandler(), WithSendRetry(SendRetry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 20 * time.Second}))
			ch := tb.fake.AddTextChannel(guildID)
			s := tb.NewSender(NewMemoryWebhookStore())
			for _, f := range c.failures {
				tb.fake.FailNext(discordfake.RouteCreateMessage, 1, f)
			}
			ids, err := s.Reply(ctx, ch.ID, "", "the paid reply, in a DM")
			if err != nil {
				t.Fatal(err)
			}
			msgs := tb.fake.Messages(ch.ID)
			if len(msgs) != 1 || len(ids) != 1 || msgs[0].ID != ids[0] {
				t.Fatalf("messages %+v ids %v, want the reply exactly once", msgs, ids)
			}
			reqs := tb.fake.RequestsTo(discordfake.RouteCreateMessage)
			if len(reqs) != c.attempts {
				t.Fatalf("%d attempts, want %d", len(reqs), c.attempts)
			}
			nonce := ""
			for i, r := range reqs {
				var body struct {
					Nonce        string `json:"nonce"`
					EnforceNonce bool   `json:"enforce_nonce"`
				}
				if err := json.Unmarshal(r.Body, &body); err != nil || body.Nonce == "" || !body.EnforceNonce {
					t.Fatalf("attempt %d without an enforced nonce: %s", i, r.Body)
				}
				if i > 0 && body.Nonce != nonce {
					t.Fatalf("attempt %d changed the nonce", i)
				}
				nonce = body.Nonce
			}
		})
	}
}
