package discord

import (
	"context"
	"fmt"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"
)

// ChannelNSFW reports whether a channel is age-restricted (Discord's nsfw flag), which is where
// the agent loop may let tools make adult content. A thread has no flag of its own: its
// parent's counts. A DM, or any channel that is not a guild channel, is never age-restricted.
// The gateway cache answers when it can (CHANNEL_UPDATE keeps it current); otherwise one REST
// call reads the channel and caches it.
func (b *Bot) ChannelNSFW(ctx context.Context, channelID string) (bool, error) {
	id, err := snowflake.Parse(channelID)
	if err != nil {
		return false, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	ch, err := b.guildChannel(ctx, id)
	if err != nil || ch == nil {
		return false, err
	}
	if th, ok := ch.(discord.GuildThread); ok {
		if th.ParentID() == nil {
			return false, nil
		}
		if ch, err = b.guildChannel(ctx, *th.ParentID()); err != nil || ch == nil {
			return false, err
		}
	}
	gc, ok := ch.(discord.GuildMessageChannel)
	return ok && gc.NSFW(), nil
}

// guildChannel is the guild channel id, from the cache or Discord; nil when it is not a guild
// channel (a DM).
func (b *Bot) guildChannel(ctx context.Context, id snowflake.ID) (discord.GuildChannel, error) {
	if ch, ok := b.client.Caches.Channel(id); ok {
		return ch, nil
	}
	got, err := b.client.Rest.GetChannel(id, rest.WithCtx(ctx))
	if err != nil {
		return nil, fmt.Errorf("read channel %s: %w", id, b.redact.Error(err))
	}
	gc, ok := got.(discord.GuildChannel)
	if !ok {
		return nil, nil
	}
	b.client.Caches.AddChannel(gc)
	return gc, nil
}
