package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// OpenAIErrorBody is the error object of OpenAI's APIs (and of every server
// that copies them: OpenRouter, Ollama, vLLM, LM Studio, Speaches, LocalAI):
// {"error": {"message": "...", "type": "...", "code": ...}}. Code is a
// string at OpenAI and a number at OpenRouter, so it is kept raw.
//
// plugins/openai (chat), plugins/openai-speech (speech, transcription)
// and plugins/images (image generation) read it; the mapping to abi error
// codes is the same for every endpoint of the API, so it lives here once.
type OpenAIErrorBody struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// ParseOpenAIError reads body as {"error": {...}}, if it is one.
func ParseOpenAIError(body []byte) (*OpenAIErrorBody, bool) {
	var env struct {
		Error *OpenAIErrorBody `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return nil, false
	}
	return env.Error, true
}

// CodeText is the error's code as text: a JSON string unquoted, null as
// "", anything else (a number) as written.
func (e *OpenAIErrorBody) CodeText() string {
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	return string(e.Code)
}

// OpenAIError maps a non-2xx answer of an OpenAI-compatible API to a typed
// error: the code decides the words the user sees, the provider's own
// message (scrubbed of key-shaped text) says the rest. retryAfter is the
// Retry-After header ("" when absent): a rate limit says how long the
// provider asked to wait.
//
// insufficient_quota (a 429 at OpenAI) is no_credit, not rate_limited:
// waiting does not help. 401 and 403 are invalid_key, 402 no_credit, 429
// rate_limited, 408/504/524 timeout, other 5xx unavailable, and any other
// status bad_request (the provider refused what was asked: a model, a
// voice, a parameter).
func OpenAIError(status int, body []byte, retryAfter string) *abi.Error {
	msg := ""
	codeText := ""
	if e, ok := ParseOpenAIError(body); ok {
		msg, codeText = Scrub(e.Message), e.CodeText()+" "+e.Type
	} else if len(bytes.TrimSpace(body)) > 0 {
		msg = Snippet(body)
	}
	if msg == "" {
		msg = fmt.Sprintf("the provider answered HTTP %d", status)
	}
	e := &abi.Error{Message: msg, HTTPStatus: status}
	switch {
	case strings.Contains(codeText, "insufficient_quota"):
		// OpenAI says "no credit" with a 429.
		e.Code = abi.ErrNoCredit
	case strings.Contains(codeText, "content_filter") || strings.Contains(codeText, "content_policy"):
		e.Code = abi.ErrContent
	case status == 401 || status == 403:
		e.Code = abi.ErrInvalidKey
	case status == 402:
		e.Code = abi.ErrNoCredit
	case status == 429:
		e.Code, e.Retryable = abi.ErrRateLimited, true
		e.Message += WaitHint(retryAfter)
	case status == 408 || status == 504 || status == 524:
		e.Code, e.Retryable = abi.ErrTimeout, true
	case status >= 500:
		e.Code, e.Retryable = abi.ErrUnavailable, true
	default:
		e.Code = abi.ErrBadRequest
	}
	return e
}

// WaitHint is " (the provider asks to wait N s before trying again)" for a
// Retry-After header given in seconds, and "" for anything else (absent,
// an HTTP date: the host has already waited that out in its retries).
func WaitHint(retryAfter string) string {
	secs, err := strconv.Atoi(strings.TrimSpace(retryAfter))
	if err != nil || secs < 0 {
		return ""
	}
	return fmt.Sprintf(" (the provider asks to wait %d s before trying again)", secs)
}
