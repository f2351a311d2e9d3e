package chat

import "github.com/tzurot-go/tzurot/host/internal/message"

// The pipeline's own message types. They are defined in package message (a leaf that trigger and
// the Discord adapter import too) and named here so the pipeline reads as chat.Message; the
// adapter converts Discord's messages to them at the edge, and a worker builds a reply from a
// job's snapshot of one without any transport.
type (
	// Message is an incoming message.
	Message = message.Message
	// Author is who wrote a message.
	Author = message.Author
	// Reference is the message a Message replies to.
	Reference = message.Reference
	// Attachment is a file attached to a message.
	Attachment = message.Attachment
	// File is a file to attach to a reply.
	File = message.File
	// LastPart supplies what goes with the last part of a reply.
	LastPart = message.LastPart
)

// ErrNoAccess means the bot may not read a channel or message (a Reader's error).
var ErrNoAccess = message.ErrNoAccess
