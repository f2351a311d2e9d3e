package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/disgoorg/disgo/bot"
	dgo "github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/discord"
)

// RESTReader reads messages through a disgo client's REST API (the client of
// discord.Bot). It implements Reader.
type RESTReader struct {
	Client *bot.Client
}

// Discord JSON error codes that mean "the bot may not read this".
var noAccessCodes = []rest.JSONErrorCode{
	10003, // unknown channel
	10008, // unknown message
	50001, // missing access
	50013, // missing permissions
}

func readErr(err error) error {
	var re *rest.Error
	if errors.As(err, &re) && slices.Contains(noAccessCodes, re.Code) {
		return fmt.Errorf("%w: %w", ErrNoAccess, err)
	}
	return err
}

// RecentMessages implements Reader.
func (r RESTReader) RecentMessages(ctx context.Context, channelID, beforeID string, limit int) ([]discord.IncomingMessage, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return nil, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	var before snowflake.ID
	if beforeID != "" {
		if before, err = snowflake.Parse(beforeID); err != nil {
			return nil, fmt.Errorf("message id %q is not a Discord id: %w", beforeID, err)
		}
	}
	limit = min(max(limit, 1), 100)
	msgs, err := r.Client.Rest.GetMessages(ch, 0, before, 0, limit, rest.WithCtx(ctx))
	if err != nil {
		return nil, fmt.Errorf("read recent messages of channel %s: %w", channelID, readErr(err))
	}
	out := make([]discord.IncomingMessage, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- { // Discord answers newest first
		out = append(out, fromDisgo(msgs[i]))
	}
	return out, nil
}

// Message implements Reader.
func (r RESTReader) Message(ctx context.Context, channelID, messageID string) (discord.IncomingMessage, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return discord.IncomingMessage{}, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	id, err := snowflake.Parse(messageID)
	if err != nil {
		return discord.IncomingMessage{}, fmt.Errorf("message id %q is not a Discord id: %w", messageID, err)
	}
	m, err := r.Client.Rest.GetMessage(ch, id, rest.WithCtx(ctx))
	if err != nil {
		return discord.IncomingMessage{}, fmt.Errorf("read message %s: %w", messageID, readErr(err))
	}
	return fromDisgo(*m), nil
}

// fromDisgo is the part of a REST message the context uses.
func fromDisgo(m dgo.Message) discord.IncomingMessage {
	u := discord.User{ID: m.Author.ID.String(), Username: m.Author.Username, DisplayName: m.Author.Username, Bot: m.Author.Bot || m.Author.System}
	if m.Author.GlobalName != nil && *m.Author.GlobalName != "" {
		u.DisplayName = *m.Author.GlobalName
	}
	if m.Member != nil && m.Member.Nick != nil && *m.Member.Nick != "" {
		u.DisplayName = *m.Member.Nick
	}
	in := discord.IncomingMessage{ID: m.ID.String(), ChannelID: m.ChannelID.String(), Author: u, Content: m.Content, CreatedAt: m.CreatedAt}
	if m.GuildID != nil {
		in.GuildID = m.GuildID.String()
	}
	if m.WebhookID != nil {
		in.WebhookID = m.WebhookID.String()
	}
	for _, a := range m.Attachments {
		in.Attachments = append(in.Attachments, discord.AttachmentFrom(a))
	}
	in.VoiceMessage = m.Flags.Has(dgo.MessageFlagIsVoiceMessage)
	return in
}
