package main

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Listing limits: Anthropic pages GET /v1/models (limit 1..1000); a
// well-behaved list fits in one page, and a list that keeps saying
// has_more is cut at maxModels or maxModelPages requests.
const (
	modelPageSize = 1000
	maxModels     = 2000
	maxModelPages = 5
)

// wireModelPage is one page of GET /v1/models.
type wireModelPage struct {
	Data []struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	} `json:"data"`
	HasMore bool   `json:"has_more"`
	FirstID string `json:"first_id"`
	LastID  string `json:"last_id"`
}

// modelsPath is the request for the page after afterID ("" for the first).
func modelsPath(afterID string) string {
	q := url.Values{"limit": {"1000"}}
	if afterID != "" {
		q.Set("after_id", afterID)
	}
	return "/v1/models?" + q.Encode()
}

// addModelPage appends one page's models to list and returns the id to
// ask for the next page after ("" when there is none).
func addModelPage(list []abi.Model, body []byte) ([]abi.Model, string, *abi.Error) {
	var p wireModelPage
	if err := json.Unmarshal(body, &p); err != nil || p.Data == nil {
		return list, "", garbage("a model list", body)
	}
	for _, d := range p.Data {
		if d.ID == "" || d.Type != "" && d.Type != "model" || len(list) == maxModels {
			continue
		}
		list = append(list, abi.Model{ID: d.ID, Name: d.DisplayName, Reasoning: thinks(d.ID)})
	}
	if !p.HasMore || p.LastID == "" || len(list) >= maxModels {
		return list, "", nil
	}
	return list, p.LastID, nil
}

// thinks tells the models with extended thinking by id: every Claude
// model from 3.7 on; the list itself does not say.
func thinks(id string) bool {
	return !strings.HasPrefix(id, "claude-3-") || strings.HasPrefix(id, "claude-3-7")
}
