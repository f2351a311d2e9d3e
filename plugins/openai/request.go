package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Flavors of OpenAI-compatible servers. They differ in which parameters
// they take and how reasoning is asked for.
const (
	flavorOpenAI     = "openai"
	flavorOpenRouter = "openrouter"
	flavorLocal      = "local"
)

// settings is the plugin's config from plugins.toml.
type settings struct {
	BaseURL      string // e.g. https://api.openai.com/v1
	DefaultModel string
	Flavor       string
	// UseAuth is false for local servers without a key (auth = "none").
	UseAuth bool
	// AppName and AppURL identify the app to OpenRouter (X-Title, HTTP-Referer).
	AppName, AppURL string
	// EmbedModel is embed's default model (embed_model); EmbedEncoding is
	// encoding_format, base64 or float (embed_encoding; see embed.go).
	EmbedModel, EmbedEncoding string
}

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) (settings, error) {
	var s settings
	base, ok := get("base_url")
	if !ok {
		return s, fmt.Errorf("plugin config base_url is not set in plugins.toml (for example https://api.openai.com/v1)")
	}
	s.BaseURL = strings.TrimRight(base, "/")
	s.DefaultModel, _ = get("default_model")
	s.Flavor, _ = get("flavor")
	switch s.Flavor {
	case "":
		s.Flavor = guessFlavor(s.BaseURL)
	case flavorOpenAI, flavorOpenRouter, flavorLocal:
	default:
		return s, fmt.Errorf("plugin config flavor %q is not one of openai, openrouter, local", s.Flavor)
	}
	s.UseAuth = s.Flavor != flavorLocal
	switch auth, _ := get("auth"); auth {
	case "":
	case "bearer":
		s.UseAuth = true
	case "none":
		s.UseAuth = false
	default:
		return s, fmt.Errorf("plugin config auth %q is not one of bearer, none", auth)
	}
	s.AppName, _ = get("app_name")
	s.AppURL, _ = get("app_url")
	s.EmbedModel, _ = get("embed_model")
	s.EmbedEncoding, _ = get("embed_encoding")
	switch s.EmbedEncoding {
	case "", encodingBase64, encodingFloat:
	default:
		return s, fmt.Errorf("plugin config embed_encoding %q is not one of base64, float", s.EmbedEncoding)
	}
	return s, nil
}

// guessFlavor picks the flavor when plugins.toml does not say: OpenRouter
// by its host, a local server by plain http or a loopback/private address
// (so an Ollama entry without a key works as written), else OpenAI.
func guessFlavor(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return flavorOpenAI
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "openrouter.ai" || strings.HasSuffix(host, ".openrouter.ai"):
		return flavorOpenRouter
	case u.Scheme == "http" || host == "localhost" || strings.HasSuffix(host, ".local"):
		return flavorLocal
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
		return flavorLocal
	}
	return flavorOpenAI
}

// httpRequest is a request to the provider with the headers every call
// carries. The key is never in it: the host injects it (Auth).
func (s settings) httpRequest(method, path string, body []byte) abi.HTTPRequest {
	r := abi.HTTPRequest{
		Method:  method,
		URL:     s.BaseURL + path,
		Headers: map[string]string{"Accept": "application/json"},
	}
	if body != nil {
		r.Body = string(body)
		r.Headers["Content-Type"] = "application/json"
	}
	if s.UseAuth {
		r.Auth = &abi.Auth{}
	}
	if s.Flavor == flavorOpenRouter {
		if s.AppName != "" {
			r.Headers["X-Title"] = s.AppName
		}
		if s.AppURL != "" {
			r.Headers["HTTP-Referer"] = s.AppURL
		}
	}
	return r
}

// Wire types of the chat completions API (request side).
type (
	chatBody struct {
		Model               string             `json:"model"`
		Messages            []wireMessage      `json:"messages"`
		Temperature         *float64           `json:"temperature,omitempty"`
		TopP                *float64           `json:"top_p,omitempty"`
		TopK                *int               `json:"top_k,omitempty"`
		FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
		PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
		RepetitionPenalty   *float64           `json:"repetition_penalty,omitempty"`
		MinP                *float64           `json:"min_p,omitempty"`
		TopA                *float64           `json:"top_a,omitempty"`
		Seed                *int64             `json:"seed,omitempty"`
		LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
		ResponseFormat      *responseFormat    `json:"response_format,omitempty"`
		MaxTokens           *int               `json:"max_tokens,omitempty"`
		MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
		ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
		Reasoning           *wireReasoning     `json:"reasoning,omitempty"`
		Transforms          []string           `json:"transforms,omitempty"`
		Route               string             `json:"route,omitempty"`
		Verbosity           string             `json:"verbosity,omitempty"`
		Tools               []wireTool         `json:"tools,omitempty"`
		Stream              bool               `json:"stream,omitempty"`
		StreamOptions       *streamOptions     `json:"stream_options,omitempty"`
	}
	wireMessage struct {
		Role       string         `json:"role"`
		Content    *string        `json:"content"`
		Name       string         `json:"name,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
		ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	}
	wireToolCall struct {
		Index    *int         `json:"index,omitempty"`
		ID       string       `json:"id,omitempty"`
		Type     string       `json:"type,omitempty"`
		Function wireFunction `json:"function"`
	}
	wireFunction struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	}
	wireTool struct {
		Type     string       `json:"type"`
		Function wireToolSpec `json:"function"`
	}
	wireToolSpec struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	wireReasoning struct {
		Effort  string `json:"effort,omitempty"`
		Exclude *bool  `json:"exclude,omitempty"`
	}
	streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
)

// buildChat turns a ChatRequest into the provider's request body. It also
// returns the names of parameters this flavor does not take (dropped), so
// the plugin can log them.
func (s settings) buildChat(req abi.ChatRequest) (body chatBody, dropped []string, err error) {
	adv, err := parseAdvanced(req.AdvancedParameters)
	if err != nil {
		return body, nil, err
	}
	body.Model = req.Model
	if body.Model == "" {
		body.Model = s.DefaultModel
	}
	if body.Model == "" {
		return body, nil, fmt.Errorf("no model chosen and no default_model in plugins.toml")
	}
	if len(req.Messages) == 0 {
		return body, nil, fmt.Errorf("the conversation has no messages")
	}
	// One allocation for the messages and one for their contents, not one
	// per message: each costs about a microsecond in a plugin.
	body.Messages = make([]wireMessage, 0, len(req.Messages))
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		wm := wireMessage{Role: m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
		contents[i] = m.Content
		// An assistant turn that only calls tools has null content.
		if m.Content != "" || len(m.ToolCalls) == 0 {
			wm.Content = &contents[i]
		}
		for _, tc := range m.ToolCalls {
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: tc.ID, Type: "function", Function: wireFunction{Name: tc.Name, Arguments: tc.Arguments}})
		}
		body.Messages = append(body.Messages, wm)
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, wireTool{Type: "function", Function: wireToolSpec{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}

	// The request's own fields win over the personality's parameters.
	body.Temperature = adv.Temperature
	if req.Temperature != nil {
		body.Temperature = req.Temperature
	}
	maxTokens := adv.MaxTokens
	if req.MaxTokens != nil {
		maxTokens = req.MaxTokens
	}
	level := adv.level()
	if maxTokens == nil && level != "" {
		b := budgetFor[level]
		maxTokens = &b
	}
	body.TopP, body.Seed = adv.TopP, adv.Seed
	body.FrequencyPenalty, body.PresencePenalty = adv.FrequencyPenalty, adv.PresencePenalty
	body.LogitBias, body.ResponseFormat = adv.LogitBias, adv.ResponseFormat

	// drop records a parameter this flavor does not take.
	drop := func(name string, set bool) bool {
		if set {
			dropped = append(dropped, name)
		}
		return !set
	}
	switch s.Flavor {
	case flavorOpenRouter:
		body.TopK, body.RepetitionPenalty, body.MinP, body.TopA = adv.TopK, adv.RepetitionPenalty, adv.MinP, adv.TopA
		body.Transforms, body.Route, body.Verbosity = adv.Transforms, adv.Route, adv.Verbosity
		body.MaxTokens = maxTokens
		if level != "" {
			body.Reasoning = &wireReasoning{Effort: openRouterEffort[level]}
		}
		if adv.Reasoning != nil && adv.Reasoning.Exclude != nil {
			if body.Reasoning == nil {
				body.Reasoning = &wireReasoning{}
			}
			body.Reasoning.Exclude = adv.Reasoning.Exclude
		}
	case flavorOpenAI:
		// OpenAI's reasoning models refuse max_tokens; max_completion_tokens
		// works for every current model.
		body.MaxCompletionTokens = maxTokens
		body.Verbosity = adv.Verbosity
		if level != "" {
			body.ReasoningEffort = openAIEffort[level]
		}
		drop("top_k", adv.TopK != nil)
		drop("repetition_penalty", adv.RepetitionPenalty != nil)
		drop("min_p", adv.MinP != nil)
		drop("top_a", adv.TopA != nil)
		drop("transforms", len(adv.Transforms) > 0)
		drop("route", adv.Route != "")
	case flavorLocal:
		body.TopK, body.RepetitionPenalty, body.MinP = adv.TopK, adv.RepetitionPenalty, adv.MinP
		body.MaxTokens = maxTokens
		if level != "" {
			body.ReasoningEffort = openAIEffort[level]
		}
		drop("top_a", adv.TopA != nil)
		drop("transforms", len(adv.Transforms) > 0)
		drop("route", adv.Route != "")
		drop("verbosity", adv.Verbosity != "")
	}
	if req.Stream {
		body.Stream = true
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return body, dropped, nil
}
