//go:build wasip1

// Command openai is tzurot's provider plugin for OpenAI-compatible chat
// completion APIs: OpenAI itself, OpenRouter, and local servers (Ollama,
// vLLM, LM Studio), chosen by base_url and flavor in plugins.toml.
//
// It never sees a user's key: every provider request asks the host to
// inject "Authorization: Bearer <key>" (abi.Auth), and it never imports
// net/http (which would make it four times larger): all I/O goes through
// the host's HTTP functions.
package main

import (
	"encoding/json"
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

const version = "1.0.0"

// config returns the entry's settings, read once per instance. An
// instance's config never changes (a reload starts new instances), and
// reading it costs a chat call about 200 loop steps of map lookups and
// string work, each a timeout check under the host (docs/performance.md).
// A config error is not kept: every call reports it.
func config() (settings, error) {
	if cached != nil {
		return *cached, nil
	}
	s, err := newSettings(sdk.Config)
	if err != nil {
		return s, sdk.Errorf(abi.ErrInternal, "%v", err)
	}
	cached = &s
	return s, nil
}

// cached is the instance's settings once read (see config). Package state
// is per instance: each instance is its own wasm module.
var cached *settings

//go:wasmexport describe
func describe() int32 {
	s, err := config()
	needsKey := err != nil || s.UseAuth
	var constraints json.RawMessage
	if err == nil && s.Flavor == flavorOpenAI {
		constraints = json.RawMessage(constraintsSchema)
	}
	return sdk.Describe(abi.Description{
		Name:             "openai",
		Version:          version,
		Summary:          "Chat with OpenAI, OpenRouter or a local OpenAI-compatible server (Ollama, vLLM, LM Studio).",
		Capabilities:     []string{abi.CapChat, abi.CapValidateKey, abi.CapModels, abi.CapEmbed},
		NeedsKey:         needsKey,
		NeedsNetwork:     true,
		ParametersSchema: json.RawMessage(parametersSchema),
		// The model's own rules, for OpenAI itself only (see constraintsSchema).
		ConstraintsSchema: constraints,
	})
}

//go:wasmexport chat
func chat() int32 {
	return sdk.Handle(func(req abi.ChatRequest) (abi.ChatResponse, error) {
		s, err := config()
		if err != nil {
			return abi.ChatResponse{}, err
		}
		body, dropped, err := s.buildChat(req)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "%v", err)
		}
		if len(dropped) > 0 {
			sdk.Log(abi.LogDebug, "parameters this provider does not take were left out",
				map[string]string{"flavor": s.Flavor, "dropped": strings.Join(dropped, ",")})
		}
		raw, err := appendChatBody(make([]byte, 0, requestSize(req)), &body)
		if err != nil {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrInternal, "encode request: %v", err)
		}
		httpReq := s.httpRequest("POST", "/chat/completions", raw)

		var resp abi.ChatResponse
		var perr *abi.Error
		if req.Stream {
			httpReq.Headers["Accept"] = "text/event-stream"
			resp, perr = streamChat(httpReq, body.Model)
		} else {
			resp, perr = plainChat(httpReq, body.Model)
		}
		if perr != nil {
			return abi.ChatResponse{}, perr
		}
		sdk.RecordSpentUsage(resp.Usage)
		return resp, nil
	})
}

// requestSize guesses the encoded size of the provider request for req, so
// its buffer is allocated once.
func requestSize(req abi.ChatRequest) int {
	n := 512 + len(req.Model) + len(req.AdvancedParameters)
	for _, m := range req.Messages {
		n += 64 + len(m.Role) + len(m.Content) + len(m.Name)
	}
	return n + n/16
}

func plainChat(req abi.HTTPRequest, model string) (abi.ChatResponse, *abi.Error) {
	r, err := sdk.HTTP(req)
	if err != nil {
		return abi.ChatResponse{}, sdk.AsError(err)
	}
	if !r.OK() {
		return abi.ChatResponse{}, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])
	}
	return parseCompletion(r.Body, model)
}

// streamChat reads the SSE stream, emitting visible text as it arrives.
func streamChat(req abi.HTTPRequest, model string) (abi.ChatResponse, *abi.Error) {
	s, err := sdk.Stream(req)
	if err != nil {
		return abi.ChatResponse{}, sdk.AsError(err)
	}
	defer s.Close()
	if !s.OK() {
		return abi.ChatResponse{}, provider.OpenAIError(s.Status, []byte(s.Body), s.Headers["retry-after"])
	}
	if ct := s.Headers["content-type"]; ct != "" && !strings.Contains(ct, "event-stream") {
		return abi.ChatResponse{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "the provider sent a response that is not an event stream (content-type " + ct + ")"}
	}
	var (
		acc   accumulator
		usage *wireUsage
		done  bool
	)
	for !done && s.Next() {
		data := s.Event().Data
		if strings.TrimSpace(data) == "[DONE]" {
			done = true
			break
		}
		c, err := decodeCompletion([]byte(data))
		if err != nil {
			return abi.ChatResponse{}, garbage("a stream event", []byte(data))
		}
		if c.Error != nil {
			return abi.ChatResponse{}, inBodyError(c.Error)
		}
		if c.Model != "" {
			model = c.Model
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			sdk.Emit(acc.add(ch.Delta, ch.FinishReason))
			for i, tc := range ch.Delta.ToolCalls {
				acc.addToolCall(i, tc)
			}
		}
	}
	if err := s.Err(); err != nil {
		return abi.ChatResponse{}, sdk.AsError(err)
	}
	if !done && acc.finishReason == "" {
		return abi.ChatResponse{}, &abi.Error{Code: abi.ErrUnavailable, Retryable: true,
			Message: "the provider's stream ended before the reply was complete"}
	}
	sdk.Emit(acc.flush())
	return acc.finish(model, usage), nil
}

//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		s, err := config()
		if err != nil {
			return abi.ValidateKeyResult{}, err
		}
		path := "/models"
		if s.Flavor == flavorOpenRouter {
			path = "/auth/key"
		}
		req := s.httpRequest("GET", path, nil)
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return provider.KeyCheckFailed(err)
		}
		return validation(s.Flavor, r.Status, r.Body), nil
	})
}

// models lists the models GET {base_url}/models offers: one cheap
// request, never billed. The host caches the answer (per user when the
// list depends on the key).
//
//go:wasmexport models
func models() int32 {
	return sdk.Handle(func(abi.ModelsRequest) (abi.ModelList, error) {
		s, err := config()
		if err != nil {
			return abi.ModelList{}, err
		}
		req := s.httpRequest("GET", "/models", nil)
		req.TimeoutMS = 15_000
		r, err := sdk.HTTP(req)
		if err != nil {
			return abi.ModelList{}, sdk.AsError(err)
		}
		if !r.OK() {
			return abi.ModelList{}, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])
		}
		list, perr := parseModels(s.Flavor, r.Body)
		if perr != nil {
			return abi.ModelList{}, perr
		}
		return abi.ModelList{Models: list}, nil
	})
}

// embed turns texts into vectors with POST {base_url}/embeddings (OpenAI,
// OpenRouter, and local servers that offer it), base64-encoded where the
// server takes it and decoded here. One request for all the inputs; its
// usage (prompt_tokens) is recorded as kind embed.
//
//go:wasmexport embed
func embed() int32 {
	return sdk.Handle(func(req abi.EmbedRequest) (abi.EmbedResponse, error) {
		s, err := config()
		if err != nil {
			return abi.EmbedResponse{}, err
		}
		if len(req.Inputs) == 0 {
			return abi.EmbedResponse{}, sdk.Errorf(abi.ErrBadRequest, "there is no text to embed")
		}
		body, model, err := s.embedBody(req)
		if err != nil {
			return abi.EmbedResponse{}, sdk.Errorf(abi.ErrInternal, "encode request: %v", err)
		}
		r, err := sdk.HTTP(s.httpRequest("POST", "/embeddings", body))
		if err != nil {
			return abi.EmbedResponse{}, sdk.AsError(err)
		}
		if !r.OK() {
			return abi.EmbedResponse{}, provider.OpenAIError(r.Status, r.Body, r.Headers["retry-after"])
		}
		resp, perr := parseEmbeddings(r.Body, len(req.Inputs), model)
		if perr != nil {
			return abi.EmbedResponse{}, perr
		}
		sdk.RecordSpentUsage(resp.Usage)
		return resp, nil
	})
}

func main() {}
