//go:build wasip1

// Command anthropic is tzurot's provider plugin for Anthropic's Messages
// API (Claude), with extended thinking and streaming.
//
// It never sees a user's key: every API request asks the host to inject
// the key into the x-api-key header (abi.Auth), and it never imports
// net/http: all I/O goes through the host's HTTP functions.
package main

import (
	"encoding/json"
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

func config() (settings, error) {
	s, err := newSettings(sdk.Config)
	if err != nil {
		return s, sdk.Errorf(abi.ErrInternal, "%v", err)
	}
	return s, nil
}

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:             "anthropic",
		Version:          version,
		Summary:          "Chat with Anthropic's Claude models (Messages API), with extended thinking.",
		Capabilities:     []string{abi.CapChat, abi.CapValidateKey, abi.CapModels},
		NeedsKey:         true,
		NeedsNetwork:     true,
		ParametersSchema: json.RawMessage(parametersSchema),
	})
}

//go:wasmexport chat
func chat() int32 {
	return sdk.Handle(func(req abi.ChatRequest) (abi.ChatResponse, error) {
		s, err := config()
		if err != nil {
			return abi.ChatResponse{}, err
		}
		// Every rule the API would refuse is checked here, before a call.
		body, err := s.buildMessages(req)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		raw, err := appendMessagesBody(make([]byte, 0, requestSize(req)), &body)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "encode request: %v", err)
		}
		httpReq := s.httpRequest("POST", "/v1/messages", raw)

		var (
			r    reply
			perr *abi.Error
		)
		if req.Stream {
			httpReq.Headers["Accept"] = "text/event-stream"
			r, perr = streamMessages(httpReq, body.Model)
		} else {
			r, perr = plainMessages(httpReq, body.Model)
		}
		if perr != nil {
			return abi.ChatResponse{}, perr
		}
		resp, perr := r.finish()
		// The tokens were spent whether or not the reply is usable.
		sdk.RecordSpentUsage(resp.Usage)
		if perr != nil {
			return abi.ChatResponse{}, perr
		}
		return resp, nil
	})
}

// requestSize guesses the encoded size of the request for req, so its
// buffer is allocated once.
func requestSize(req abi.ChatRequest) int {
	n := 256 + len(req.Model)
	for _, m := range req.Messages {
		n += 48 + len(m.Role) + len(m.Content)
	}
	return n + n/16
}

func plainMessages(req abi.HTTPRequest, model string) (reply, *abi.Error) {
	res, err := sdk.HTTP(req)
	if err != nil {
		return reply{}, sdk.AsError(err)
	}
	if !res.OK() {
		return reply{}, httpError(res.Status, res.Headers, res.Body)
	}
	return parseMessage(res.Body, model)
}

// streamMessages reads the SSE stream, emitting visible text as it
// arrives. Only message_stop ends it well: a stream that stops before
// (the connection dropped between events) is an error, not a short reply.
func streamMessages(req abi.HTTPRequest, model string) (reply, *abi.Error) {
	s, err := sdk.Stream(req)
	if err != nil {
		return reply{}, sdk.AsError(err)
	}
	defer s.Close()
	if !s.OK() {
		return reply{}, httpError(s.Status, s.Headers, []byte(s.Body))
	}
	if ct := s.Headers["content-type"]; ct != "" && !strings.Contains(ct, "event-stream") {
		return reply{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "Anthropic sent a response that is not an event stream (content-type " + ct + ")"}
	}
	r := reply{model: model}
	done := false
	for !done && s.Next() {
		data := s.Event().Data
		ev, err := decodeEvent([]byte(data))
		if err != nil {
			return reply{}, garbage("a stream event", []byte(data))
		}
		if perr := r.apply(&ev); perr != nil {
			return reply{}, perr
		}
		done = ev.Type == "message_stop"
	}
	if err := s.Err(); err != nil {
		return reply{}, sdk.AsError(err)
	}
	if !done {
		return reply{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "Anthropic's stream ended before the reply was complete (no message_stop)"}
	}
	return r, nil
}

// apply takes one stream event, emitting the visible text it carries.
func (r *reply) apply(ev *event) *abi.Error {
	switch ev.Type {
	case "message_start":
		if m := ev.Message; m != nil {
			if m.Model != "" {
				r.model = m.Model
			}
			if m.Usage != nil {
				r.usage = *m.Usage
			}
		}
	case "content_block_start":
		if ev.ContentBlock != nil {
			sdk.Emit(r.start(ev.Index, ev.ContentBlock))
		}
	case "content_block_delta":
		if ev.Delta != nil {
			text, perr := r.delta(ev.Index, ev.Delta)
			if perr != nil {
				return perr
			}
			sdk.Emit(text)
		}
	case "content_block_stop":
		r.stopBlock(ev.Index)
	case "message_delta":
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			r.stop = ev.Delta.StopReason
		}
		if ev.Usage != nil {
			r.usage.update(ev.Usage)
		}
	case "error":
		if ev.Error != nil {
			return apiError(0, ev.Error.Type, ev.Error.Message, "")
		}
		return &abi.Error{Code: abi.ErrUnavailable, Retryable: true, Message: "Anthropic's stream reported an error without saying which"}
	}
	// ping, message_stop and event types added later need nothing.
	return nil
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s, err := config()
		if err != nil {
			return abi.ValidateKeyResult{}, err
		}
		// Listing one model is authenticated and costs no tokens.
		req := s.httpRequest("GET", "/v1/models?limit=1", nil)
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		return validation(r.Status, r.Headers, r.Body), nil
	})
}

// models lists GET /v1/models, newest first as Anthropic sends them,
// following has_more/last_id up to maxModelPages requests. It costs no
// tokens; the host caches the answer per user.
//
//go:wasmexport models
func models() int32 {
	return sdk.Handle(func(abi.ModelsRequest) (abi.ModelList, error) {
		s, err := config()
		if err != nil {
			return abi.ModelList{}, err
		}
		var list []abi.Model
		after := ""
		for page := 0; page < maxModelPages; page++ {
			req := s.httpRequest("GET", modelsPath(after), nil)
			req.TimeoutMS = 15_000
			r, err := sdk.HTTP(req)
			if err != nil {
				return abi.ModelList{}, sdk.AsError(err)
			}
			if r.Status < 200 || r.Status > 299 {
				return abi.ModelList{}, httpError(r.Status, r.Headers, r.Body)
			}
			var perr *abi.Error
			if list, after, perr = addModelPage(list, r.Body); perr != nil {
				return abi.ModelList{}, perr
			}
			if after == "" {
				break
			}
		}
		if list == nil {
			list = []abi.Model{}
		}
		return abi.ModelList{Models: list}, nil
	})
}

func main() {}
