package providerfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// Anthropic is Anthropic's Messages API on loopback, behaving like the real
// one where the plugin can tell: the same routes, headers (x-api-key,
// anthropic-version), JSON shapes, SSE framing ("event: x\ndata: {...}\n\n"),
// error bodies ({"type":"error","error":{"type","message"}}) and the
// request rules the real API enforces (alternating roles starting with
// user, max_tokens required, thinking limits, no unknown fields), which it
// answers with a 400 as the real one does. The model name picks a
// anthropicScenario, so one server serves every test.
type Anthropic struct {
	T testing.TB
	// gate, when set, is waited on after each streamed text_delta, so a
	// test can prove the text reached the user before the next event.
	Gate chan string

	plugintest.Recorder // every request, for the tests to check

	// PageMax, when > 0, caps a page of GET /v1/models below the limit the
	// client asked for, so a test sees has_more and pagination.
	PageMax atomic.Int64
}

// anthropicModels is what GET /v1/models lists, newest first as Anthropic does.
var anthropicModels = []struct{ id, name, created string }{
	{"claude-test-4", "Claude Test 4", "2025-09-29T00:00:00Z"},
	{"claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"},
	{"claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"},
	{"claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"},
	{"claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"},
}

// models serves one page of the list as the real API does: limit 1..1000
// (default 20), after_id cursor, has_more, first_id, last_id.
func (f *Anthropic) models(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if l := q.Get("limit"); l != "" {
		if _, err := fmt.Sscanf(l, "%d", &limit); err != nil || limit < 1 || limit > 1000 {
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "limit: Input should be less than or equal to 1000")
			return
		}
	}
	if m := int(f.PageMax.Load()); m > 0 {
		limit = min(limit, m)
	}
	start := 0
	if after := q.Get("after_id"); after != "" {
		start = -1
		for i, m := range anthropicModels {
			if m.id == after {
				start = i + 1
			}
		}
		if start < 0 {
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "after_id: unknown model "+after)
			return
		}
	}
	end := min(start+limit, len(anthropicModels))
	data := []any{}
	for _, m := range anthropicModels[start:end] {
		data = append(data, map[string]any{"type": "model", "id": m.id, "display_name": m.name, "created_at": m.created})
	}
	page := map[string]any{"data": data, "has_more": end < len(anthropicModels), "first_id": nil, "last_id": nil}
	if end > start {
		page["first_id"], page["last_id"] = anthropicModels[start].id, anthropicModels[end-1].id
	}
	plugintest.WriteJSON(w, page)
}

// Keys the fake API knows. Anything else is refused with a 401.
const (
	AnthropicKeyGood  = "sk-ant-api03-good-0123456789abcdefghij"
	AnthropicKeyBroke = "sk-ant-api03-broke-0123456789abcdefgh" // credit balance too low
	AnthropicKeyFlaky = "sk-ant-api03-flaky-0123456789abcdefgh" // /v1/models answers 529
	AnthropicKeyWrong = "sk-ant-api03-wrong-0123456789abcdefgh"
)

// Latest is the last request the fake received.
func (f *Anthropic) Latest() plugintest.Request { return f.Last(f.T) }

func anthropicAPIErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_011CTest")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}, "request_id": "req_011CTest"})
}

func (f *Anthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seen := f.Record(f.T, r)

	if r.Header.Get("Authorization") != "" {
		f.T.Errorf("the key must go in x-api-key only, but Authorization was %q", r.Header.Get("Authorization"))
	}
	key := r.Header.Get("x-api-key")
	switch key {
	case AnthropicKeyGood, AnthropicKeyBroke, AnthropicKeyFlaky:
	default:
		// The real API does not echo the key; a careless proxy might.
		anthropicAPIErr(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key "+key)
		return
	}
	if v := r.Header.Get("anthropic-version"); v == "" {
		anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}

	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/models":
		switch key {
		case AnthropicKeyBroke:
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.")
		case AnthropicKeyFlaky:
			anthropicAPIErr(w, 529, "overloaded_error", "Overloaded")
		default:
			f.models(w, r)
		}
	case r.Method == "POST" && r.URL.Path == "/v1/messages":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "content-type must be application/json, not "+ct)
			return
		}
		if key == AnthropicKeyBroke {
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.")
			return
		}
		if msg := anthropicCheckBody(seen.Body); msg != "" {
			anthropicAPIErr(w, http.StatusBadRequest, "invalid_request_error", msg)
			return
		}
		f.messages(w, seen.Body)
	default:
		anthropicAPIErr(w, http.StatusNotFound, "not_found_error", "Not Found")
	}
}

// anthropicCheckBody applies the Messages API's request rules, with its wording.
func anthropicCheckBody(b map[string]any) string {
	allowed := map[string]bool{"model": true, "messages": true, "max_tokens": true, "system": true, "temperature": true,
		"top_p": true, "top_k": true, "stop_sequences": true, "thinking": true, "tools": true, "tool_choice": true,
		"stream": true, "metadata": true, "service_tier": true}
	for k := range b {
		if !allowed[k] {
			return k + ": Extra inputs are not permitted"
		}
	}
	if _, ok := b["model"].(string); !ok {
		return "model: Field required"
	}
	maxTokens, ok := b["max_tokens"].(float64)
	if !ok || maxTokens < 1 || maxTokens != float64(int(maxTokens)) {
		return "max_tokens: Field required"
	}
	if s, ok := b["system"]; ok {
		if _, isString := s.(string); !isString {
			return "system: Input should be a valid string"
		}
	}
	msgs, ok := b["messages"].([]any)
	if !ok || len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	for i, m := range msgs {
		m := m.(map[string]any)
		role := m["role"]
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if role != want {
			if i == 0 {
				return "messages: first message must use the \"user\" role"
			}
			return "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"" + fmt.Sprint(role) + "\" roles in a row"
		}
		for k := range m {
			if k != "role" && k != "content" {
				return fmt.Sprintf("messages.%d.%s: Extra inputs are not permitted", i, k)
			}
		}
		switch c := m["content"].(type) {
		case string:
			if strings.TrimSpace(c) == "" {
				return fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
			}
		case []any:
			for j, bl := range c {
				bl := bl.(map[string]any)
				switch bl["type"] {
				case "text":
					if strings.TrimSpace(fmt.Sprint(bl["text"])) == "" {
						return fmt.Sprintf("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
					}
				case "tool_use":
					if _, ok := bl["input"].(map[string]any); !ok || role != "assistant" {
						return fmt.Sprintf("messages.%d.content.%d: bad tool_use block", i, j)
					}
				case "tool_result":
					if role != "user" || bl["tool_use_id"] == "" {
						return fmt.Sprintf("messages.%d.content.%d: bad tool_result block", i, j)
					}
				default:
					return fmt.Sprintf("messages.%d.content.%d.type: unknown block type %v", i, j, bl["type"])
				}
			}
		default:
			return fmt.Sprintf("messages.%d.content: Input should be a valid string or list", i)
		}
	}
	if t, ok := b["temperature"].(float64); ok && (t < 0 || t > 1) {
		return "temperature: Input should be less than or equal to 1"
	}
	if th, ok := b["thinking"].(map[string]any); ok && th["type"] == "enabled" {
		budget, _ := th["budget_tokens"].(float64)
		switch {
		case budget < 1024:
			return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
		case budget >= maxTokens:
			return "`max_tokens` must be greater than `thinking.budget_tokens`"
		case b["temperature"] != nil && b["temperature"] != 1.0:
			return "`temperature` may only be set to 1 when thinking is enabled."
		case b["top_k"] != nil:
			return "`top_k` must be unset when thinking is enabled."
		}
	}
	return ""
}

// anthropicSseEvent is one event as the API frames it.
type anthropicSseEvent struct {
	name string
	data map[string]any
}

func anthropicEv(name string, data map[string]any) anthropicSseEvent {
	data["type"] = name
	return anthropicSseEvent{name, data}
}

// anthropicScenario is a reply as content blocks, each a list of deltas; the
// non-streaming answer joins them.
type anthropicScenario struct {
	blocks []anthropicFakeBlock
	stop   string
	usage  map[string]any // final usage
}

type anthropicFakeBlock struct {
	kind   string   // text, thinking, redacted_thinking, tool_use
	pieces []string // text, thinking or partial_json pieces
}

func (f *Anthropic) messages(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	stream, _ := body["stream"].(bool)

	switch model {
	case "overloaded":
		anthropicAPIErr(w, 529, "overloaded_error", "Overloaded")
		return
	case "rate-limited":
		w.Header().Set("retry-after", "7")
		w.Header().Set("anthropic-ratelimit-requests-remaining", "0")
		anthropicAPIErr(w, http.StatusTooManyRequests, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
		return
	case "no-such-model":
		anthropicAPIErr(w, http.StatusNotFound, "not_found_error", "model: no-such-model")
		return
	case "forbidden":
		anthropicAPIErr(w, http.StatusForbidden, "permission_error", "Your API key does not have permission to use the specified resource.")
		return
	case "api-error":
		anthropicAPIErr(w, http.StatusInternalServerError, "api_error", "Internal server error")
		return
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	case "garbage":
		if !stream {
			plugintest.WriteJSON(w, "not a message")
			return
		}
	}

	sc := anthropicScenario{stop: "end_turn", usage: map[string]any{"input_tokens": 25, "output_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
	switch model {
	case "claude-think":
		sc.blocks = []anthropicFakeBlock{{"thinking", []string{"The user greets; ", "answer warmly."}}, {"text", []string{"Hi!"}}}
		sc.usage["output_tokens"] = 120
	case "thinking-only":
		sc.blocks = []anthropicFakeBlock{{"thinking", []string{"Let me think about this at length…"}}}
		sc.stop = "max_tokens"
		sc.usage["output_tokens"] = 2048
	case "redacted":
		sc.blocks = []anthropicFakeBlock{{"redacted_thinking", nil}, {"text", []string{"Fine."}}}
	case "tools":
		sc.blocks = []anthropicFakeBlock{{"text", []string{"Let me check."}}, {"tool_use", []string{`{"ci`, `ty": "Oslo"}`}}}
		sc.stop = "tool_use"
	case "cached":
		sc.blocks = []anthropicFakeBlock{{"text", []string{"Cached."}}}
		sc.usage = map[string]any{"input_tokens": 10, "output_tokens": 3, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 3000}
	case "long":
		sc.blocks = []anthropicFakeBlock{{"text", []string{"Once upon a"}}}
		sc.stop = "max_tokens"
	case "refusal":
		sc.stop = "refusal"
	case "start-text": // streamed: the first piece comes in content_block_start
		sc.blocks = []anthropicFakeBlock{{"text", []string{"Hel", "lo"}}}
	default:
		sc.blocks = []anthropicFakeBlock{{"text", []string{"Hel", "lo ", "there!"}}}
	}
	if stream {
		f.stream(w, model, sc)
		return
	}
	f.whole(w, model, sc)
}

func anthropicBlockJSON(b anthropicFakeBlock, whole bool, i int) map[string]any {
	joined := strings.Join(b.pieces, "")
	switch b.kind {
	case "text":
		if !whole {
			joined = ""
		}
		return map[string]any{"type": "text", "text": joined}
	case "thinking":
		if !whole {
			return map[string]any{"type": "thinking", "thinking": "", "signature": ""}
		}
		return map[string]any{"type": "thinking", "thinking": joined, "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}
	case "redacted_thinking":
		return map[string]any{"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}
	case "tool_use":
		input := map[string]any{}
		if whole {
			_ = json.Unmarshal([]byte(joined), &input)
		}
		return map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_0%d", i), "name": "get_weather", "input": input}
	}
	panic(b.kind)
}

func (f *Anthropic) whole(w http.ResponseWriter, model string, sc anthropicScenario) {
	content := []any{}
	for i, b := range sc.blocks {
		content = append(content, anthropicBlockJSON(b, true, i))
	}
	plugintest.WriteJSON(w, map[string]any{
		"id": "msg_01Test", "type": "message", "role": "assistant", "model": model + "-20250514",
		"content": content, "stop_reason": sc.stop, "stop_sequence": nil, "usage": sc.usage,
	})
}

func (f *Anthropic) stream(w http.ResponseWriter, model string, sc anthropicScenario) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	send := func(e anthropicSseEvent) {
		b, _ := json.Marshal(e.data)
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, b)
		fl.Flush()
	}
	startUsage := map[string]any{"input_tokens": sc.usage["input_tokens"], "output_tokens": 1,
		"cache_creation_input_tokens": sc.usage["cache_creation_input_tokens"], "cache_read_input_tokens": sc.usage["cache_read_input_tokens"]}
	send(anthropicEv("message_start", map[string]any{"message": map[string]any{
		"id": "msg_01Test", "type": "message", "role": "assistant", "model": model + "-20250514",
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": startUsage}}))
	send(anthropicEv("ping", map[string]any{}))
	switch model {
	case "garbage":
		_, _ = w.Write([]byte("event: content_block_start\ndata: {not json\n\n"))
		return
	case "stream-overloaded":
		send(anthropicEv("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "text", "text": ""}}))
		send(anthropicEv("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "text_delta", "text": "Par"}}))
		send(anthropicEv("error", map[string]any{"error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}}))
		return
	case "cut":
		send(anthropicEv("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "text", "text": ""}}))
		send(anthropicEv("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "text_delta", "text": "Par"}}))
		send(anthropicEv("content_block_stop", map[string]any{"index": 0}))
		return // the connection ends between events, before message_delta
	}
	for i, b := range sc.blocks {
		start := anthropicBlockJSON(b, false, i)
		pieces := b.pieces
		if model == "start-text" {
			start["text"], pieces = pieces[0], pieces[1:]
		}
		send(anthropicEv("content_block_start", map[string]any{"index": i, "content_block": start}))
		for _, p := range pieces {
			var d map[string]any
			switch b.kind {
			case "text":
				d = map[string]any{"type": "text_delta", "text": p}
			case "thinking":
				d = map[string]any{"type": "thinking_delta", "thinking": p}
			case "tool_use":
				d = map[string]any{"type": "input_json_delta", "partial_json": p}
			}
			send(anthropicEv("content_block_delta", map[string]any{"index": i, "delta": d}))
			if f.Gate != nil && b.kind == "text" {
				select {
				case <-f.Gate:
				case <-time.After(10 * time.Second):
					f.T.Errorf("streamed text was not shown to the user before the next event")
					return
				}
			}
		}
		if b.kind == "thinking" {
			send(anthropicEv("content_block_delta", map[string]any{"index": i, "delta": map[string]any{"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}))
		}
		send(anthropicEv("content_block_stop", map[string]any{"index": i}))
	}
	send(anthropicEv("message_delta", map[string]any{"delta": map[string]any{"stop_reason": sc.stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": sc.usage["output_tokens"]}}))
	send(anthropicEv("message_stop", map[string]any{}))
}
