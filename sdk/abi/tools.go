package abi

import "encoding/json"

// Tools and images (docs/plugin-abi.md, tools and images sections). A tool
// plugin lists its tools in Description.Tools and serves them through the
// invoke export (capability "tool"); an image plugin serves generate_image
// (capability "image.generate"). Images, like audio, cross the boundary as
// blobs: JSON carries only handles, MIME types and sizes.

// Exports of the tool and image capabilities.
const (
	// InvokeExport (capability tool) takes an InvokeRequest and outputs an
	// InvokeResult.
	InvokeExport = "invoke"
	// GenerateImageExport (capability image.generate) takes an ImageRequest
	// and outputs an ImageResponse.
	GenerateImageExport = "generate_image"
)

// InvokeRequest is the input of the invoke export: one tool call the model
// made, with arguments the host already checked against the tool's
// parameters schema.
type InvokeRequest struct {
	// Tool is the name of one of the plugin's declared tools.
	Tool string `json:"tool"`
	// Arguments is a JSON object, valid against the tool's Parameters.
	Arguments json.RawMessage `json:"arguments"`
	// Context is what the host knows about the caller that a tool may use.
	// It never holds a user id or a key.
	Context ToolContext `json:"context"`
}

// ToolContext is the caller's situation as a tool may see it.
type ToolContext struct {
	// Timezone is the user's IANA timezone ("Europe/Berlin"), "" when unset.
	Timezone string `json:"timezone,omitempty"`
	// NSFWAllowed is true only in an age-restricted channel (or a DM when
	// the deployment allows it).
	NSFWAllowed bool `json:"nsfw_allowed,omitempty"`
	// PersonalityName is the name of the personality the tool works for.
	PersonalityName string `json:"personality_name,omitempty"`
}

// Attachment is a file a tool or image plugin hands back, held in a blob
// of the current call; the host attaches it to the reply.
type Attachment struct {
	Blob     int64  `json:"blob"`
	MimeType string `json:"mime_type"`
	Filename string `json:"filename,omitempty"`
	// Description is alt text for the file (optional).
	Description string `json:"description,omitempty"`
}

// InvokeResult is the output of the invoke export.
type InvokeResult struct {
	// Content is the result the model reads (plain text or JSON text).
	Content string `json:"content"`
	// IsError marks a failure the model should see and may recover from
	// ("no such city"); the loop goes on. A failure the user must see is an
	// error object (rc 1) instead.
	IsError bool `json:"is_error,omitempty"`
	// Attachments are files to attach to the reply (e.g. an image).
	Attachments []Attachment `json:"attachments,omitempty"`
	// Usage is what the call consumed; billed only when the call recorded no
	// row, as for chat.
	Usage Usage `json:"usage"`
}

// ImageRequest is the input of the generate_image export.
type ImageRequest struct {
	Prompt string `json:"prompt"`
	// Model is the provider's image model; "" means the plugin's default.
	Model string `json:"model,omitempty"`
	// Size is "WIDTHxHEIGHT" (e.g. "1024x1024"); "" means the default.
	Size string `json:"size,omitempty"`
	// Style is a free-form style hint (e.g. "vivid", "natural", "anime").
	Style string `json:"style,omitempty"`
	// Count is how many images (1 when 0).
	Count int `json:"count,omitempty"`
	// Settings is the personality's image config parameters, already valid
	// against the plugin's ImageSchema.
	Settings json.RawMessage `json:"settings,omitempty"`
	// NSFWAllowed is true only in an age-restricted channel.
	NSFWAllowed bool `json:"nsfw_allowed,omitempty"`
}

// Image is one generated image, held in a blob of the current call.
type Image struct {
	Blob     int64  `json:"blob"`
	MimeType string `json:"mime_type"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	// RevisedPrompt is the prompt the provider actually used, when it says.
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// ImageResponse is the output of the generate_image export.
type ImageResponse struct {
	Images []Image `json:"images"`
	// Text is what the model said beside the images (chat-style image
	// models), if anything.
	Text string `json:"text,omitempty"`
	// Usage is what the call consumed (kind image, Images set).
	Usage Usage `json:"usage"`
}
