package discord

import (
	"context"
	"path"
	"strings"
	"time"

	"github.com/disgoorg/disgo/discord"
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
	// VoiceMessage is true for a Discord voice message (flag IS_VOICE_MESSAGE): its only
	// attachment is the recording (audio/ogg, Opus) with DurationSecs and Waveform set.
	VoiceMessage bool
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
	// DurationSecs is the length of a voice message's recording as the client reported it (0 for
	// other files). It is the client's word: measure the file itself where it matters.
	DurationSecs float64
	// Waveform is a voice message's base64 waveform preview ("" for other files).
	Waveform string
}

// IsAudio reports whether the attachment is audio by its content type or, when Discord gave
// none, its file name.
func (a Attachment) IsAudio() bool {
	if a.ContentType != "" {
		return strings.HasPrefix(strings.ToLower(a.ContentType), "audio/")
	}
	switch strings.ToLower(path.Ext(a.Name)) {
	case ".mp3", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".flac", ".webm", ".aac":
		return true
	}
	return false
}

// AttachmentFrom converts a disgo attachment.
func AttachmentFrom(a discord.Attachment) Attachment {
	att := Attachment{ID: a.ID.String(), Name: a.Filename, URL: a.URL, Size: a.Size}
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
	HandleMessage(ctx context.Context, msg IncomingMessage)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg IncomingMessage)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, msg IncomingMessage) { f(ctx, msg) }
