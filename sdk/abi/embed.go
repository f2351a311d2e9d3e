package abi

// EmbedExport (capability llm.embed) takes an EmbedRequest and outputs an
// EmbedResponse: one vector per input text, for memory search.
const EmbedExport = "embed"

// CapEmbed is the capability of turning texts into vectors (embeddings).
// It is optional like llm.models: a plugin that requests it without the
// grant still loads, without it.
const CapEmbed = "llm.embed"

// UsageEmbed is the usage kind of an embed call: input tokens only.
const UsageEmbed = "embed"

// Bounds the host holds an embed call to (docs/plugin-abi.md §5.11).
const (
	// MaxEmbedInputs is the most texts one EmbedRequest carries.
	MaxEmbedInputs = 256
	// MaxEmbedDimensions is the longest vector the host accepts.
	MaxEmbedDimensions = 8192
)

// EmbedRequest is the input of the embed export.
type EmbedRequest struct {
	// Model is the embedding model, e.g. "text-embedding-3-small"; empty
	// means the plugin's default.
	Model string `json:"model,omitempty"`
	// Inputs are the texts to embed, 1 to MaxEmbedInputs of them.
	Inputs []string `json:"inputs"`
	// Dimensions, when > 0, asks for vectors of this length (models that
	// can shorten theirs, such as OpenAI's text-embedding-3-*).
	Dimensions int `json:"dimensions,omitempty"`
}

// EmbedResponse is the output of the embed export.
type EmbedResponse struct {
	// Vectors holds one vector per input, in the order of the inputs, all
	// of the same length.
	Vectors [][]float32 `json:"vectors"`
	// Model is the model that answered (the provider's name for it).
	Model string `json:"model,omitempty"`
	// Usage is kind embed with input_tokens.
	Usage Usage `json:"usage"`
}
