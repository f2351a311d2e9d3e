package main

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Listing limits: GET /v1beta/models pages with pageSize (at most 1000)
// and nextPageToken; a list that keeps going is cut at maxModels or
// maxModelPages requests.
const (
	maxModels     = 2000
	maxModelPages = 5
)

// wireModelPage is one page of GET /v1beta/models.
type wireModelPage struct {
	Models []struct {
		Name                       string   `json:"name"` // "models/gemini-2.5-flash"
		DisplayName                string   `json:"displayName"`
		InputTokenLimit            int64    `json:"inputTokenLimit"`
		OutputTokenLimit           int64    `json:"outputTokenLimit"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		Thinking                   bool     `json:"thinking"`
	} `json:"models"`
	NextPageToken string `json:"nextPageToken"`
}

// modelsPath is the request for the page with token ("" for the first).
func modelsPath(token string) string {
	q := url.Values{"pageSize": {"1000"}}
	if token != "" {
		q.Set("pageToken", token)
	}
	return "/v1beta/models?" + q.Encode()
}

// addModelPage appends the page's chat models (those that serve
// generateContent: the list also holds embedding and image models) to
// list and returns the next page's token ("" when there is none).
func addModelPage(list []abi.Model, body []byte) ([]abi.Model, string, *abi.Error) {
	var p wireModelPage
	if err := json.Unmarshal(body, &p); err != nil {
		return list, "", &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "Gemini sent something that is not a model list: " + snippet(body)}
	}
	for _, m := range p.Models {
		id := modelPath(m.Name)
		if id == "" || len(list) == maxModels || !slices.Contains(m.SupportedGenerationMethods, "generateContent") {
			continue
		}
		list = append(list, abi.Model{ID: id, Name: m.DisplayName, ContextTokens: max(m.InputTokenLimit, 0), Reasoning: m.Thinking})
	}
	if len(list) >= maxModels {
		return list, "", nil
	}
	return list, strings.TrimSpace(p.NextPageToken), nil
}
