// Package message is the chat pipeline's own view of a message and of posting one. The chat
// pipeline (host/internal/chat), the trigger rules and River jobs work with these types only; the
// Discord adapter (host/internal/discord) converts disgo's types to and from them at the edge. So a
// worker can build a reply from a job's message snapshot with no gateway and no disgo, and the
// snapshot is plain JSON.
//
// The types live in a leaf package rather than in chat itself because trigger (which chat
// imports) and the adapter need them too; chat re-exports them as chat.Message, chat.Author, ...
package message

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Message is a message as the pipeline sees it: plain strings for ids and only the fields the
// pipeline uses. It is JSON-encodable as is (a reply job carries one).
type Message struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
	// GuildID is empty for direct messages.
	GuildID string `json:"guild_id,omitempty"`
	// ThreadParentID is the channel a thread belongs to, or empty when the message is not in a
	// thread. Webhooks live on the parent, so replies in a thread need it.
	ThreadParentID string `json:"thread_parent_id,omitempty"`
	Author         Author `json:"author"`
	// WebhookID is set when a webhook posted the message (a personality, or another integration).
	WebhookID string `json:"webhook_id,omitempty"`
	Content   string `json:"content"`
	// Reference is the message this one replies to, or nil.
	Reference   *Reference   `json:"reference,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Mentions    []Author     `json:"mentions,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	// VoiceMessage is true for a voice message: its only attachment is the recording
	// (audio/ogg, Opus) with DurationSecs and Waveform set.
	VoiceMessage bool `json:"voice_message,omitempty"`
}

// IsDM reports whether the message was sent in a direct message to the bot.
func (m Message) IsDM() bool { return m.GuildID == "" }

// Author is an account as seen in a message.
type Author struct {
	ID string `json:"id"`
	// Username is the unique account name.
	Username string `json:"username,omitempty"`
	// DisplayName is what the client shows: the server nickname, else the global display name,
	// else the username.
	DisplayName string `json:"display_name,omitempty"`
	Bot         bool   `json:"bot,omitempty"`
}

// Reference is the message a Message replies to. Author and WebhookID are empty when the
// platform did not include the message and the bot cannot read it.
type Reference struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id,omitempty"`
	Author    Author `json:"author"`
	WebhookID string `json:"webhook_id,omitempty"`
	Content   string `json:"content,omitempty"`
}

// Attachment is a file attached to a message. URL points at the platform's CDN and is signed;
// the adapter's Download fetches it.
type Attachment struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"` // e.g. "image/png", "audio/ogg"; may be empty
	URL         string `json:"url"`
	Size        int    `json:"size"`
	// DurationSecs is the length of a voice message's recording as the client reported it (0 for
	// other files). It is the client's word: measure the file itself where it matters.
	DurationSecs float64 `json:"duration_secs,omitempty"`
	// Waveform is a voice message's base64 waveform preview ("" for other files).
	Waveform string `json:"waveform,omitempty"`
}

// IsAudio reports whether the attachment is audio by its content type or, when the platform gave
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

// File is a file to attach to a post (a personality's spoken reply, say).
type File struct {
	// Name is the file name the client shows (its extension tells clients how to play it, e.g.
	// "reply.mp3").
	Name string
	Data []byte
	// TooLargeNote replaces the file when it is over the channel's upload limit (checked before
	// posting, and again if the platform refuses it as too large).
	TooLargeNote string
	// Attached is set by the sender once a message carrying the file was posted (false when it
	// was replaced by its note).
	Attached bool
}

// LastPart supplies what goes with the last part of a reply. It is called after every part
// before the last one was posted, so it may wait (for speech, say) without delaying them. A nil
// file posts the last part without one; a note (e.g. "(The voice could not be made this time:
// ...)") goes on its own line after the last part's text, or as a message of its own when the
// part has no room for it.
type LastPart func(ctx context.Context) (file *File, note string)

// Errors a transport adapter returns so the pipeline can explain a failure without knowing the
// transport (errors.Is).
var (
	// ErrUnavailable means the platform kept failing (5xx, network errors, rate limits) for the
	// whole retry budget. Errors returned for it are *DeliveryError.
	ErrUnavailable = errors.New("Discord kept failing")
	// ErrNoWebhookPermission means the bot lacks Manage Webhooks in the channel.
	ErrNoWebhookPermission = errors.New("the bot needs the Manage Webhooks permission in this channel to speak as a personality")
	// ErrNoChannelAccess means the bot cannot see or post in the channel.
	ErrNoChannelAccess = errors.New("the bot cannot see or post in this channel")
	// ErrDownloadTooLarge is a download's error for a file over its cap.
	ErrDownloadTooLarge = errors.New("attachment too large")
	// ErrNoAccess means the bot may not read a channel or message.
	ErrNoAccess = errors.New("the bot cannot read that channel or message")
)

// DeliveryError is a post given up after transient failures. Cause says in words what the
// platform last did ("Discord answered HTTP 500 Internal Server Error").
type DeliveryError struct {
	Cause    string
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("%s; gave up after %d attempts over %s: %v", e.Cause, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *DeliveryError) Is(target error) bool { return target == ErrUnavailable }

// LiveReply is a personality's reply shown while it is written: the first
// text posts a message, later text edits it (the adapter paces the edits and
// splits past Discord's length limit), and Finish makes the messages say
// exactly the final text. The pipeline drives it; the Discord adapter
// implements it, so the pipeline never needs the transport.
type LiveReply interface {
	// Update hands over the whole text so far; it never blocks.
	Update(text string)
	// Shown reports whether any text has been posted yet.
	Shown() bool
	// Stop ends the pacing loop without a final edit.
	Stop()
	// Finish posts or edits the final text (with last's file on the last
	// part) and returns the ids of every message of the reply.
	Finish(ctx context.Context, text string, last LastPart) ([]string, error)
}
