package main

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// maxModels caps the list the plugin returns: OpenRouter lists a few
// hundred models; a server that lists millions must not fill the host's
// memory (the host caps it again).
const maxModels = 2000

// wireModels is GET {base_url}/models. OpenAI and local servers (Ollama,
// vLLM, LM Studio) answer {"object":"list","data":[{"id","object",
// "created","owned_by"}]}; OpenRouter adds name, context_length and
// supported_parameters to each entry.
type wireModels struct {
	Data []struct {
		ID                  string   `json:"id"`
		Name                string   `json:"name"`
		ContextLength       int64    `json:"context_length"`
		SupportedParameters []string `json:"supported_parameters"`
	} `json:"data"`
}

// notChat are parts of OpenAI model ids that are not chat models: the
// list at api.openai.com also holds embeddings, speech, images and
// moderation, none of which /chat/completions serves.
var notChat = []string{"embedding", "whisper", "tts", "dall-e", "moderation", "davinci", "babbage", "transcribe", "gpt-image", "sora"}

// parseModels turns the provider's model list into the ABI's, sorted by id.
func parseModels(flavor string, body []byte) ([]abi.Model, *abi.Error) {
	var w wireModels
	if err := json.Unmarshal(body, &w); err != nil || w.Data == nil {
		return nil, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "the provider sent something that is not a model list: " + provider.Snippet(body)}
	}
	out := make([]abi.Model, 0, min(len(w.Data), maxModels))
	for _, d := range w.Data {
		if d.ID == "" || len(out) == maxModels {
			continue
		}
		if flavor == flavorOpenAI && slices.ContainsFunc(notChat, func(s string) bool { return strings.Contains(d.ID, s) }) {
			continue
		}
		m := abi.Model{ID: d.ID, Name: d.Name, ContextTokens: max(d.ContextLength, 0)}
		switch flavor {
		case flavorOpenRouter:
			m.Reasoning = slices.Contains(d.SupportedParameters, "reasoning")
		case flavorOpenAI:
			m.Reasoning = reasoningModel(d.ID)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b abi.Model) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// reasoningModel tells OpenAI's reasoning models by id (the o-series and
// gpt-5), as OpenAI's list says nothing about them; "gpt-5-chat" is the
// non-reasoning variant.
func reasoningModel(id string) bool {
	switch {
	case strings.Contains(id, "-chat"):
		return false
	case strings.HasPrefix(id, "gpt-5"):
		return true
	case len(id) >= 2 && id[0] == 'o' && id[1] >= '1' && id[1] <= '9':
		return true
	}
	return false
}
