package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The API's request and response JSON, written and read without
// reflection (encoding/json costs about 0.3 ms per request or reply in a
// plugin; docs/performance.md). Anything unusual in a response goes to
// encoding/json, which gives the same value or the right error.

// appendGenerateBody appends the generateContent request body for b.
func appendGenerateBody(dst []byte, b *generateBody) ([]byte, error) {
	var err error
	dst = append(dst, `{"contents":[`...)
	for i, c := range b.Contents {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"role":`...)
		dst = abijson.AppendString(dst, c.Role)
		dst = append(dst, `,"parts":[`...)
		for j, p := range c.Parts {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendPart(dst, p)
		}
		dst = append(dst, `]}`...)
	}
	dst = append(dst, ']')
	if len(b.Tools) > 0 {
		dst = append(dst, `,"tools":[{"functionDeclarations":[`...)
		for i, t := range b.Tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = abijson.AppendString(dst, t.Name)
			if t.Description != "" {
				dst = append(dst, `,"description":`...)
				dst = abijson.AppendString(dst, t.Description)
			}
			if len(t.Parameters) > 0 {
				// A JSON Schema: parametersJsonSchema takes it as it is
				// (parameters takes only Google's OpenAPI subset).
				var compact bytes.Buffer
				if err := json.Compact(&compact, t.Parameters); err != nil {
					return dst, fmt.Errorf("tool %q: parameters: %w", t.Name, err)
				}
				dst = append(dst, `,"parametersJsonSchema":`...)
				dst = append(dst, compact.Bytes()...)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, `]}]`...)
	}
	if b.System != "" {
		dst = append(dst, `,"systemInstruction":{"parts":[{"text":`...)
		dst = abijson.AppendString(dst, b.System)
		dst = append(dst, `}]}`...)
	}
	p := &b.Plan
	if len(p.Safety) > 0 {
		dst = append(dst, `,"safetySettings":[`...)
		for i, s := range p.Safety {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"category":`...)
			dst = abijson.AppendString(dst, s.Category)
			dst = append(dst, `,"threshold":`...)
			dst = abijson.AppendString(dst, s.Threshold)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	// One candidate: the ABI has one reply.
	dst = append(dst, `,"generationConfig":{"candidateCount":1`...)
	if dst, err = abijson.AppendOptFloat(dst, "temperature", p.Temperature); err != nil {
		return dst, err
	}
	if dst, err = abijson.AppendOptFloat(dst, "topP", p.TopP); err != nil {
		return dst, err
	}
	dst = abijson.AppendOptInt(dst, "topK", p.TopK)
	dst = abijson.AppendOptInt(dst, "maxOutputTokens", p.MaxOutputTokens)
	if len(p.StopSequences) > 0 {
		dst = append(dst, `,"stopSequences":[`...)
		for i, s := range p.StopSequences {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = abijson.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	if p.ThinkingLevel != "" || p.ThinkingBudget != nil || p.IncludeThoughts {
		dst = append(dst, `,"thinkingConfig":{"includeThoughts":`...)
		dst = strconv.AppendBool(dst, p.IncludeThoughts)
		if p.ThinkingLevel != "" {
			dst = append(dst, `,"thinkingLevel":`...)
			dst = abijson.AppendString(dst, p.ThinkingLevel)
		}
		dst = abijson.AppendOptInt(dst, "thinkingBudget", p.ThinkingBudget)
		dst = append(dst, '}')
	}
	return append(dst, '}', '}'), nil
}

// appendPart appends one part of a turn.
func appendPart(dst []byte, p wirePart) []byte {
	switch {
	case p.Call != nil:
		dst = append(dst, `{"functionCall":{`...)
		if p.Call.ID != "" {
			dst = append(dst, `"id":`...)
			dst = abijson.AppendString(dst, p.Call.ID)
			dst = append(dst, ',')
		}
		dst = append(dst, `"name":`...)
		dst = abijson.AppendString(dst, p.Call.Name)
		dst = append(dst, `,"args":`...)
		dst = append(dst, p.Call.Args...)
		return append(dst, `}}`...)
	case p.Response != nil:
		dst = append(dst, `{"functionResponse":{`...)
		if p.Response.ID != "" {
			dst = append(dst, `"id":`...)
			dst = abijson.AppendString(dst, p.Response.ID)
			dst = append(dst, ',')
		}
		dst = append(dst, `"name":`...)
		dst = abijson.AppendString(dst, p.Response.Name)
		dst = append(dst, `,"response":`...)
		dst = append(dst, p.Response.Response...)
		return append(dst, `}}`...)
	}
	dst = append(dst, `{"text":`...)
	dst = abijson.AppendString(dst, p.Text)
	return append(dst, '}')
}

// Wire types of GenerateContentResponse (also each stream event) and of
// Google's error body, which shares the decoder: {"error":{...}}.
type (
	response struct {
		Candidates     []candidate `json:"candidates"`
		PromptFeedback *feedback   `json:"promptFeedback"`
		UsageMetadata  *wireUsage  `json:"usageMetadata"`
		ModelVersion   string      `json:"modelVersion"`
		Error          *wireError  `json:"error"`
	}
	candidate struct {
		Content      *content `json:"content"`
		FinishReason string   `json:"finishReason"`
	}
	content struct {
		Parts []part `json:"parts"`
	}
	part struct {
		Text         string    `json:"text"`
		Thought      bool      `json:"thought"`
		FunctionCall *wireCall `json:"functionCall"`
	}
	feedback struct {
		BlockReason string `json:"blockReason"`
	}
	wireUsage struct {
		PromptTokenCount        int64 `json:"promptTokenCount"`
		CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
		CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	}
	wireError struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	}
)

var (
	responseFields  = []string{"candidates", "promptFeedback", "usageMetadata", "modelVersion", "error"}
	candidateFields = []string{"content", "finishReason"}
	contentFields   = []string{"parts"}
	partFields      = []string{"text", "thought", "functionCall"}
	feedbackFields  = []string{"blockReason"}
	usageFields     = []string{"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount"}
)

// decodeResponse returns what json.Unmarshal gives for body into a zero
// response. An error body (rare) always takes the encoding/json path,
// for its free-form details.
func decodeResponse(body []byte) (response, error) {
	d := abijson.NewDecoder(body)
	var r response
	slow := readResponse(d, &r)
	if slow || d.End() != nil {
		r = response{}
		return r, json.Unmarshal(body, &r)
	}
	return r, nil
}

func readResponse(d *abijson.Decoder, r *response) (slow bool) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "candidates":
			d.Once(&seen, 0)
			r.Candidates = abijson.Slice(d, readCandidate)
		case "promptFeedback":
			d.Once(&seen, 1)
			if !d.Null() {
				r.PromptFeedback = &feedback{}
				for k := range d.Object() {
					if k == "blockReason" {
						r.PromptFeedback.BlockReason = d.String()
					} else {
						d.Unknown(k, feedbackFields...)
					}
				}
			}
		case "usageMetadata":
			d.Once(&seen, 2)
			if !d.Null() {
				r.UsageMetadata = &wireUsage{}
				readUsage(d, r.UsageMetadata)
			}
		case "modelVersion":
			d.Once(&seen, 3)
			r.ModelVersion = d.String()
		case "error":
			d.Skip()
			slow = true
		default:
			d.Unknown(key, responseFields...)
		}
	}
	return slow
}

func readCandidate(d *abijson.Decoder, c *candidate) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "content":
			d.Once(&seen, 0)
			if d.Null() {
				continue
			}
			c.Content = &content{}
			for k := range d.Object() {
				if k != "parts" {
					d.Unknown(k, contentFields...)
					continue
				}
				if d.Null() {
					continue
				}
				c.Content.Parts = []part{}
				for range d.Array() {
					c.Content.Parts = append(c.Content.Parts, part{})
					readPart(d, &c.Content.Parts[len(c.Content.Parts)-1])
				}
			}
		case "finishReason":
			d.Once(&seen, 1)
			c.FinishReason = d.String()
		default:
			d.Unknown(key, candidateFields...)
		}
	}
}

func readPart(d *abijson.Decoder, p *part) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "text":
			d.Once(&seen, 0)
			p.Text = d.String()
		case "thought":
			d.Once(&seen, 1)
			p.Thought = d.Bool()
		case "functionCall":
			// Rare (a tool call): the whole document goes to encoding/json.
			d.Unknown(key, key)
		default:
			d.Unknown(key, partFields...)
		}
	}
}

func readUsage(d *abijson.Decoder, u *wireUsage) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "promptTokenCount":
			d.Once(&seen, 0)
			u.PromptTokenCount = d.Int()
		case "candidatesTokenCount":
			d.Once(&seen, 1)
			u.CandidatesTokenCount = d.Int()
		case "thoughtsTokenCount":
			d.Once(&seen, 2)
			u.ThoughtsTokenCount = d.Int()
		case "cachedContentTokenCount":
			d.Once(&seen, 3)
			u.CachedContentTokenCount = d.Int()
		default:
			d.Unknown(key, usageFields...)
		}
	}
}

var advancedFields = []string{"temperature", "top_p", "top_k", "max_tokens", "stop_sequences", "thinking", "thinking_level", "thinking_budget", "reasoning", "safety_settings"}

// decodeAdvanced reads a personality's advanced_parameters (sent with
// every call). reasoning is a string or an object. Anything unusual (and
// every type error, whose message names the field) goes to slowAdvanced.
func decodeAdvanced(raw []byte) (advanced, error) {
	d := abijson.NewDecoder(raw)
	var a advanced
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "temperature":
			d.Once(&seen, 0)
			a.Temperature = d.OptFloat()
		case "top_p":
			d.Once(&seen, 1)
			a.TopP = d.OptFloat()
		case "top_k":
			d.Once(&seen, 2)
			a.TopK = d.OptInt()
		case "max_tokens":
			d.Once(&seen, 3)
			a.MaxTokens = d.OptInt()
		case "stop_sequences":
			d.Once(&seen, 4)
			a.StopSequences = d.Strings()
		case "thinking":
			d.Once(&seen, 5)
			a.Thinking = d.String()
		case "thinking_level":
			d.Once(&seen, 6)
			a.ThinkingLevel = d.String()
		case "thinking_budget":
			d.Once(&seen, 7)
			a.ThinkingBudget = d.OptInt()
		case "reasoning", "safety_settings":
			// Rare and varied: encoding/json reads the whole document.
			return slowAdvanced(raw)
		default:
			return advanced{}, unknownParameter(key)
		}
	}
	if d.End() != nil {
		return slowAdvanced(raw)
	}
	return a, nil
}

func unknownParameter(key string) error {
	return fmt.Errorf("%s: is not a Gemini parameter (known: %s)", key, strings.Join(advancedFields, ", "))
}

// slowAdvanced is decodeAdvanced by encoding/json, for the documents
// abijson hands over (and for its errors, which name the field).
func slowAdvanced(raw []byte) (advanced, error) {
	var a advanced
	// A misspelt parameter would be silently ignored by encoding/json; it
	// is refused, like the schema does (additionalProperties false).
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err == nil {
		for k := range keys {
			if !slices.Contains(advancedFields, k) {
				return advanced{}, unknownParameter(k)
			}
		}
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return advanced{}, err
	}
	var r struct {
		Reasoning json.RawMessage `json:"reasoning"`
	}
	_ = json.Unmarshal(raw, &r)
	switch {
	case len(r.Reasoning) == 0 || string(r.Reasoning) == "null":
	case r.Reasoning[0] == '"':
		if err := json.Unmarshal(r.Reasoning, &a.ReasoningLevel); err != nil {
			return advanced{}, err
		}
	case r.Reasoning[0] == '{':
		a.Reasoning = &provider.Reasoning{}
		if err := json.Unmarshal(r.Reasoning, a.Reasoning); err != nil {
			return advanced{}, fmt.Errorf("reasoning: %w", err)
		}
	default:
		return advanced{}, fmt.Errorf("reasoning must be a level (off, low, medium, high) or an object, not %s", r.Reasoning)
	}
	return a, nil
}
