package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// googleKey matches a Google API key (AIza followed by 35 characters),
// which provider.Scrub, written for sk- keys, does not know.
var googleKey = regexp.MustCompile(`AIza[0-9A-Za-z_\-]{8,}`)

// scrub removes anything key-like from text that came from the API.
func scrub(s string) string { return googleKey.ReplaceAllString(provider.Scrub(s), "AIza…") }

func snippet(b []byte) string { return scrub(provider.Snippet(b)) }

// finishReasons maps Gemini's finishReason to the ABI's finish reasons.
var finishReasons = map[string]string{
	"STOP":               "stop",
	"MAX_TOKENS":         "length",
	"SAFETY":             "content_filter",
	"RECITATION":         "content_filter",
	"BLOCKLIST":          "content_filter",
	"PROHIBITED_CONTENT": "content_filter",
	"SPII":               "content_filter",
	"IMAGE_SAFETY":       "content_filter",
}

func finishReason(stop string) string {
	if r, ok := finishReasons[stop]; ok {
		return r
	}
	return strings.ToLower(stop)
}

// toABI reports usage. promptTokenCount already includes the
// cachedContentTokenCount read from a context cache. candidatesTokenCount
// does not include thinking, so output is candidates + thoughts, and
// thoughtsTokenCount is reported as the reasoning part of it.
func (u *wireUsage) toABI(model string) abi.Usage {
	out := abi.Usage{Kind: abi.UsageText, Model: model}
	if u == nil {
		return out
	}
	out.InputTokens = u.PromptTokenCount
	out.OutputTokens = u.CandidatesTokenCount + u.ThoughtsTokenCount
	out.ReasoningTokens = u.ThoughtsTokenCount
	return out
}

// apiError maps Google's error object (status is the HTTP status, 0
// inside a stream; e may be nil when the body was not Google's JSON).
func apiError(status int, e *wireError, fallback string) *abi.Error {
	var code, msg, st string
	if e != nil {
		msg, st = e.Message, e.Status
		if status == 0 {
			status = e.Code
		}
	} else {
		msg = fallback
	}
	msg = scrub(msg)
	if msg == "" {
		msg = fmt.Sprintf("Gemini answered HTTP %d", status)
	}
	reason, retryDelay := details(e)
	out := &abi.Error{Message: msg, HTTPStatus: status}
	switch {
	case reason == "API_KEY_INVALID" || st == "UNAUTHENTICATED" || st == "PERMISSION_DENIED" || status == 401 || status == 403:
		code = abi.ErrInvalidKey
	case st == "RESOURCE_EXHAUSTED" || status == 429:
		code, out.Retryable = abi.ErrRateLimited, true
		if retryDelay != "" {
			out.Message += " (Gemini asks to wait " + retryDelay + " before trying again)"
		}
	case st == "DEADLINE_EXCEEDED" || status == 504:
		code, out.Retryable = abi.ErrTimeout, true
	case st == "INTERNAL" || st == "UNAVAILABLE" || status >= 500:
		code, out.Retryable = abi.ErrUnavailable, true
	default: // INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND
		code = abi.ErrBadRequest
	}
	out.Code = code
	return out
}

// details reads the google.rpc details Gemini attaches to an error:
// ErrorInfo.reason and RetryInfo.retryDelay ("12s").
func details(e *wireError) (reason, retryDelay string) {
	if e == nil {
		return "", ""
	}
	for _, d := range e.Details {
		typ, _ := d["@type"].(string)
		switch {
		case strings.HasSuffix(typ, "google.rpc.ErrorInfo"):
			reason, _ = d["reason"].(string)
		case strings.HasSuffix(typ, "google.rpc.RetryInfo"):
			retryDelay, _ = d["retryDelay"].(string)
		}
	}
	return reason, retryDelay
}

// httpError reads a non-2xx answer.
func httpError(status int, body []byte) *abi.Error {
	r, err := decodeResponse(body)
	if err == nil && r.Error != nil {
		return apiError(status, r.Error, "")
	}
	msg := ""
	if len(bytes.TrimSpace(body)) > 0 {
		msg = snippet(body)
	}
	return apiError(status, nil, msg)
}

func garbage(what string, body []byte) *abi.Error {
	return &abi.Error{
		Code:      abi.ErrUnavailable,
		Message:   fmt.Sprintf("Gemini sent %s that is not valid generateContent JSON: %s", what, snippet(body)),
		Retryable: true,
	}
}

// reply builds one ChatResponse from a whole response or stream events.
type reply struct {
	model     string
	text      strings.Builder
	reasoning strings.Builder
	stop      string // Gemini's finishReason
	usage     *wireUsage
	blocked   string // promptFeedback.blockReason
	calls     []abi.ToolCall
}

// apply takes one GenerateContentResponse (the whole reply, or one stream
// event) and returns the visible text it adds. Thought parts go to the
// reasoning only, never to the visible text.
func (r *reply) apply(resp *response) (visible string, perr *abi.Error) {
	if resp.Error != nil {
		return "", apiError(0, resp.Error, "")
	}
	if resp.ModelVersion != "" {
		r.model = resp.ModelVersion
	}
	if resp.UsageMetadata != nil {
		r.usage = resp.UsageMetadata // each event's counts are totals so far
	}
	if resp.PromptFeedback != nil && resp.PromptFeedback.BlockReason != "" {
		r.blocked = resp.PromptFeedback.BlockReason
	}
	if len(resp.Candidates) == 0 {
		return "", nil
	}
	c := &resp.Candidates[0]
	if c.FinishReason != "" {
		r.stop = c.FinishReason
	}
	if c.Content == nil {
		return "", nil
	}
	var vis strings.Builder
	for _, p := range c.Content.Parts {
		if fc := p.FunctionCall; fc != nil {
			r.calls = append(r.calls, toolCall(fc, len(r.calls)))
			continue
		}
		if p.Thought {
			r.reasoning.WriteString(p.Text)
			continue
		}
		r.text.WriteString(p.Text)
		vis.WriteString(p.Text)
	}
	return vis.String(), nil
}

// finish returns the response, or an error for a blocked prompt, a
// withheld reply, or a reply with no visible text (see docs/providers.md:
// a thinking-only reply).
func (r *reply) finish() (abi.ChatResponse, *abi.Error) {
	resp := abi.ChatResponse{
		Content:      strings.TrimRightFunc(r.text.String(), isSpace),
		Reasoning:    strings.TrimSpace(r.reasoning.String()),
		Model:        r.model,
		FinishReason: finishReason(r.stop),
		Usage:        r.usage.toABI(r.model),
		ToolCalls:    r.calls,
	}
	if len(r.calls) > 0 {
		// Gemini says STOP when it asks for a function; the ABI says
		// tool_calls, and a turn that only calls tools has no text.
		resp.FinishReason = "tool_calls"
		return resp, nil
	}
	if r.blocked != "" && strings.TrimSpace(resp.Content) == "" {
		return resp, &abi.Error{Code: abi.ErrContent, Message: "Gemini refused the conversation: its safety system blocked the prompt (blockReason " + r.blocked + "); rephrase it or change safety_settings"}
	}
	if strings.TrimSpace(resp.Content) != "" {
		return resp, nil
	}
	thought := resp.Reasoning != "" || (r.usage != nil && r.usage.ThoughtsTokenCount > 0)
	switch {
	case resp.FinishReason == "content_filter":
		return resp, &abi.Error{Code: abi.ErrContent, Message: "Gemini withheld its reply (finishReason " + r.stop + ")"}
	case thought:
		return resp, provider.ThoughtWithoutReply("Gemini", r.stop == "MAX_TOKENS", resp.Usage.OutputTokens, "finishReason", r.stop)
	}
	return resp, nil
}

// toolCall turns a functionCall part into an abi.ToolCall: its arguments as
// JSON text ({} when it has none) and its id, or one made up when Gemini
// sent none (2.x models do not), unique within the reply.
func toolCall(fc *wireCall, n int) abi.ToolCall {
	args := strings.TrimSpace(string(fc.Args))
	if args == "" || args == "null" {
		args = "{}"
	}
	id := fc.ID
	if id == "" {
		id = fmt.Sprintf("%s%d", syntheticIDPrefix, n)
	}
	return abi.ToolCall{ID: id, Name: fc.Name, Arguments: args}
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// parseGenerate reads a non-streaming response body.
func parseGenerate(body []byte, model string) (reply, *abi.Error) {
	m, err := decodeResponse(body)
	if err != nil {
		return reply{}, garbage("a response", body)
	}
	r := reply{model: model}
	if _, perr := r.apply(&m); perr != nil {
		return reply{}, perr
	}
	if r.stop == "" && r.blocked == "" {
		return reply{}, garbage("a response with no finishReason", body)
	}
	return r, nil
}

// validation maps validate_key's HTTP answer to an outcome.
func validation(status int, body []byte) abi.ValidateKeyResult {
	if status >= 200 && status <= 299 {
		return abi.ValidateKeyResult{Status: abi.KeyValid}
	}
	return provider.KeyCheckRefused("Gemini", status, httpError(status, body))
}
