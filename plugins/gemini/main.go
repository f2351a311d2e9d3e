//go:build wasip1

// Command gemini is tzurot's provider plugin for Google's Gemini API
// (generateContent and streamGenerateContent), with thinking.
//
// It never sees a user's key: every API request asks the host to inject
// the key into the x-goog-api-key header (abi.Auth); the key is never put
// in the URL. It never imports net/http: all I/O goes through the host.
package main

import (
	"encoding/json"
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:             "gemini",
		Version:          version,
		Summary:          "Chat with Google's Gemini models (generateContent), with thinking.",
		Capabilities:     []string{abi.CapChat, abi.CapValidateKey, abi.CapModels},
		NeedsKey:         true,
		NeedsNetwork:     true,
		ParametersSchema: json.RawMessage(parametersSchema),
		// The rules that depend on the model (Gemini 3 vs 2.5 thinking).
		ConstraintsSchema: json.RawMessage(constraintsSchema),
	})
}

//go:wasmexport chat
func chat() int32 {
	return sdk.Handle(func(req abi.ChatRequest) (abi.ChatResponse, error) {
		s := newSettings(sdk.Config)
		// Every rule the API would refuse is checked here, before a call.
		model, body, err := s.buildGenerate(req)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		raw, err := appendGenerateBody(make([]byte, 0, requestSize(req)), &body)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "encode request: %v", err)
		}

		var (
			r    reply
			perr *abi.Error
		)
		if req.Stream {
			httpReq := s.httpRequest("POST", "/v1beta/models/"+model+":streamGenerateContent?alt=sse", raw)
			httpReq.Headers["Accept"] = "text/event-stream"
			r, perr = streamGenerate(httpReq, model)
		} else {
			r, perr = plainGenerate(s.httpRequest("POST", "/v1beta/models/"+model+":generateContent", raw), model)
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
	n := 320
	for _, m := range req.Messages {
		n += 48 + len(m.Content)
	}
	return n + n/16
}

func plainGenerate(req abi.HTTPRequest, model string) (reply, *abi.Error) {
	res, err := sdk.HTTP(req)
	if err != nil {
		return reply{}, sdk.AsError(err)
	}
	if !res.OK() {
		return reply{}, httpError(res.Status, res.Body)
	}
	return parseGenerate(res.Body, model)
}

// streamGenerate reads the SSE stream (CRLF-framed "data: {...}" events,
// each a GenerateContentResponse), emitting visible text as it arrives.
// Only an event with a finishReason ends it well: a stream that stops
// before (the connection dropped between events) is an error, not a
// short reply.
func streamGenerate(req abi.HTTPRequest, model string) (reply, *abi.Error) {
	s, err := sdk.Stream(req)
	if err != nil {
		return reply{}, sdk.AsError(err)
	}
	defer s.Close()
	if !s.OK() {
		return reply{}, httpError(s.Status, []byte(s.Body))
	}
	if ct := s.Headers["content-type"]; ct != "" && !strings.Contains(ct, "event-stream") {
		return reply{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "Gemini sent a response that is not an event stream (content-type " + ct + ")"}
	}
	r := reply{model: model}
	for s.Next() {
		data := s.Event().Data
		if strings.TrimSpace(data) == "" {
			continue
		}
		ev, err := decodeResponse([]byte(data))
		if err != nil {
			return reply{}, garbage("a stream event", []byte(data))
		}
		visible, perr := r.apply(&ev)
		if perr != nil {
			return reply{}, perr
		}
		sdk.Emit(visible)
	}
	if err := s.Err(); err != nil {
		return reply{}, sdk.AsError(err)
	}
	if r.stop == "" && r.blocked == "" {
		return reply{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "Gemini's stream ended before the reply was complete (no finishReason)"}
	}
	return r, nil
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s := newSettings(sdk.Config)
		// Listing one model is authenticated and costs no tokens.
		req := s.httpRequest("GET", "/v1beta/models?pageSize=1", nil)
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		return validation(r.Status, r.Body), nil
	})
}

// models lists the models that serve generateContent (GET
// /v1beta/models, every page up to maxModelPages). It costs no tokens;
// the host caches the answer per user.
//
//go:wasmexport models
func models() int32 {
	return sdk.Handle(func(abi.ModelsRequest) (abi.ModelList, error) {
		s := newSettings(sdk.Config)
		list := []abi.Model{}
		token := ""
		for page := 0; page < maxModelPages; page++ {
			req := s.httpRequest("GET", modelsPath(token), nil)
			req.TimeoutMS = 15_000
			r, err := sdk.HTTP(req)
			if err != nil {
				return abi.ModelList{}, sdk.AsError(err)
			}
			if !r.OK() {
				return abi.ModelList{}, httpError(r.Status, r.Body)
			}
			var perr *abi.Error
			if list, token, perr = addModelPage(list, r.Body); perr != nil {
				return abi.ModelList{}, perr
			}
			if token == "" {
				break
			}
		}
		return abi.ModelList{Models: list}, nil
	})
}

func main() {}
