package discord

import (
	"context"
	"time"
)

// IncomingMessage is a Discord message as the rest of the host sees it: plain strings for ids so
// no other package needs disgo, and only the fields the chat pipeline uses.
type IncomingMessage struct {
	ID        string
	ChannelID string
	// GuildID is empty for direct messages.
	GuildID string
	// ThreadParentID is the channel a thread belongs to, or empty when the message is not in a
	// thread. Webhooks live on the parent, so replies in a thread need it.
	ThreadParentID string
	Author         User
	// WebhookID is set when a webhook posted the message (a personality, or another integration).
	WebhookID string
	Content   string
	// Reference is the message this one replies to, or nil.
	Reference   *ReferencedMessage
	Attachments []Attachment
	Mentions    []User
	CreatedAt   time.Time
}

// IsDM reports whether the message was sent in a direct message to the bot.
func (m IncomingMessage) IsDM() bool { return m.GuildID == "" }

// User is a Discord account as seen in a message.
type User struct {
	ID string
	// Username is the unique account name.
	Username string
	// DisplayName is what Discord shows: the server nickname, else the global display name, else
	// the username.
	DisplayName string
	Bot         bool
}

// ReferencedMessage is the message an IncomingMessage replies to. Author and WebhookID are empty
// when Discord did not include the message and the bot cannot read it.
type ReferencedMessage struct {
	ID        string
	ChannelID string
	Author    User
	WebhookID string
	Content   string
}

// Attachment is a file attached to a message. URL points at Discord's CDN and is signed; download
// it with Bot.Download.
type Attachment struct {
	ID          string
	Name        string
	ContentType string // e.g. "image/png", "audio/ogg"; may be empty
	URL         string
	Size        int
}

// Handler receives every message the bot sees. The chat pipeline implements it. HandleMessage
// runs on a worker, never on the gateway's read loop, so it may take as long as it needs; ctx is
// cancelled when shutdown gives up waiting for it.
type Handler interface {
	HandleMessage(ctx context.Context, msg IncomingMessage)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg IncomingMessage)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, msg IncomingMessage) { f(ctx, msg) }
