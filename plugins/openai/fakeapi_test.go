//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// fakeAPI is an OpenAI-compatible server on loopback that behaves like the
// real APIs where the plugin can tell: the same routes, JSON shapes, SSE
// framing ("data: {...}\n\n" then "data: [DONE]"), error bodies
// ({"error":{"message","type","code"}}) and the Authorization check. The
// model name picks a scenario, so one server serves every test.
type fakeAPI struct {
	t      testing.TB
	noAuth bool // a local server: no key expected
	// gate, when set, is waited on after each streamed content event, so
	// a test can prove the text reached the user before the next event.
	gate chan string

	plugintest.Recorder // every request, for the tests to check
}

// Keys the fake provider knows. Anything else is refused with a 401.
const (
	keyGood   = "sk-good-0123456789abcdefghij"
	keyEmpty  = "sk-empty-0123456789abcdefgh" // OpenRouter: limit_remaining 0
	keyBroke  = "sk-broke-0123456789abcdefgh" // /models answers 402
	keyFlaky  = "sk-flaky-0123456789abcdefgh" // /models answers 503
	keyBadOne = "sk-wrong-0123456789abcdefgh"
)

func (f *fakeAPI) last() plugintest.Request { return f.Last(f.t) }

func apiError(w http.ResponseWriter, status int, msg, typ string, code any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seen := f.Record(f.t, r)
	auth := seen.Header.Get("Authorization")
	key := strings.TrimPrefix(auth, "Bearer ")
	switch {
	case f.noAuth && auth != "":
		f.t.Errorf("a local server must get no Authorization header, got %q", auth)
	case !f.noAuth && !strings.HasPrefix(auth, "Bearer ") || !f.noAuth && !knownKey(key):
		apiError(w, http.StatusUnauthorized, "Incorrect API key provided: "+key+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
		return
	}

	switch {
	case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/models"):
		switch key {
		case keyBroke:
			apiError(w, http.StatusPaymentRequired, "Insufficient credits", "billing_error", 402)
		case keyFlaky:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("<html>502 Bad Gateway</html>"))
		default:
			f.models(w, r.URL.Path)
		}
	case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/auth/key"):
		var remaining any // null: no limit
		if key == keyEmpty {
			remaining = 0
		}
		plugintest.WriteJSON(w, map[string]any{"data": map[string]any{"label": "sk-or-v1-abc...xyz", "usage": 1.25, "limit": 10, "limit_remaining": remaining, "is_free_tier": false}})
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/chat/completions"):
		f.chat(w, seen.Body)
	default:
		apiError(w, http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path, "invalid_request_error", "unknown_url")
	}
}

// models answers GET /models as each kind of server does: OpenRouter's
// entries carry name, context_length and supported_parameters; OpenAI's
// list mixes chat models with embeddings, speech and images; a local
// server (Ollama) lists what it has pulled.
func (f *fakeAPI) models(w http.ResponseWriter, path string) {
	model := func(id, owner string) map[string]any {
		return map[string]any{"id": id, "object": "model", "created": 1715367049, "owned_by": owner}
	}
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		entry := func(id, name string, ctx int, params ...string) map[string]any {
			return map[string]any{"id": id, "canonical_slug": id, "name": name, "created": 1741818122,
				"description": name + " by its maker.", "context_length": ctx,
				"architecture":         map[string]any{"modality": "text->text", "input_modalities": []string{"text"}, "output_modalities": []string{"text"}, "tokenizer": "Other"},
				"pricing":              map[string]any{"prompt": "0.0000003", "completion": "0.0000025", "request": "0", "image": "0"},
				"top_provider":         map[string]any{"context_length": ctx, "max_completion_tokens": 65536, "is_moderated": false},
				"per_request_limits":   nil,
				"supported_parameters": append([]string{"max_tokens", "temperature", "top_p"}, params...)}
		}
		plugintest.WriteJSON(w, map[string]any{"data": []any{
			entry("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, "tools", "response_format"),
			entry("anthropic/claude-sonnet-4", "Anthropic: Claude Sonnet 4", 200000, "reasoning", "include_reasoning", "tools"),
			entry("google/gemini-2.5-flash", "Google: Gemini 2.5 Flash", 1048576, "reasoning", "include_reasoning"),
		}})
	case f.noAuth:
		plugintest.WriteJSON(w, map[string]any{"object": "list", "data": []any{model("llama3.2:latest", "library"), model("qwen3:8b", "library")}})
	default:
		plugintest.WriteJSON(w, map[string]any{"object": "list", "data": []any{
			model("gpt-test", "system"), model("gpt-4o", "system"), model("gpt-4o-mini", "system"),
			model("text-embedding-3-small", "system"), model("whisper-1", "openai-internal"),
			model("dall-e-3", "system"), model("o3-mini", "system"), model("gpt-5", "system"),
			model("gpt-5-chat-latest", "system"), model("tts-1", "openai-internal"),
		}})
	}
}

func knownKey(k string) bool {
	switch k {
	case keyGood, keyEmpty, keyBroke, keyFlaky:
		return true
	}
	return false
}

// delta is one streamed piece; usage and finish are sent as OpenAI does.
type delta = map[string]any

func usageJSON(in, out, reasoning int) map[string]any {
	return map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
		"completion_tokens_details": map[string]any{"reasoning_tokens": reasoning}}
}

func (f *fakeAPI) chat(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	stream, _ := body["stream"].(bool)

	var status int
	if _, err := fmt.Sscanf(model, "status-%d", &status); err == nil {
		switch {
		case strings.HasSuffix(model, "-quota"):
			apiError(w, status, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")
		case status == 400:
			apiError(w, status, "Invalid value for 'temperature': must be at most 2.", "invalid_request_error", "invalid_value")
		case status >= 500:
			w.WriteHeader(status)
			_, _ = w.Write([]byte("upstream connect error"))
		default:
			apiError(w, status, fmt.Sprintf("forced %d", status), "error", status)
		}
		return
	}
	switch model {
	case "garbage", "html":
		if stream && model == "garbage" {
			break // an event stream whose event is not JSON: see stream
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Cloudflare: origin is down</body></html>"))
		return
	case "error-in-200": // OpenRouter reports some upstream failures this way
		plugintest.WriteJSON(w, map[string]any{"error": map[string]any{"message": "Provider returned error", "code": 502}})
		return
	case "no-choices":
		plugintest.WriteJSON(w, map[string]any{"id": "x", "object": "chat.completion", "model": model, "choices": []any{}})
		return
	}

	// The reply as deltas; non-streaming joins them into one message.
	var deltas []delta
	finish := "stop"
	switch model {
	case "or-reasoning":
		deltas = []delta{{"reasoning": "The user greets; "}, {"reasoning": "answer warmly."}, {"content": "Hi!"}}
	case "rc-reasoning":
		deltas = []delta{{"reasoning_content": "Thinking in reasoning_content."}, {"content": "Done."}}
	case "think-tags":
		deltas = []delta{{"content": "<thi"}, {"content": "nk>ponder"}, {"content": "ing</th"}, {"content": "ink>\n\nVis"}, {"content": "ible <b>bold</b>."}}
	case "tools":
		finish = "tool_calls"
		deltas = []delta{
			{"tool_calls": []any{map[string]any{"index": 0, "id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": ""}}}},
			{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": `{"ci`}}}},
			{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": `ty":"Oslo"}`}}}},
		}
	case "long":
		finish = "length"
		deltas = []delta{{"content": "Once upon a"}}
	default:
		deltas = []delta{{"content": "Hel"}, {"content": "lo "}, {"content": "there!"}}
	}
	usage := usageJSON(12, 5, 0)
	if model == "or-reasoning" || model == "rc-reasoning" || model == "think-tags" {
		usage = usageJSON(20, 30, 7)
	}
	if u, ok := providerUsage[model]; ok {
		usage = u
	}
	if !stream {
		f.whole(w, model, deltas, finish, usage)
		return
	}
	f.stream(w, model, deltas, finish, usage, body)
}

func (f *fakeAPI) whole(w http.ResponseWriter, model string, deltas []delta, finish string, usage map[string]any) {
	msg := map[string]any{"role": "assistant", "content": nil}
	var content, reasoning, rc strings.Builder
	var calls []any
	for _, d := range deltas {
		if s, ok := d["content"].(string); ok {
			content.WriteString(s)
		}
		if s, ok := d["reasoning"].(string); ok {
			reasoning.WriteString(s)
		}
		if s, ok := d["reasoning_content"].(string); ok {
			rc.WriteString(s)
		}
		if tc, ok := d["tool_calls"].([]any); ok {
			m := tc[0].(map[string]any)
			if len(calls) == 0 {
				calls = append(calls, map[string]any{"id": m["id"], "type": "function", "function": map[string]any{"name": "", "arguments": ""}})
			}
			fn := calls[0].(map[string]any)["function"].(map[string]any)
			mf := m["function"].(map[string]any)
			if n, ok := mf["name"].(string); ok {
				fn["name"] = n
			}
			fn["arguments"] = fn["arguments"].(string) + mf["arguments"].(string)
		}
	}
	if content.Len() > 0 {
		msg["content"] = content.String()
	}
	if reasoning.Len() > 0 {
		msg["reasoning"] = reasoning.String()
	}
	if rc.Len() > 0 {
		msg["reasoning_content"] = rc.String()
	}
	if calls != nil {
		msg["tool_calls"] = calls
	}
	plugintest.WriteJSON(w, map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": time.Now().Unix(), "model": model + "-2025",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   usage,
	})
}

func (f *fakeAPI) stream(w http.ResponseWriter, model string, deltas []delta, finish string, usage, body map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	chunk := func(d delta, fin any) map[string]any {
		return map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model + "-2025",
			"choices": []any{map[string]any{"index": 0, "delta": d, "finish_reason": fin}}}
	}
	_, _ = w.Write([]byte(": OPENROUTER PROCESSING\n\n")) // a comment line, as OpenRouter sends
	send(chunk(delta{"role": "assistant", "content": ""}, nil))
	switch model {
	case "garbage":
		_, _ = w.Write([]byte("data: {not json\n\n"))
		return
	case "stream-error":
		send(chunk(delta{"content": "Par"}, nil))
		send(map[string]any{"error": map[string]any{"message": "Upstream overloaded", "code": 503}})
		return
	case "cut":
		send(chunk(delta{"content": "Par"}, nil))
		return // the connection ends mid-reply
	}
	for _, d := range deltas {
		send(chunk(d, nil))
		if f.gate != nil {
			if _, ok := d["content"]; ok {
				select {
				case <-f.gate:
				case <-time.After(10 * time.Second):
					f.t.Errorf("streamed text was not shown to the user before the next event")
					return
				}
			}
		}
	}
	send(chunk(delta{}, finish))
	if so, ok := body["stream_options"].(map[string]any); ok && so["include_usage"] == true {
		send(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model + "-2025", "choices": []any{}, "usage": usage})
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	fl.Flush()
}

// providerUsage is usage exactly as each provider sends it for a reasoning model that wrote 18
// tokens, 11 of them reasoning (completion_tokens includes the reasoning at both).
var providerUsage = map[string]map[string]any{
	// OpenAI (o-series): reasoning in completion_tokens_details, with its other counters.
	"usage-openai": {
		"prompt_tokens": 25, "completion_tokens": 18, "total_tokens": 43,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 11, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	},
	// OpenRouter: the same counters plus its cost fields.
	"usage-openrouter": {
		"prompt_tokens": 25, "completion_tokens": 18, "total_tokens": 43,
		"cost": 0.000123, "is_byok": false,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"cost_details":              map[string]any{"upstream_inference_cost": nil},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 11, "image_tokens": 0},
	},
}
