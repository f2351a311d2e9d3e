package abi

import "encoding/json"

// Voice capabilities (docs/plugin-abi.md §5.5–5.7). Audio never crosses the
// boundary inside JSON: a request names blobs the host filled before the
// call, and a response names a blob the plugin created (blob_create) or an
// HTTP response body it kept host-side (HTTPRequest.ResponseBlob). JSON
// carries only handles, MIME types and lengths.

// AudioRef is audio held in a blob of the current call.
type AudioRef struct {
	// Blob is the handle (> 0) of the blob holding the bytes.
	Blob int64 `json:"blob"`
	// MimeType is the audio's MIME type, e.g. "audio/mpeg", "audio/wav",
	// "audio/ogg".
	MimeType string `json:"mime_type"`
	// Filename is a name to give the file when it is uploaded (optional).
	Filename string `json:"filename,omitempty"`
	// DurationMS is the audio's length in milliseconds when known (the host
	// measures it from the file itself for samples and voice messages).
	DurationMS int64 `json:"duration_ms,omitempty"`
}

// SpeakRequest is the input of the speak export (capability voice.speak).
type SpeakRequest struct {
	// Text is what to say (plain text, already cut to the plugin's limit by
	// the host).
	Text string `json:"text"`
	// VoiceID is the provider's voice id; "" means the plugin's default
	// (usually a default_voice config value).
	VoiceID string `json:"voice_id,omitempty"`
	// Model is the provider's speech model; "" means the plugin's default.
	Model string `json:"model,omitempty"`
	// Settings is the personality's voice config as a VoiceSettings object
	// plus any plugin-specific keys, already valid against the plugin's
	// VoiceSchema.
	Settings json.RawMessage `json:"settings,omitempty"`
	// Format asks for an output format ("mp3" when empty). A plugin that
	// cannot produce it answers bad_request.
	Format string `json:"format,omitempty"`
}

// VoiceSettings are the portable voice settings the host keeps per
// personality (the voice_configs row). Plugins use what their provider
// offers and ignore the rest; providers' own knobs go beside them in
// SpeakRequest.Settings under the plugin's own names.
type VoiceSettings struct {
	Stability       *float64 `json:"stability,omitempty"`        // 0..1
	SimilarityBoost *float64 `json:"similarity_boost,omitempty"` // 0..1
	Style           *float64 `json:"style,omitempty"`            // 0..1
	SpeakerBoost    *bool    `json:"speaker_boost,omitempty"`
	Speed           *float64 `json:"speed,omitempty"` // 1 is normal speed
}

// SpeakResponse is the output of the speak export.
type SpeakResponse struct {
	// Audio is the speech. Its blob is one the plugin created or received
	// as an HTTP response body (HTTPRequest.ResponseBlob).
	Audio AudioRef `json:"audio"`
	// Usage is what the call consumed (kind voice, Characters set); billed
	// only when the call recorded no row, as for chat.
	Usage Usage `json:"usage"`
}

// CloneVoiceRequest is the input of the clone_voice export (capability
// voice.clone).
type CloneVoiceRequest struct {
	// Name is the voice's name at the provider (the personality's name).
	Name string `json:"name"`
	// Description is shown at the provider (optional).
	Description string `json:"description,omitempty"`
	// Samples are the stored voice samples, in blobs the host filled.
	Samples []AudioRef `json:"samples"`
}

// CloneVoiceResponse is the output of the clone_voice export.
type CloneVoiceResponse struct {
	// VoiceID is the provider's id of the new voice, to be used as
	// SpeakRequest.VoiceID.
	VoiceID string `json:"voice_id"`
	Usage   Usage  `json:"usage"`
}

// TranscribeRequest is the input of the transcribe export (capability
// voice.transcribe).
type TranscribeRequest struct {
	Audio AudioRef `json:"audio"`
	// Language is a hint (ISO 639-1, e.g. "en"); "" means detect.
	Language string `json:"language,omitempty"`
	// Model is the provider's transcription model; "" means the plugin's
	// default.
	Model string `json:"model,omitempty"`
}

// TranscribeResponse is the output of the transcribe export.
type TranscribeResponse struct {
	Text string `json:"text"`
	// Language is the detected (or given) language, ISO 639-1 when the
	// provider says so.
	Language string `json:"language,omitempty"`
	// DurationMS is the audio's length as the provider measured it.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Usage is what the call consumed (kind voice, AudioMS set).
	Usage Usage `json:"usage"`
}

// ModelsRequest is the input of the models export (capability llm.models).
type ModelsRequest struct{}

// Model is one entry of a ModelList.
type Model struct {
	// ID is what goes into ChatRequest.Model.
	ID string `json:"id"`
	// Name is a human name, when the provider gives one.
	Name string `json:"name,omitempty"`
	// ContextTokens is the context window, when known.
	ContextTokens int64 `json:"context_tokens,omitempty"`
	// Reasoning is true when the model thinks before answering.
	Reasoning bool `json:"reasoning,omitempty"`
}

// ModelList is the output of the models export.
type ModelList struct {
	Models []Model `json:"models"`
}

// MultipartPart is one part of a multipart/form-data request body the host
// builds for a plugin (HTTPRequest.Multipart), so file uploads such as voice
// samples go from blob to provider without entering the plugin's memory.
type MultipartPart struct {
	// Name is the form field name.
	Name string `json:"name"`
	// Value is a text field's value (used when Blob is 0).
	Value string `json:"value,omitempty"`
	// Blob sends the blob with this handle as a file part.
	Blob int64 `json:"blob,omitempty"`
	// Filename is the file part's filename.
	Filename string `json:"filename,omitempty"`
	// ContentType is the file part's Content-Type
	// ("application/octet-stream" when empty).
	ContentType string `json:"content_type,omitempty"`
}
