package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// who names the provider in messages a user reads.
const who = "the image provider"

// errNoData is the cause when an images answer has an entry with neither
// b64_json nor url.
var errNoData = errors.New("an entry without image data")

// notAnAnswer is the error for a 2xx answer that is not the JSON the API
// sends (a proxy page, a truncated body): retryable, since the next
// answer may be whole.
func notAnAnswer(status int, what string, raw []byte) *abi.Error {
	return &abi.Error{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: status,
		Message: who + " sent an answer that is not " + what + ": " + provider.Snippet(raw)}
}

// blockedReasons are the finish reasons by which a model (or the provider
// in front of it) says it would not make an image: OpenAI-style
// content_filter, and Gemini's own reasons that OpenRouter passes on as
// native_finish_reason (IMAGE_SAFETY, PROHIBITED_CONTENT, SAFETY,
// BLOCKLIST, SPII).
var blockedReasons = []string{"SAFETY", "PROHIBITED", "BLOCKLIST", "SPII", "CONTENT_FILTER"}

// noImage is the error for a 200 without an image. A refusal (a blocked
// finish reason, a refusal field) is content_filter: the provider's own
// judgement, which the user reads with the model's words. Anything else is
// a model that answered in text only (a text model chosen as image model,
// or an image model that chose to talk): not retried, since it answers
// the same way again.
func noImage(model, finish, native, text string, refusal *string) *abi.Error {
	said := ""
	if refusal != nil && strings.TrimSpace(*refusal) != "" {
		said = strings.TrimSpace(*refusal)
	} else if text != "" {
		said = text
	}
	quote := ""
	if said != "" {
		quote = ": " + provider.Snippet([]byte(said))
	}
	reason := strings.ToUpper(finish + " " + native)
	blocked := refusal != nil && strings.TrimSpace(*refusal) != ""
	for _, r := range blockedReasons {
		if strings.Contains(reason, r) {
			blocked = true
		}
	}
	if blocked {
		why := strings.TrimSpace(native)
		if why == "" {
			why = finish
		}
		msg := model + " refused to make this image"
		if why != "" {
			msg += " (" + why + ")"
		}
		return &abi.Error{Code: abi.ErrContent, Message: msg + quote}
	}
	return &abi.Error{Code: abi.ErrUnavailable, Message: model + " answered without an image" + quote +
		" (if this keeps happening, check that the model makes images)"}
}

// badImage is the error for an image in a 200 answer that cannot be used.
func badImage(i, n int, err error) *abi.Error {
	which := "the image"
	if n > 1 {
		which = fmt.Sprintf("image %d of %d", i+1, n)
	}
	return &abi.Error{Code: abi.ErrUnavailable, Message: who + " sent " + which + " as " + err.Error()}
}

// providerError maps a non-2xx answer: OpenAI's error shape as for chat
// (sdk/provider.OpenAIError), except OpenRouter's moderation refusal, a
// 403 whose error carries metadata.reasons (or says the input was
// flagged): that is the prompt refused, not the key, so content_filter.
func providerError(status int, body []byte, retryAfter string) *abi.Error {
	e := provider.OpenAIError(status, body, retryAfter)
	if status == 403 && flagged(body) {
		e.Code = abi.ErrContent
	}
	return e
}

// flagged reports OpenRouter's answer for input its moderation flagged:
// {"error": {"code": 403, "message": "… flagged …", "metadata":
// {"reasons": […], "flagged_input": "…"}}}.
func flagged(body []byte) bool {
	var env struct {
		Error *struct {
			Message  string `json:"message"`
			Metadata *struct {
				Reasons []string `json:"reasons"`
			} `json:"metadata"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return false
	}
	return (env.Error.Metadata != nil && len(env.Error.Metadata.Reasons) > 0) ||
		strings.Contains(strings.ToLower(env.Error.Message), "flagged")
}
