package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Defaults of the plugin's config (plugins.toml [plugins.anthropic.config]).
const (
	defaultBaseURL   = "https://api.anthropic.com"
	defaultMaxTokens = 4096
	// apiVersion is the anthropic-version header every request carries; the
	// request and response shapes here are that version's.
	apiVersion = "2023-06-01"
	// continuedText opens a conversation whose history starts with the
	// assistant: the Messages API wants the first turn to be the user's, and
	// refuses empty text.
	continuedText = "(continued)"
)

// settings is the plugin's config from plugins.toml.
type settings struct {
	BaseURL      string // e.g. https://api.anthropic.com, without /v1
	DefaultModel string
	MaxTokens    int // default_max_tokens
}

// newSettings reads the config through get (sdk.Config in the plugin).
func newSettings(get func(string) (string, bool)) (settings, error) {
	s := settings{BaseURL: defaultBaseURL, MaxTokens: defaultMaxTokens}
	if base, ok := get("base_url"); ok {
		s.BaseURL = strings.TrimRight(base, "/")
		// "…/v1" is a common way to write it; the paths below add /v1.
		s.BaseURL = strings.TrimSuffix(s.BaseURL, "/v1")
	}
	s.DefaultModel, _ = get("default_model")
	if v, ok := get("default_max_tokens"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("plugin config default_max_tokens %q is not a positive whole number", v)
		}
		s.MaxTokens = n
	}
	return s, nil
}

// httpRequest is a request to the API with the headers every call
// carries. The key is never in it: the host injects it into x-api-key,
// bare (no scheme), as Anthropic wants.
func (s settings) httpRequest(method, path string, body []byte) abi.HTTPRequest {
	r := abi.HTTPRequest{
		Method:  method,
		URL:     s.BaseURL + path,
		Headers: map[string]string{"Accept": "application/json", "anthropic-version": apiVersion},
		Auth:    &abi.Auth{Header: "x-api-key", Scheme: "-"},
	}
	if body != nil {
		r.Body = string(body)
		r.Headers["Content-Type"] = "application/json"
	}
	return r
}

// Wire types of the Messages API (request side).
type (
	messagesBody struct {
		Model         string
		MaxTokens     int
		System        string
		Messages      []wireMessage
		Temperature   *float64
		TopP          *float64
		TopK          *int
		StopSequences []string
		Budget        int // thinking budget_tokens; 0 leaves thinking out
		Tools         []abi.Tool
		Stream        bool
	}
	// wireMessage is one turn. Its content is Text (sent as a string)
	// unless it has Blocks (sent as content blocks).
	wireMessage struct {
		Role   string
		Text   string
		Blocks []wireBlock
	}
	// wireBlock is a text, tool_use or tool_result content block.
	wireBlock struct {
		Type      string
		Text      string          // text; tool_result's content
		ID        string          // tool_use id; tool_result's tool_use_id
		Name      string          // tool_use
		Input     json.RawMessage // tool_use, a JSON object
		IsToolRes bool
	}
)

// buildMessages turns a ChatRequest into the request body.
func (s settings) buildMessages(req abi.ChatRequest) (messagesBody, error) {
	var body messagesBody
	adv, err := parseAdvanced(req.AdvancedParameters)
	if err != nil {
		return body, err
	}
	p, err := makePlan(s.MaxTokens, req.Temperature, req.MaxTokens, adv)
	if err != nil {
		return body, err
	}
	body.Model = req.Model
	if body.Model == "" {
		body.Model = s.DefaultModel
	}
	if body.Model == "" {
		return body, fmt.Errorf("no model chosen and no default_model in plugins.toml")
	}
	body.MaxTokens, body.Budget = p.MaxTokens, p.Budget
	body.Temperature, body.TopP, body.TopK, body.StopSequences = p.Temperature, p.TopP, p.TopK, p.StopSequences
	body.Tools = req.Tools
	body.Stream = req.Stream

	var system []string
	for _, m := range req.Messages {
		switch m.Role {
		case abi.RoleSystem:
			if strings.TrimSpace(m.Content) != "" {
				system = append(system, m.Content)
			}
		case abi.RoleUser, abi.RoleAssistant, abi.RoleTool:
			if err := body.add(m); err != nil {
				return body, err
			}
		default:
			return body, fmt.Errorf("message role %q is not one of system, user, assistant, tool", m.Role)
		}
	}
	body.System = strings.Join(system, "\n\n")
	if len(body.Messages) == 0 {
		return body, fmt.Errorf("the conversation has no user or assistant messages")
	}
	if body.Messages[0].Role != abi.RoleAssistant {
		return body, nil
	}
	// The first turn must be the user's.
	body.Messages = append(body.Messages, wireMessage{})
	copy(body.Messages[1:], body.Messages)
	body.Messages[0] = wireMessage{Role: abi.RoleUser, Text: continuedText}
	return body, nil
}

// add appends m, merging it into the last turn when that has the same
// role: the Messages API wants user and assistant strictly alternating,
// and a tool result is a user turn there.
func (b *messagesBody) add(m abi.Message) error {
	role := m.Role
	var blocks []wireBlock
	switch {
	case m.Role == abi.RoleTool:
		role = abi.RoleUser
		blocks = []wireBlock{{Type: "tool_result", ID: m.ToolCallID, Text: m.Content, IsToolRes: true}}
	case len(m.ToolCalls) > 0:
		if strings.TrimSpace(m.Content) != "" {
			blocks = append(blocks, wireBlock{Type: "text", Text: m.Content})
		}
		for _, tc := range m.ToolCalls {
			input := json.RawMessage(tc.Arguments)
			if strings.TrimSpace(tc.Arguments) == "" {
				input = json.RawMessage(`{}`)
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(input, &obj) != nil || obj == nil {
				return fmt.Errorf("the arguments of tool call %q are not a JSON object", tc.Name)
			}
			blocks = append(blocks, wireBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
		}
	case strings.TrimSpace(m.Content) == "":
		return nil // the API refuses empty text; an empty turn says nothing
	}
	if n := len(b.Messages); n > 0 && b.Messages[n-1].Role == role {
		b.Messages[n-1].merge(m.Content, blocks)
		return nil
	}
	b.Messages = append(b.Messages, wireMessage{Role: role, Text: m.Content, Blocks: blocks})
	return nil
}

// merge appends a same-role turn: text to text joined by a blank line,
// anything with blocks as blocks.
func (w *wireMessage) merge(text string, blocks []wireBlock) {
	if w.Blocks == nil && blocks == nil {
		w.Text += "\n\n" + text
		return
	}
	if w.Blocks == nil {
		w.Blocks = []wireBlock{{Type: "text", Text: w.Text}}
		w.Text = ""
	}
	if blocks == nil {
		blocks = []wireBlock{{Type: "text", Text: text}}
	}
	// Tool results must come first in a user turn; a merged turn keeps
	// them ahead of any text.
	if blocks[0].IsToolRes {
		i := 0
		for i < len(w.Blocks) && w.Blocks[i].IsToolRes {
			i++
		}
		w.Blocks = append(w.Blocks[:i], append(blocks, w.Blocks[i:]...)...)
		return
	}
	w.Blocks = append(w.Blocks, blocks...)
}
