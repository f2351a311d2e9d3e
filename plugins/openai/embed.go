package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// Encodings of POST /embeddings (encoding_format). base64 is a quarter of
// the size of float's decimal text for the same float32 values, so it is
// the default where the server takes it (OpenAI, OpenRouter); local servers
// that do not (older Ollama) get float.
const (
	encodingBase64 = "base64"
	encodingFloat  = "float"
)

// embedModel is the model an embed request names, else embed_model from
// plugins.toml, else the flavor's usual one.
func (s settings) embedModel(asked string) string {
	switch {
	case asked != "":
		return asked
	case s.EmbedModel != "":
		return s.EmbedModel
	case s.Flavor == flavorOpenRouter:
		return "openai/text-embedding-3-small"
	case s.Flavor == flavorLocal:
		return "nomic-embed-text"
	}
	return "text-embedding-3-small"
}

// embedEncoding is embed_encoding from plugins.toml, else the flavor's.
func (s settings) embedEncoding() string {
	if s.EmbedEncoding != "" {
		return s.EmbedEncoding
	}
	if s.Flavor == flavorLocal {
		return encodingFloat
	}
	return encodingBase64
}

// embedBody is the body of POST {base_url}/embeddings.
func (s settings) embedBody(req abi.EmbedRequest) ([]byte, string, error) {
	model := s.embedModel(req.Model)
	body := struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
		Dimensions     int      `json:"dimensions,omitempty"`
	}{model, req.Inputs, s.embedEncoding(), req.Dimensions}
	b, err := json.Marshal(body)
	return b, model, err
}

// wireEmbeddings is the answer of POST /embeddings; each embedding is an
// array of numbers or, with encoding_format base64, a base64 string of
// little-endian float32s.
type wireEmbeddings struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage *struct {
		PromptTokens int64 `json:"prompt_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
	} `json:"usage"`
	Error *wireErrBody `json:"error"`
}

// parseEmbeddings turns the provider's answer into n vectors in input
// order. It checks what only the plugin can (every index once, every
// embedding decodable); the host checks lengths and values again.
func parseEmbeddings(body []byte, n int, model string) (abi.EmbedResponse, *abi.Error) {
	var w wireEmbeddings
	if err := json.Unmarshal(body, &w); err != nil {
		return abi.EmbedResponse{}, badEmbeddings("is not JSON", body)
	}
	if w.Error != nil {
		return abi.EmbedResponse{}, inBodyError(w.Error)
	}
	if len(w.Data) != n {
		return abi.EmbedResponse{}, badEmbeddings(fmt.Sprintf("has %d embeddings for %d texts", len(w.Data), n), body)
	}
	out := abi.EmbedResponse{Vectors: make([][]float32, n), Model: model}
	if w.Model != "" {
		out.Model = w.Model
	}
	for _, d := range w.Data {
		if d.Index < 0 || d.Index >= n || out.Vectors[d.Index] != nil {
			return abi.EmbedResponse{}, badEmbeddings(fmt.Sprintf("has embedding index %d twice or out of range", d.Index), body)
		}
		v, err := decodeEmbedding(d.Embedding)
		if err != nil {
			return abi.EmbedResponse{}, badEmbeddings(err.Error(), body)
		}
		out.Vectors[d.Index] = v
	}
	tokens := int64(0)
	if w.Usage != nil {
		tokens = w.Usage.PromptTokens
		if tokens == 0 {
			tokens = w.Usage.TotalTokens
		}
	}
	out.Usage = abi.Usage{Kind: abi.UsageEmbed, Model: out.Model, InputTokens: max(tokens, 0)}
	return out, nil
}

// decodeEmbedding reads one embedding: a JSON array of numbers, or a
// base64 string of little-endian float32s.
func decodeEmbedding(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("has an embedding that is not a string: %v", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			return nil, fmt.Errorf("has a base64 embedding that is not float32 values")
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("has an embedding that is not a list of numbers")
	}
	return v, nil
}

// badEmbeddings is the error for an answer the plugin cannot read.
func badEmbeddings(what string, body []byte) *abi.Error {
	return &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
		Message: "the provider's embeddings answer " + what + ": " + provider.Snippet(body)}
}
