package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// Wire types of the chat completions API (response side). Content and the
// reasoning fields are pointers only where null and "" differ; here they
// do not, so plain strings decode null as "".
type (
	completion struct {
		Model   string       `json:"model"`
		Choices []choice     `json:"choices"`
		Usage   *wireUsage   `json:"usage"`
		Error   *wireErrBody `json:"error"`
	}
	choice struct {
		Message      wireDelta `json:"message"`
		Delta        wireDelta `json:"delta"`
		FinishReason string    `json:"finish_reason"`
	}
	// wireDelta is a whole message (non-streaming) or a piece of one.
	wireDelta struct {
		Content          string         `json:"content"`
		Reasoning        string         `json:"reasoning"`         // OpenRouter
		ReasoningContent string         `json:"reasoning_content"` // DeepSeek, vLLM, LM Studio
		ToolCalls        []wireToolCall `json:"tool_calls"`
		Refusal          string         `json:"refusal"`
	}
	wireUsage struct {
		PromptTokens            int64 `json:"prompt_tokens"`
		CompletionTokens        int64 `json:"completion_tokens"`
		CompletionTokensDetails *struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	}
	// wireErrBody is OpenAI's error object, shared with openai-speech.
	wireErrBody = provider.OpenAIErrorBody
)

func (u *wireUsage) toABI(model string) abi.Usage {
	out := abi.Usage{Kind: abi.UsageText, Model: model}
	if u == nil {
		return out
	}
	// OpenAI's and OpenRouter's completion_tokens already include the
	// reasoning tokens, which is the ABI's meaning of output_tokens; the
	// reasoning count is reported beside it as a subset, never added.
	out.InputTokens, out.OutputTokens = u.PromptTokens, u.CompletionTokens
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

// inBodyError maps an error object a provider sent with a 200 status or
// inside a stream (OpenRouter does both); its code is often the status.
func inBodyError(e *wireErrBody) *abi.Error {
	status, _ := strconv.Atoi(e.CodeText())
	if status < 400 || status > 599 {
		status = 502
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return provider.OpenAIError(status, b, "")
}

func garbage(what string, body []byte) *abi.Error {
	return &abi.Error{
		Code:      abi.ErrUnavailable,
		Message:   fmt.Sprintf("the provider sent %s that is not valid chat completion JSON: %s", what, provider.Snippet(body)),
		Retryable: true,
	}
}

// parseCompletion turns a non-streaming response body into a ChatResponse.
func parseCompletion(body []byte, model string) (abi.ChatResponse, *abi.Error) {
	c, err := decodeCompletion(body)
	if err != nil {
		return abi.ChatResponse{}, garbage("a response", body)
	}
	if c.Error != nil {
		return abi.ChatResponse{}, inBodyError(c.Error)
	}
	if len(c.Choices) == 0 {
		return abi.ChatResponse{}, garbage("a response without choices", body)
	}
	if c.Model != "" {
		model = c.Model
	}
	ch := c.Choices[0]
	var acc accumulator
	acc.add(ch.Message, ch.FinishReason)
	for i, tc := range ch.Message.ToolCalls {
		acc.addToolCall(i, tc)
	}
	return acc.finish(model, c.Usage), nil
}

// accumulator builds one ChatResponse from a whole message or from stream
// deltas: visible text with <think>-style blocks moved to reasoning, the
// reasoning fields, tool calls assembled by index, the finish reason.
type accumulator struct {
	text         thinkSplitter
	reasoning    strings.Builder
	calls        []abi.ToolCall
	finishReason string
}

// add takes a message or delta and returns the newly visible text.
func (a *accumulator) add(d wireDelta, finish string) string {
	a.reasoning.WriteString(d.Reasoning)
	a.reasoning.WriteString(d.ReasoningContent)
	content := d.Content
	if content == "" {
		content = d.Refusal // a refusal is the reply the user should see
	}
	visible, thought := a.text.feed(content)
	a.reasoning.WriteString(thought)
	if finish != "" {
		a.finishReason = finish
	}
	return visible
}

// addToolCall merges a tool call (whole, or a streamed piece of one).
func (a *accumulator) addToolCall(pos int, tc wireToolCall) {
	i := pos
	if tc.Index != nil {
		i = *tc.Index
	}
	for len(a.calls) <= i {
		a.calls = append(a.calls, abi.ToolCall{})
	}
	c := &a.calls[i]
	if tc.ID != "" {
		c.ID = tc.ID
	}
	c.Name += tc.Function.Name
	c.Arguments += tc.Function.Arguments
}

// flush ends the text and returns what was still held back.
func (a *accumulator) flush() string {
	visible, thought := a.text.flush()
	a.reasoning.WriteString(thought)
	return visible
}

func (a *accumulator) finish(model string, u *wireUsage) abi.ChatResponse {
	a.flush()
	r := abi.ChatResponse{
		Content:      strings.TrimRightFunc(a.text.visible.String(), isSpace),
		Reasoning:    strings.TrimSpace(a.reasoning.String()),
		Model:        model,
		FinishReason: a.finishReason,
		Usage:        u.toABI(model),
	}
	for _, c := range a.calls {
		if c.Name != "" || c.ID != "" {
			r.ToolCalls = append(r.ToolCalls, c)
		}
	}
	if r.FinishReason == "function_call" {
		r.FinishReason = "tool_calls"
	}
	return r
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// validation maps validate_key's HTTP answer to an outcome.
func validation(flavor string, status int, body []byte) abi.ValidateKeyResult {
	switch {
	case status == 401 || status == 403:
		return abi.ValidateKeyResult{Status: abi.KeyInvalid, Message: provider.OpenAIError(status, body, "").Message}
	case status == 402:
		return abi.ValidateKeyResult{Status: abi.KeyNoCredit, Message: provider.OpenAIError(status, body, "").Message}
	case status == 429:
		e := provider.OpenAIError(status, body, "")
		if e.Code == abi.ErrNoCredit {
			return abi.ValidateKeyResult{Status: abi.KeyNoCredit, Message: e.Message}
		}
		// Rate limited means the key was accepted.
		return abi.ValidateKeyResult{Status: abi.KeyValid, Message: "the key works (the provider is rate limiting it right now)"}
	case status >= 500 || status == 408:
		return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: provider.OpenAIError(status, body, "").Message}
	case status < 200 || status > 299:
		// Anything else means the check itself is wrong (base_url?), not the key.
		return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: fmt.Sprintf("unexpected HTTP %d from the provider: %s", status, provider.Snippet(body))}
	}
	if flavor != flavorOpenRouter {
		return abi.ValidateKeyResult{Status: abi.KeyValid}
	}
	// OpenRouter's /auth/key: {"data":{"limit_remaining": number|null, ...}};
	// null means no limit.
	var info struct {
		Data *struct {
			LimitRemaining *float64 `json:"limit_remaining"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Data == nil {
		return abi.ValidateKeyResult{Status: abi.KeyUnreachable, Message: "OpenRouter sent an answer that is not key information: " + provider.Snippet(body)}
	}
	if l := info.Data.LimitRemaining; l != nil && *l <= 0 {
		return abi.ValidateKeyResult{Status: abi.KeyNoCredit, Message: "the key has no credit left (limit_remaining is 0)"}
	}
	return abi.ValidateKeyResult{Status: abi.KeyValid}
}
