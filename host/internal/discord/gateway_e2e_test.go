//go:build !race

// Websocket end-to-end tests against the fake gateway. They are excluded from -race builds:
// disgo v0.19.6's gateway races on its own fields (heartbeatCancel, lastHeartbeatSent/Received)
// whenever a real connection closes (see docs/discord.md, "Testing"). Run them with
//
//	go test -count=1 -run 'Gateway(EndToEnd|RefusesBadToken|Resumes)' ./host/internal/discord/
//
// Each opens a real gateway session, which costs disgo's fixed one-second delay before the first
// dial, so they run in parallel.
package discord

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/message"
)

func TestGatewayEndToEnd(t *testing.T) {
	t.Parallel()
	for _, comp := range []Compression{CompressionZstdStream, CompressionZlibStream, CompressionNone} {
		t.Run(string(comp), func(t *testing.T) {
			t.Parallel()
			fake := discordfake.New(t)
			var sender *Sender
			replied := make(chan []string, 1)
			h := HandlerFunc(func(ctx context.Context, m message.Message) {
				stop := sender.SendTyping(ctx, m.ChannelID)
				ids, err := sender.SendAsPersonality(ctx, m.ChannelID, m.ThreadParentID, "Bambi", "", "you said: "+m.Content)
				stop()
				if err != nil {
					t.Errorf("reply: %v", err)
				}
				replied <- ids
			})
			tb := newTestBotWith(t, fake, h, WithCompression(comp))
			sender = tb.NewSender(NewMemoryWebhookStore())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := tb.Open(ctx); err != nil {
				t.Fatalf("Open: %v", err)
			}
			ids := fake.Identifies()
			if len(ids) != 1 || ids[0].Intents != 37377 || ids[0].Token != fake.Token {
				t.Fatalf("identify %+v, want intents 37377 (guilds, guild and DM messages, message content)", ids)
			}
			wantCompress := string(comp)
			if comp == CompressionNone {
				wantCompress = ""
			}
			if ids[0].Compress != wantCompress {
				t.Errorf("compress %q, want %q", ids[0].Compress, wantCompress)
			}

			ch := fake.AddTextChannel(guildID)
			msg := fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "hello over the websocket"})
			if err := fake.Dispatch("MESSAGE_CREATE", msg); err != nil {
				t.Fatal(err)
			}
			var got []string
			select {
			case got = <-replied:
			case <-ctx.Done():
				t.Fatal("no reply to the dispatched message")
			}
			msgs := fake.Messages(ch.ID)
			if len(got) != 1 || len(msgs) != 2 || msgs[1].Content != "you said: hello over the websocket" || msgs[1].AuthorName != "Bambi" {
				t.Fatalf("reply ids %v, channel %+v", got, msgs)
			}
			if fake.TypingCount(ch.ID) < 1 {
				t.Error("no typing indicator while replying")
			}
			if err := tb.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			fake.AssertNoViolations(t)
		})
	}
}

func TestGatewayRefusesBadToken(t *testing.T) {
	t.Parallel()
	fake := discordfake.New(t)
	bad := strings.Split(fake.Token, ".")[0] + ".not.the-token"
	b, err := New(bad, nopHandler(), WithRESTURL(fake.RESTURL()), WithCompression(CompressionNone), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = b.Open(ctx)
	if err == nil {
		t.Fatal("Open succeeded with a token the gateway refused")
	}
	if strings.Contains(err.Error(), "not.the-token") {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestGatewayResumesAfterDisconnect(t *testing.T) {
	t.Parallel()
	fake := discordfake.New(t)
	rec := newRecorder()
	tb := newTestBotWith(t, fake, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tb.Open(ctx); err != nil {
		t.Fatal(err)
	}
	ch := fake.AddTextChannel(guildID)
	fake.Disconnect(4000) // "unknown error": disgo reconnects and resumes
	eventually(t, "a RESUME", func() bool { return fake.Resumes() == 1 })
	eventually(t, "the resumed session", func() bool {
		return fake.Dispatch("MESSAGE_CREATE", fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID,
			Author: alice, Content: "still there?"})) == nil
	})
	if m := rec.next(t); m.Content != "still there?" {
		t.Fatalf("got %q", m.Content)
	}
	if n := len(fake.Identifies()); n != 1 {
		t.Errorf("%d IDENTIFYs, want 1 (the session resumed)", n)
	}
}
