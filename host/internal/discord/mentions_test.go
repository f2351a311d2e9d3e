package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// loud names everything a message can ping; bob is the user it names.
const (
	bob  = "600000000000000077"
	loud = "@everyone @here <@&700000000000000099> <@" + bob + ">"
)

// pinged describes what Discord pinged for m.
func pinged(m discordfake.Message) (everyone bool, roles, users []string) {
	return m.MentionEveryone, m.MentionRoles, m.MentionUsers
}

// TestRepliesPingOnlyUsers: a model can be talked into writing "@everyone"; what a personality
// or the bot posts pings at most the users it names, never everyone, here or roles, and the bot
// does not ping the author it replies to.
func TestRepliesPingOnlyUsers(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ch := tb.fake.AddTextChannel(guildID)
	s := tb.NewSender(NewMemoryWebhookStore())
	ctx := context.Background()
	if _, err := s.SendAsPersonality(ctx, ch.ID, "", "Bambi", "", loud); err != nil {
		t.Fatal(err)
	}
	tb.fake.UserMessage(discordfake.MessageSpec{ChannelID: ch.ID, GuildID: guildID, Author: alice, Content: "hi"})
	asked := tb.fake.Messages(ch.ID)[1]
	if _, err := s.Reply(ctx, ch.ID, asked.ID, loud); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NotifyUser(ctx, alice.ID, loud); err != nil {
		t.Fatal(err)
	}
	dm, _ := tb.fake.DMChannel(alice.ID)
	posted := slices.DeleteFunc(append(tb.fake.Messages(ch.ID), tb.fake.Messages(dm)...),
		func(m discordfake.Message) bool { return m.AuthorID == alice.ID })
	if len(posted) != 3 {
		t.Fatalf("%d messages posted, want 3", len(posted))
	}
	for _, m := range posted {
		if everyone, roles, users := pinged(m); everyone || len(roles) > 0 || !slices.Equal(users, []string{bob}) {
			t.Errorf("message (webhook %q) pinged everyone=%v roles=%v users=%v; want only the user it names",
				m.WebhookID, everyone, roles, users)
		}
	}
}

// loudMux answers /loud at once and /loud-later deferred, then edited, then with a follow-up,
// all without stating allowed_mentions (as disgo's own helpers do not).
func loudMux() *handler.Mux {
	mux := handler.New()
	mux.Command("/loud", func(e *handler.CommandEvent) error {
		return e.CreateMessage(discord.NewMessageCreate().WithContent(loud))
	})
	mux.Command("/loud-later", func(e *handler.CommandEvent) error {
		if err := e.DeferCreateMessage(false); err != nil {
			return err
		}
		if _, err := e.UpdateInteractionResponse(discord.NewMessageUpdate().WithContent(loud)); err != nil {
			return err
		}
		_, err := e.CreateFollowupMessage(discord.NewMessageCreate().WithContent(loud))
		return err
	})
	return mux
}

// TestInteractionAnswersPingNobodyByDefault: command code that states no allowed_mentions pings
// nobody (disgo's default is everyone, roles and users): immediate, deferred and edited answers
// and follow-ups, over the gateway and over HTTP.
func TestInteractionAnswersPingNobodyByDefault(t *testing.T) {
	spec := func(id, token string) discordfake.InteractionSpec {
		return discordfake.InteractionSpec{ID: id, Token: token, GuildID: guildID, ChannelID: "800000000000000001", User: alice}
	}
	check := func(t *testing.T, fake *discordfake.Server) {
		t.Helper()
		now, _ := fake.Original("tok-loud")
		later, _ := fake.Original("tok-loud-later")
		for _, m := range append([]discordfake.Message{now, later}, fake.FollowUps("tok-loud-later")...) {
			if everyone, roles, users := pinged(m); m.Content != loud || everyone || len(roles) > 0 || len(users) > 0 {
				t.Errorf("answer %q pinged everyone=%v roles=%v users=%v, want nobody", m.Content, everyone, roles, users)
			}
		}
	}

	t.Run("gateway", func(t *testing.T) {
		tb := newTestBot(t, nopHandler(), WithInteractionListener(loudMux()))
		for _, cmd := range []string{"loud", "loud-later"} {
			discordfake.Inject(t, tb.Client(), gateway.EventTypeInteractionCreate, discordfake.SlashCommand(spec(tb.fake.NewID(), "tok-"+cmd), cmd))
		}
		eventually(t, "the answers", func() bool {
			_, ok := tb.fake.Original("tok-loud")
			return ok && len(tb.fake.FollowUps("tok-loud-later")) == 1
		})
		check(t, tb.fake)
	})

	t.Run("HTTP", func(t *testing.T) {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		tb := newTestBot(t, nopHandler(), WithoutGateway(), WithHTTPInteractions(hex.EncodeToString(pub)),
			WithInteractionListener(loudMux()))
		srv := httptest.NewServer(tb.InteractionsHandler())
		t.Cleanup(srv.Close)
		sign := signer{priv: priv, fake: tb.fake}
		for _, cmd := range []string{"loud", "loud-later"} {
			if status, body := sign.post(t, srv.URL, discordfake.SlashCommand(spec(tb.fake.NewID(), "tok-"+cmd), cmd), time.Now()); status != 200 {
				t.Fatalf("/%s: %d %s", cmd, status, body)
			}
		}
		eventually(t, "the follow-up", func() bool { return len(tb.fake.FollowUps("tok-loud-later")) == 1 })
		check(t, tb.fake)
	})
}
