package discord

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/disgoorg/disgo/bot"
	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// Reader reads a channel's messages through the REST API, for the chat pipeline's context
// (it implements chat.Reader). It converts disgo's messages to message.Message here, at the edge,
// so the pipeline never sees disgo. Build one with Bot.Reader.
type Reader struct {
	client *bot.Client
}

// Reader returns a Reader on the bot's REST client.
func (b *Bot) Reader() Reader { return Reader{client: b.client} }

// Discord JSON error codes that mean "the bot may not read this".
var readNoAccessCodes = []rest.JSONErrorCode{
	10003, // unknown channel
	10008, // unknown message
	50001, // missing access
	50013, // missing permissions
}

func readErr(err error) error {
	var re *rest.Error
	if errors.As(err, &re) && slices.Contains(readNoAccessCodes, re.Code) {
		return fmt.Errorf("%w: %w", message.ErrNoAccess, err)
	}
	return err
}

// RecentMessages returns up to limit messages of the channel before beforeID (the newest when
// empty), oldest first.
func (r Reader) RecentMessages(ctx context.Context, channelID, beforeID string, limit int) ([]message.Message, error) {
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
	msgs, err := r.client.Rest.GetMessages(ch, 0, before, 0, limit, rest.WithCtx(ctx))
	if err != nil {
		return nil, fmt.Errorf("read recent messages of channel %s: %w", channelID, readErr(err))
	}
	out := make([]message.Message, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- { // Discord answers newest first
		out = append(out, fromDisgo(msgs[i]))
	}
	return out, nil
}

// Message returns one message.
func (r Reader) Message(ctx context.Context, channelID, messageID string) (message.Message, error) {
	ch, err := snowflake.Parse(channelID)
	if err != nil {
		return message.Message{}, fmt.Errorf("channel id %q is not a Discord id: %w", channelID, err)
	}
	id, err := snowflake.Parse(messageID)
	if err != nil {
		return message.Message{}, fmt.Errorf("message id %q is not a Discord id: %w", messageID, err)
	}
	m, err := r.client.Rest.GetMessage(ch, id, rest.WithCtx(ctx))
	if err != nil {
		return message.Message{}, fmt.Errorf("read message %s: %w", messageID, readErr(err))
	}
	return fromDisgo(*m), nil
}

// fromDisgo is the part of a REST message the context uses.
func fromDisgo(m discord.Message) message.Message {
	in := message.Message{ID: m.ID.String(), ChannelID: m.ChannelID.String(), Author: userOf(m.Author, m.Member), Content: m.Content, CreatedAt: m.CreatedAt}
	if m.GuildID != nil {
		in.GuildID = m.GuildID.String()
	}
	if m.WebhookID != nil {
		in.WebhookID = m.WebhookID.String()
	}
	for _, a := range m.Attachments {
		in.Attachments = append(in.Attachments, AttachmentFrom(a))
	}
	in.VoiceMessage = m.Flags.Has(discord.MessageFlagIsVoiceMessage)
	return in
}
