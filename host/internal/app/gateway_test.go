//go:build !race

// disgo's gateway code races with itself when a websocket closes (see
// docs/discord.md, "Testing"), so this test, the one that
// runs serve over a real websocket, is left out of -race runs.

package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

func TestServeOverTheGateway(t *testing.T) {
	w := newWorld(t)
	_, stop := w.serve(w.options())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.fake.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ids := w.fake.Identifies()
	if len(ids) != 1 || ids[0].Intents != 37377 {
		t.Fatalf("IDENTIFY %+v, want intents 37377 (guilds, guild messages, DMs, message content)", ids)
	}
	raw := w.fake.UserMessage(discordfake.MessageSpec{ChannelID: w.channel.ID, GuildID: guildID, Content: "@Bambi hello over the wire",
		Author: discordfake.User{ID: userID, Username: "alice"}})
	if err := w.fake.Dispatch("MESSAGE_CREATE", json.RawMessage(raw)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(w.replies()) == 1 })
	if got := w.replies()[0]; got.AuthorName != "Bambi" || got.Content != "echo: alice: hello over the wire" {
		t.Fatalf("reply %+v", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	waitFor(t, func() bool { return w.usageRows() == 1 })
	w.fake.AssertNoViolations(t)
}
