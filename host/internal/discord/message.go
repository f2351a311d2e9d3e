package discord

import (
	"context"

	"github.com/disgoorg/disgo/discord"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// AttachmentFrom converts a disgo attachment.
func AttachmentFrom(a discord.Attachment) message.Attachment {
	att := message.Attachment{ID: a.ID.String(), Name: a.Filename, URL: a.URL, Size: a.Size}
	if a.ContentType != nil {
		att.ContentType = *a.ContentType
	}
	if a.DurationSecs != nil {
		att.DurationSecs = *a.DurationSecs
	}
	if a.Waveform != nil {
		att.Waveform = *a.Waveform
	}
	return att
}

// Handler receives every message the bot sees. The chat pipeline implements it. HandleMessage
// runs on a worker, never on the gateway's read loop, so it may take as long as it needs; ctx is
// cancelled when shutdown gives up waiting for it.
type Handler interface {
	HandleMessage(ctx context.Context, msg message.Message)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg message.Message)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, msg message.Message) { f(ctx, msg) }
