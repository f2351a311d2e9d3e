package main

import (
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Defaults of the plugin's config (plugins.toml [plugins.gemini.config]).
const (
	defaultBaseURL = "https://generativelanguage.googleapis.com"
	// continuedText opens a conversation whose history starts with the
	// model: Gemini wants the first turn to be the user's.
	continuedText = "(continued)"
)

// settings is the plugin's config from plugins.toml.
type settings struct {
	BaseURL      string // e.g. https://generativelanguage.googleapis.com, without /v1beta
	DefaultModel string
}

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) settings {
	s := settings{BaseURL: defaultBaseURL}
	if base, ok := get("base_url"); ok && base != "" {
		s.BaseURL = strings.TrimRight(base, "/")
		// "…/v1beta" is a common way to write it; the paths below add it.
		s.BaseURL = strings.TrimSuffix(s.BaseURL, "/v1beta")
	}
	s.DefaultModel, _ = get("default_model")
	return s
}

// httpRequest is a request to the API. The key is never in it, and never
// in the URL (no ?key=): the host injects it into x-goog-api-key, bare.
func (s settings) httpRequest(method, path string, body []byte) abi.HTTPRequest {
	r := abi.HTTPRequest{
		Method:  method,
		URL:     s.BaseURL + path,
		Headers: map[string]string{"Accept": "application/json"},
		Auth:    &abi.Auth{Header: "x-goog-api-key", Scheme: "-"},
	}
	if body != nil {
		r.Body = string(body)
		r.Headers["Content-Type"] = "application/json"
	}
	return r
}

// Wire types of generateContent (request side).
type (
	generateBody struct {
		System   string // systemInstruction, "" leaves it out
		Contents []wireContent
		Plan     plan
	}
	// wireContent is one turn: role user or model, its text as one part.
	wireContent struct {
		Role string
		Text string
	}
)

// modelPath is the model's name as the URL wants it (no "models/").
func modelPath(model string) string { return strings.TrimPrefix(model, "models/") }

// buildGenerate turns a ChatRequest into the model name and request body.
func (s settings) buildGenerate(req abi.ChatRequest) (string, generateBody, error) {
	var body generateBody
	model := modelPath(req.Model)
	if model == "" {
		model = modelPath(s.DefaultModel)
	}
	if model == "" {
		return "", body, fmt.Errorf("no model chosen and no default_model in plugins.toml")
	}
	if strings.ContainsAny(model, "/?#: ") {
		return "", body, fmt.Errorf("model %q is not a Gemini model id", model)
	}
	if len(req.Tools) > 0 {
		return "", body, fmt.Errorf("the gemini plugin does not support tools yet")
	}
	adv, err := parseAdvanced(req.AdvancedParameters)
	if err != nil {
		return "", body, err
	}
	p, err := makePlan(model, req.Temperature, req.MaxTokens, adv)
	if err != nil {
		return "", body, err
	}
	body.Plan = p

	var system []string
	for _, m := range req.Messages {
		switch m.Role {
		case abi.RoleSystem:
			if strings.TrimSpace(m.Content) != "" {
				system = append(system, m.Content)
			}
		case abi.RoleUser, abi.RoleAssistant:
			body.add(m)
		case abi.RoleTool:
			return "", body, fmt.Errorf("the gemini plugin does not support tool results yet")
		default:
			return "", body, fmt.Errorf("message role %q is not one of system, user, assistant", m.Role)
		}
	}
	body.System = strings.Join(system, "\n\n")
	if len(body.Contents) == 0 {
		return "", body, fmt.Errorf("the conversation has no user or assistant messages")
	}
	if body.Contents[0].Role == "model" {
		body.Contents = append([]wireContent{{Role: "user", Text: continuedText}}, body.Contents...)
	}
	return model, body, nil
}

// add appends m as a user or model turn, merging it into the last turn
// when that has the same role (Gemini wants the roles to alternate).
func (b *generateBody) add(m abi.Message) {
	if strings.TrimSpace(m.Content) == "" {
		return // an empty part is refused; an empty turn says nothing
	}
	role := "user"
	if m.Role == abi.RoleAssistant {
		role = "model"
	}
	if n := len(b.Contents); n > 0 && b.Contents[n-1].Role == role {
		b.Contents[n-1].Text += "\n\n" + m.Content
		return
	}
	b.Contents = append(b.Contents, wireContent{Role: role, Text: m.Content})
}
