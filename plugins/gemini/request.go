package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/abijson"
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
		Tools    []abi.Tool // tools[0].functionDeclarations
		Plan     plan
	}
	// wireContent is one turn: role user or model, and its parts.
	wireContent struct {
		Role  string
		Parts []wirePart
	}
	// wirePart is one part: text, a functionCall (a model turn asking for a
	// tool) or a functionResponse (a user turn answering one).
	wirePart struct {
		Text     string
		Call     *wireCall
		Response *wireResponse
	}
	// wireCall is a functionCall: args is a JSON object.
	wireCall struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args,omitempty"`
	}
	// wireResponse is a functionResponse: response is a JSON object.
	wireResponse struct {
		ID       string
		Name     string
		Response []byte
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
	for _, t := range req.Tools {
		if t.Name == "" {
			return "", body, fmt.Errorf("a tool has no name")
		}
	}
	body.Tools = req.Tools
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
		case abi.RoleUser:
			body.add(m)
		case abi.RoleAssistant:
			if err := body.addAssistant(m); err != nil {
				return "", body, err
			}
		case abi.RoleTool:
			if err := body.addToolResult(m, req.Messages); err != nil {
				return "", body, err
			}
		default:
			return "", body, fmt.Errorf("message role %q is not one of system, user, assistant", m.Role)
		}
	}
	body.System = strings.Join(system, "\n\n")
	if len(body.Contents) == 0 {
		return "", body, fmt.Errorf("the conversation has no user or assistant messages")
	}
	if body.Contents[0].Role == "model" {
		body.Contents = append([]wireContent{{Role: "user", Parts: []wirePart{{Text: continuedText}}}}, body.Contents...)
	}
	return model, body, nil
}

// add appends m as a user or model turn (its text as one part), merging it
// into the last turn when that has the same role (Gemini wants the roles
// to alternate).
func (b *generateBody) add(m abi.Message) {
	if strings.TrimSpace(m.Content) == "" {
		return // an empty part is refused; an empty turn says nothing
	}
	role := "user"
	if m.Role == abi.RoleAssistant {
		role = "model"
	}
	b.addPart(role, wirePart{Text: m.Content})
}

// addPart appends a part to the last turn when it has role, else as a new
// turn. Two texts in a row are joined into one part.
func (b *generateBody) addPart(role string, p wirePart) {
	if n := len(b.Contents); n > 0 && b.Contents[n-1].Role == role {
		last := &b.Contents[n-1]
		if k := len(last.Parts); k > 0 && p.Call == nil && p.Response == nil && last.Parts[k-1].Call == nil && last.Parts[k-1].Response == nil {
			last.Parts[k-1].Text += "\n\n" + p.Text
			return
		}
		last.Parts = append(last.Parts, p)
		return
	}
	b.Contents = append(b.Contents, wireContent{Role: role, Parts: []wirePart{p}})
}

// addAssistant appends a model turn: its text, then a functionCall part for
// each tool call it made.
func (b *generateBody) addAssistant(m abi.Message) error {
	b.add(m)
	for _, tc := range m.ToolCalls {
		args := json.RawMessage(strings.TrimSpace(tc.Arguments))
		if len(args) == 0 {
			args = json.RawMessage(`{}`)
		}
		if !isJSONObject(args) {
			return fmt.Errorf("tool call %q: its arguments are not a JSON object", tc.Name)
		}
		call := &wireCall{Name: tc.Name, Args: args}
		if !strings.HasPrefix(tc.ID, syntheticIDPrefix) {
			call.ID = tc.ID // Gemini's own id goes back; one the plugin made up does not
		}
		b.addPart("model", wirePart{Call: call})
	}
	return nil
}

// addToolResult appends a tool message as a functionResponse part of a
// user turn. Gemini wants the function's name, which the ABI carries on
// the call: it is found by tool_call_id in the conversation.
func (b *generateBody) addToolResult(m abi.Message, all []abi.Message) error {
	name := m.Name
	for _, prev := range all {
		for _, tc := range prev.ToolCalls {
			if tc.ID == m.ToolCallID {
				name = tc.Name
			}
		}
	}
	if name == "" {
		return fmt.Errorf("tool result %q answers no tool call in the conversation", m.ToolCallID)
	}
	// response must be a JSON object: one is passed as it is, anything else
	// becomes {"output": "<the text>"} (the key Google's docs use).
	resp := []byte(strings.TrimSpace(m.Content))
	if !isJSONObject(resp) {
		resp = abijson.AppendString([]byte(`{"output":`), m.Content)
		resp = append(resp, '}')
	}
	r := &wireResponse{Name: name, Response: resp}
	if !strings.HasPrefix(m.ToolCallID, syntheticIDPrefix) {
		r.ID = m.ToolCallID
	}
	b.addPart("user", wirePart{Response: r})
	return nil
}

// syntheticIDPrefix starts the ToolCall ids the plugin makes up for
// functionCall parts that have none (Gemini 2.x sends none).
const syntheticIDPrefix = "gemini_call_"

func isJSONObject(b []byte) bool {
	var v map[string]json.RawMessage
	return len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &v) == nil
}
