// Package abi holds the wire types of tzurot plugin ABI v1.
//
// Everything that crosses the boundary between the host and a plugin is one
// of these types, encoded as JSON. The package is plain Go with no wasm
// imports so the host imports it too: host and SDK cannot drift apart.
//
// The language-neutral description of the same contract lives in
// docs/plugin-abi.md; keep the two in step.
package abi

import "encoding/json"

// Version is the major version of the ABI this package describes. A plugin
// states the version it was built for in Description.ABI and by exporting
// MarkerExport; the host refuses plugins built for another major.
const Version = 1

// HostNamespace is the wasm import module under which the host offers its
// functions for this major version. Adding functions to it never breaks old
// plugins; removing or changing one means a new major and a new namespace.
const HostNamespace = "tzurot:host/v1"

// Exports a plugin may provide. Each is an Extism-style export: no wasm
// parameters, JSON input through the Extism input, JSON output through the
// Extism output, return code 0 for success and 1 for a typed error.
const (
	// MarkerExport must be exported (it may do nothing); its presence tells
	// the host which ABI major the plugin speaks before anything runs.
	MarkerExport = "tzurot_abi_v1"
	// DescribeExport takes no input and outputs a Description.
	DescribeExport = "describe"
	// ChatExport takes a ChatRequest and outputs a ChatResponse.
	ChatExport = "chat"
	// ValidateKeyExport takes a ValidateKeyRequest and outputs a ValidateKeyResult.
	ValidateKeyExport = "validate_key"
	// SpeakExport (capability voice.speak) takes a SpeakRequest and outputs
	// a SpeakResponse; the audio travels as a blob.
	SpeakExport = "speak"
	// CloneVoiceExport (capability voice.clone) takes a CloneVoiceRequest and
	// outputs a CloneVoiceResponse; the samples travel as blobs.
	CloneVoiceExport = "clone_voice"
	// TranscribeExport (capability voice.transcribe) takes a
	// TranscribeRequest and outputs a TranscribeResponse; the audio travels
	// as a blob.
	TranscribeExport = "transcribe"
	// ModelsExport (capability llm.models) takes a ModelsRequest and outputs
	// a ModelList: the models a user may pick, for autocomplete.
	ModelsExport = "models"
)

// Host function names, all imported from HostNamespace. Every "ptr" is an
// offset into Extism kernel memory (uint64), as with Extism's own functions.
const (
	// HostAPIKey: api_key(slot ptr) -> ptr. Slot "" means "the slot
	// plugins.toml binds to me". Returns 0 when there is no key for the
	// current caller or when the plugin asks for any other slot.
	HostAPIKey = "api_key"
	// HostHTTPRequest: http_request(req ptr) -> ptr to HTTPResponse JSON.
	HostHTTPRequest = "http_request"
	// HostHTTPStreamOpen: http_stream_open(req ptr) -> ptr to StreamOpenResult JSON.
	HostHTTPStreamOpen = "http_stream_open"
	// HostHTTPStreamNext: http_stream_next(handle i64) -> ptr to StreamEvent JSON.
	HostHTTPStreamNext = "http_stream_next"
	// HostHTTPStreamClose: http_stream_close(handle i64).
	HostHTTPStreamClose = "http_stream_close"
	// HostRecordUsage: record_usage(usage ptr) -> i32 (0 ok, 1 rejected).
	HostRecordUsage = "record_usage"
	// HostLog: log(entry ptr) with a LogEntry JSON.
	HostLog = "log"
	// HostEmit: emit(chunk ptr) with raw UTF-8 text to show the user while
	// a reply streams.
	HostEmit = "emit"
)

// Capabilities a plugin may request and plugins.toml may grant.
const (
	CapChat        = "llm.chat"
	CapValidateKey = "llm.validate_key"
	CapModels      = "llm.models"
	CapSpeak       = "voice.speak"
	CapVoiceClone  = "voice.clone"
	CapTranscribe  = "voice.transcribe"
	CapImage       = "image.generate"
	CapTool        = "tool"
	// CapTTS is the name voice.speak had before it was specified. No export
	// ever served it; it stays a known name so a plugins.toml or plugin
	// that lists it still loads (it grants nothing).
	CapTTS = "voice.tts"
)

// KnownCapabilities lists every capability this ABI version defines.
func KnownCapabilities() []string {
	return []string{CapChat, CapValidateKey, CapModels, CapEmbed, CapSpeak, CapVoiceClone, CapTranscribe, CapImage, CapTool, CapTTS}
}

// Description is what a plugin says about itself (the describe export).
type Description struct {
	// ABI is the major version the plugin was built for; must equal Version.
	ABI int `json:"abi"`
	// Name is a short lowercase identifier, e.g. "openai".
	Name string `json:"name"`
	// Version is the plugin's own version, free-form (semver suggested).
	Version string `json:"version"`
	// Summary is one line for humans.
	Summary string `json:"summary,omitempty"`
	// Capabilities the plugin requests; each must be granted in plugins.toml.
	Capabilities []string `json:"capabilities"`
	// NeedsKey is true when the plugin needs a user's API key. The plugin
	// never names the key slot: plugins.toml binds it.
	NeedsKey bool `json:"needs_key"`
	// NeedsNetwork is true when the plugin makes HTTP calls through the host.
	NeedsNetwork bool `json:"needs_network"`
	// ParametersSchema is a JSON Schema (draft 2020-12) for the
	// advanced_parameters object the plugin accepts. Optional.
	ParametersSchema json.RawMessage `json:"parameters_schema,omitempty"`
	// ConstraintsSchema is a JSON Schema (draft 2020-12) of the object
	// {"model": "...", "parameters": {...}}: the rules that depend on the
	// model (e.g. a reasoning model takes no temperature), which
	// ParametersSchema cannot state. The host checks both when a
	// personality's parameters are saved and before each call. Optional.
	ConstraintsSchema json.RawMessage `json:"constraints_schema,omitempty"`
	// VoiceSchema is a JSON Schema (draft 2020-12) of the VoiceSettings
	// object a voice.speak plugin accepts (SpeakRequest.Settings). The host
	// checks a personality's voice config against it when the config is
	// saved and before each speak call. Optional.
	VoiceSchema json.RawMessage `json:"voice_schema,omitempty"`
	// ImageSchema is a JSON Schema (draft 2020-12) of the settings object an
	// image.generate plugin accepts (ImageRequest.Settings). Optional.
	ImageSchema json.RawMessage `json:"image_schema,omitempty"`
	// Tools are the tools a plugin granted "tool" offers: each name, what it
	// does (the model reads it) and the JSON Schema of its arguments.
	Tools []Tool `json:"tools,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role       string     `json:"role"` // system, user, assistant, tool
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
}

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // JSON Schema
}

// ToolCall is the model asking for a tool to run.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"` // JSON text, as the model wrote it
}

// ChatRequest is the input of the chat export.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   *int      `json:"max_tokens,omitempty"`
	// AdvancedParameters is the personality's (or user's) advanced_parameters
	// object, already validated against the plugin's ParametersSchema.
	AdvancedParameters json.RawMessage `json:"advanced_parameters,omitempty"`
	Tools              []Tool          `json:"tools,omitempty"`
	// Stream asks the plugin to stream partial text through the emit host
	// function while it works. The final ChatResponse is still required.
	Stream bool `json:"stream,omitempty"`
}

// Usage counts what one provider call consumed.
type Usage struct {
	Kind        string `json:"kind"` // text, voice, image, embed
	Model       string `json:"model,omitempty"`
	InputTokens int64  `json:"input_tokens,omitempty"`
	// OutputTokens is every token the model generated, its reasoning
	// INCLUDED (OpenAI's and OpenRouter's completion_tokens).
	OutputTokens int64 `json:"output_tokens,omitempty"`
	// ReasoningTokens is how many of OutputTokens were reasoning: a subset,
	// reported for information, never added to OutputTokens. A provider that
	// counts reasoning apart from its output must be reported as
	// OutputTokens = output + reasoning.
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
	Characters      int64 `json:"characters,omitempty"`
	Images          int64 `json:"images,omitempty"`
	// AudioMS is the length of audio processed, in milliseconds
	// (transcription input, or speech output when a provider bills by time).
	AudioMS int64 `json:"audio_ms,omitempty"`
	// Provider and Plugin are set by the host on every usage row (the key
	// slot, or the plugin entry name when it has none, and the plugin entry
	// name); whatever a plugin writes here is overwritten.
	Provider string `json:"provider,omitempty"`
	Plugin   string `json:"plugin,omitempty"`
}

// Usage kinds.
const (
	UsageText  = "text"
	UsageVoice = "voice"
	UsageImage = "image"
)

// ChatResponse is the output of the chat export.
type ChatResponse struct {
	Content      string     `json:"content"`
	Reasoning    string     `json:"reasoning,omitempty"`
	Model        string     `json:"model,omitempty"`
	FinishReason string     `json:"finish_reason,omitempty"` // stop, length, tool_calls, content_filter
	ToolCalls    []ToolCall `json:"tool_calls,omitempty"`
	Usage        Usage      `json:"usage"`
}

// ValidateKeyRequest is the input of validate_key. The key under test is not
// in it: the host serves it through api_key or header injection, exactly as
// for a real call, so the plugin has one code path.
type ValidateKeyRequest struct{}

// Key validation outcomes.
const (
	KeyValid       = "valid"
	KeyInvalid     = "invalid"
	KeyNoCredit    = "no_credit"
	KeyUnreachable = "unreachable"
)

// ValidateKeyResult is the output of validate_key.
type ValidateKeyResult struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Error codes a plugin returns (in Error.Code) so the host can tell the user
// what happened in their own words.
const (
	ErrInvalidKey  = "invalid_key"  // the provider rejected the key
	ErrNoKey       = "no_key"       // the host had no key for this caller
	ErrNoCredit    = "no_credit"    // quota or balance exhausted
	ErrRateLimited = "rate_limited" // provider rate limit
	ErrUnavailable = "unavailable"  // provider down, 5xx, unreachable
	ErrTimeout     = "timeout"
	ErrBadRequest  = "bad_request" // the provider refused the request (model, params)
	ErrContent     = "content_filter"
	ErrDenied      = "denied" // the host refused (policy)
	ErrInternal    = "internal"
)

// Error is what a plugin sets as its Extism error (JSON) when it returns 1.
// A plain non-JSON error string is read as Code "internal".
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Retryable  bool   `json:"retryable,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Auth asks the host to inject the caller's key into an HTTP request, so the
// plugin never holds it. Header defaults to "Authorization" and Scheme to
// "Bearer"; set Scheme to "-" for a bare key (e.g. "x-api-key: KEY").
type Auth struct {
	Header string `json:"header,omitempty"`
	Scheme string `json:"scheme,omitempty"`
}

// HTTPRequest is the input of http_request and http_stream_open.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// BodyBase64 carries a binary body; it wins over Body when set.
	BodyBase64 string `json:"body_base64,omitempty"`
	Auth       *Auth  `json:"auth,omitempty"`
	// TimeoutMS shortens the host's per-request timeout; it never lengthens it.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// NoRetry turns off the host's retries on 429 and 5xx for this request.
	NoRetry bool `json:"no_retry,omitempty"`
	// BodyBlob sends the blob with this handle (see HostBlobCreate) as the
	// body; it wins over Body and BodyBase64 when set.
	BodyBlob int64 `json:"body_blob,omitempty"`
	// ResponseBlob asks http_request to keep the response body host-side as
	// a blob and return its handle in HTTPResponse.BodyBlob instead of Body.
	ResponseBlob bool `json:"response_blob,omitempty"`
	// Multipart asks the host to build a multipart/form-data body from these
	// parts (and set Content-Type with its boundary); it wins over every
	// other body field. File parts name blobs, so audio and images go to the
	// provider without passing through the plugin.
	Multipart []MultipartPart `json:"multipart,omitempty"`
}

// HTTPResponse is the output of http_request. Error is set (and Status is 0)
// when no HTTP response was received or the host refused the request.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"` // lowercased names
	Body    string            `json:"body,omitempty"`
	// BodyBase64 is set instead of Body when the body is not valid UTF-8.
	BodyBase64 string `json:"body_base64,omitempty"`
	// BodyBlob is the handle of the body when the request set ResponseBlob.
	BodyBlob int64  `json:"body_blob,omitempty"`
	Error    *Error `json:"error,omitempty"`
}

// StreamOpenResult is the output of http_stream_open.
type StreamOpenResult struct {
	Handle  int64             `json:"handle,omitempty"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body holds the whole (capped) body when the status is not 2xx, so the
	// plugin can read the provider's error; no handle is opened then.
	Body  string `json:"body,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// StreamEvent is the output of http_stream_next: one server-sent event's
// data (the "data:" lines joined with "\n"), or EOF, or an error.
type StreamEvent struct {
	Event string `json:"event,omitempty"`
	Data  string `json:"data,omitempty"`
	EOF   bool   `json:"eof,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// Log levels for LogEntry.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// LogEntry is the input of the log host function.
type LogEntry struct {
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}
