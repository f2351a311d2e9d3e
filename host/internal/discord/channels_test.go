package discord

import (
	"context"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// The agent loop lets tools make adult content only where ChannelNSFW says
// so: an age-restricted channel and its threads, never a normal channel.
func TestChannelNSFWReadsTheFlagAndTheThreadsParent(t *testing.T) {
	tb := newTestBot(t, nopHandler())
	ctx := context.Background()
	normal := tb.fake.AddTextChannel(guildID)
	adult := tb.fake.AddChannel(discordfake.Channel{GuildID: guildID, Type: discordfake.ChannelGuildText, NSFW: true})
	thread := tb.fake.AddThread(adult)
	for _, c := range []struct {
		name string
		id   string
		want bool
	}{{"normal channel", normal.ID, false}, {"age-restricted channel", adult.ID, true}, {"thread of an age-restricted channel", thread.ID, true}} {
		got, err := tb.ChannelNSFW(ctx, c.id)
		if err != nil || got != c.want {
			t.Errorf("%s: nsfw %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := tb.ChannelNSFW(ctx, "not-an-id"); err == nil {
		t.Error("a malformed channel id was accepted")
	}
}
