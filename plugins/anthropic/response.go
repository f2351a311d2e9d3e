package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// finishReasons maps Anthropic's stop_reason to the ABI's finish reasons.
var finishReasons = map[string]string{
	"end_turn":                      "stop",
	"stop_sequence":                 "stop",
	"pause_turn":                    "stop",
	"max_tokens":                    "length",
	"model_context_window_exceeded": "length",
	"tool_use":                      "tool_calls",
	"refusal":                       "content_filter",
}

func finishReason(stop string) string {
	if r, ok := finishReasons[stop]; ok {
		return r
	}
	return stop
}

// toABI reports usage. The ABI has one input count, so prompt tokens
// written to or read from Anthropic's prompt cache are included in
// InputTokens (Anthropic's input_tokens counts only the uncached rest).
// output_tokens already includes thinking; Anthropic does not say how
// much of it was thinking, so ReasoningTokens stays 0.
func (u *wireUsage) toABI(model string) abi.Usage {
	out := abi.Usage{Kind: abi.UsageText, Model: model}
	if u == nil {
		return out
	}
	out.InputTokens = u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	out.OutputTokens = u.OutputTokens
	return out
}

// update takes the counts of a later event (message_delta's are
// cumulative): a count it carries replaces the earlier one.
func (u *wireUsage) update(v *wireUsage) {
	if v.InputTokens > 0 {
		u.InputTokens = v.InputTokens
	}
	if v.OutputTokens > 0 {
		u.OutputTokens = v.OutputTokens
	}
	if v.CacheCreationInputTokens > 0 {
		u.CacheCreationInputTokens = v.CacheCreationInputTokens
	}
	if v.CacheReadInputTokens > 0 {
		u.CacheReadInputTokens = v.CacheReadInputTokens
	}
}

// apiError maps an Anthropic error to a typed error. typ is the error
// object's type ("" when the body was not Anthropic's error JSON), status
// the HTTP status (0 inside a stream), retryAfter the Retry-After header.
func apiError(status int, typ, msg, retryAfter string) *abi.Error {
	msg = provider.Scrub(msg)
	if msg == "" {
		msg = fmt.Sprintf("Anthropic answered HTTP %d", status)
	}
	e := &abi.Error{Message: msg, HTTPStatus: status}
	lower := strings.ToLower(msg)
	switch {
	case typ == "overloaded_error" || status == 529:
		e.Code, e.Retryable = abi.ErrUnavailable, true
		if e.HTTPStatus == 0 {
			e.HTTPStatus = 529
		}
		e.Message = "Anthropic is overloaded right now (" + msg + ")"
	case typ == "rate_limit_error" || status == 429:
		e.Code, e.Retryable = abi.ErrRateLimited, true
		if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs >= 0 {
			e.Message += fmt.Sprintf(" (Anthropic asks to wait %d s before trying again)", secs)
		}
	case typ == "billing_error" || status == 402 || strings.Contains(lower, "credit balance"):
		e.Code = abi.ErrNoCredit
	case typ == "authentication_error" || typ == "permission_error" || status == 401 || status == 403:
		e.Code = abi.ErrInvalidKey
	case typ == "timeout_error" || status == 504 || status == 408:
		e.Code, e.Retryable = abi.ErrTimeout, true
	case typ == "api_error" || status >= 500:
		e.Code, e.Retryable = abi.ErrUnavailable, true
	default: // invalid_request_error, not_found_error, request_too_large
		e.Code = abi.ErrBadRequest
	}
	return e
}

// httpError reads a non-2xx answer.
func httpError(status int, headers map[string]string, body []byte) *abi.Error {
	ev, err := decodeEvent(body)
	if err == nil && ev.Error != nil {
		return apiError(status, ev.Error.Type, ev.Error.Message, headers["retry-after"])
	}
	msg := ""
	if len(bytes.TrimSpace(body)) > 0 {
		msg = provider.Snippet(body)
	}
	return apiError(status, "", msg, headers["retry-after"])
}

func garbage(what string, body []byte) *abi.Error {
	return &abi.Error{
		Code:      abi.ErrUnavailable,
		Message:   fmt.Sprintf("Anthropic sent %s that is not valid Messages API JSON: %s", what, provider.Snippet(body)),
		Retryable: true,
	}
}

// reply builds one ChatResponse from a whole message's content blocks or
// from stream events.
type reply struct {
	model     string
	text      strings.Builder
	reasoning strings.Builder
	blocks    map[int]*openBlock // stream: blocks by index
	calls     []abi.ToolCall
	stop      string
	usage     wireUsage
	redacted  bool
}

// openBlock is a content block being streamed.
type openBlock struct {
	kind string
	call int // index into calls for tool_use
}

// start begins a content block (the whole block when not streaming) and
// returns the visible text it already carries.
func (r *reply) start(index int, b *block) (visible string) {
	switch b.Type {
	case "text":
		r.text.WriteString(b.Text)
		visible = b.Text
	case "thinking":
		r.think(b.Thinking)
	case "redacted_thinking":
		r.redacted = true
	case "tool_use":
		args := string(b.Input)
		if args == "{}" || args == "null" {
			args = "" // streamed: the input arrives as input_json_delta
		}
		r.calls = append(r.calls, abi.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
	}
	if r.blocks == nil {
		r.blocks = map[int]*openBlock{}
	}
	r.blocks[index] = &openBlock{kind: b.Type, call: len(r.calls) - 1}
	return visible
}

// think adds reasoning text (stopBlock puts a blank line between thinking
// blocks).
func (r *reply) think(s string) {
	if s == "" {
		return
	}
	r.reasoning.WriteString(s)
}

// delta applies a content_block_delta and returns newly visible text.
func (r *reply) delta(index int, d *delta) (visible string, err *abi.Error) {
	ob := r.blocks[index]
	if ob == nil {
		return "", garbage("a content_block_delta for a block that never started", []byte(strconv.Itoa(index)))
	}
	switch d.Type {
	case "text_delta":
		r.text.WriteString(d.Text)
		return d.Text, nil
	case "thinking_delta":
		r.think(d.Thinking)
	case "input_json_delta":
		if ob.kind == "tool_use" && ob.call >= 0 {
			r.calls[ob.call].Arguments += d.PartialJSON
		}
	}
	// signature_delta carries the thinking block's signature, which only
	// matters when the block is sent back; the ABI history has no place
	// for it, so it is dropped.
	return "", nil
}

// stopBlock ends a content block.
func (r *reply) stopBlock(index int) {
	ob := r.blocks[index]
	if ob == nil {
		return
	}
	if ob.kind == "thinking" && r.reasoning.Len() > 0 {
		r.reasoning.WriteString("\n\n")
	}
	if ob.kind == "tool_use" && ob.call >= 0 && r.calls[ob.call].Arguments == "" {
		r.calls[ob.call].Arguments = "{}"
	}
}

// finish returns the response, or an error for a reply with no visible
// text and no tool call (see docs/providers.md: a thinking-only reply).
func (r *reply) finish() (abi.ChatResponse, *abi.Error) {
	resp := abi.ChatResponse{
		Content:      strings.TrimRightFunc(r.text.String(), isSpace),
		Reasoning:    strings.TrimSpace(r.reasoning.String()),
		Model:        r.model,
		FinishReason: finishReason(r.stop),
		ToolCalls:    r.calls,
		Usage:        r.usage.toABI(r.model),
	}
	if strings.TrimSpace(resp.Content) != "" || len(resp.ToolCalls) > 0 {
		return resp, nil
	}
	thought := resp.Reasoning != "" || r.redacted
	switch {
	case r.stop == "refusal":
		return resp, &abi.Error{Code: abi.ErrContent, Message: "Claude declined to answer this conversation (stop_reason refusal)"}
	case thought:
		outOfTokens := r.stop == "max_tokens" || r.stop == "model_context_window_exceeded"
		return resp, provider.ThoughtWithoutReply("Claude", outOfTokens, int64(r.usage.OutputTokens), "stop_reason", r.stop)
	}
	return resp, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// parseMessage reads a non-streaming response body.
func parseMessage(body []byte, model string) (reply, *abi.Error) {
	m, err := decodeEvent(body)
	if err != nil {
		return reply{}, garbage("a response", body)
	}
	if m.Error != nil {
		return reply{}, apiError(0, m.Error.Type, m.Error.Message, "")
	}
	if m.Type != "message" {
		return reply{}, garbage("a response", body)
	}
	r := reply{model: model, stop: m.StopReason}
	if m.Model != "" {
		r.model = m.Model
	}
	for i := range m.Content {
		r.start(i, &m.Content[i])
		r.stopBlock(i)
	}
	if m.Usage != nil {
		r.usage = *m.Usage
	}
	return r, nil
}

// validation maps validate_key's HTTP answer to an outcome.
func validation(status int, headers map[string]string, body []byte) abi.ValidateKeyResult {
	if status >= 200 && status <= 299 {
		return abi.ValidateKeyResult{Status: abi.KeyValid}
	}
	return provider.KeyCheckRefused("Anthropic", status, httpError(status, headers, body))
}
