//go:build !wasip1

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// wasmPath is the real plugin, built from this directory once per run.
var wasmPath string

func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, ".", &wasmPath)) }

// setup starts a fake Anthropic API and loads the plugin against it.
func setup(t testing.TB, opts plugintest.Options) (*plugintest.Harness, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{T: t}
	base, host := plugintest.Loopback(t, api)
	opts.Config = map[string]string{"base_url": base, "default_model": "claude-test-4"}
	opts.AllowedHosts = []string{host}
	if opts.Key == "" {
		opts.Key = keyGood
	}
	return plugintest.New(t, wasmPath, opts), api
}

func hello(model string) abi.ChatRequest {
	return abi.ChatRequest{Model: model, Messages: []abi.Message{
		{Role: abi.RoleSystem, Content: "You are Lilith."},
		{Role: abi.RoleUser, Content: "alice: Hi there", Name: "alice"},
	}}
}

func withParams(req abi.ChatRequest, params string) abi.ChatRequest {
	req.AdvancedParameters = json.RawMessage(params)
	return req
}

func TestDescribeAndParametersSchema(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("missing ABI marker export")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "anthropic" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "llm.chat,llm.validate_key,llm.models" {
		t.Fatalf("describe = %+v", d)
	}
	if bytes.Contains(d.ParametersSchema, []byte(`"$ref"`)) {
		t.Fatal("parameters_schema must be self-contained")
	}
	valid := plugintest.ParamsSchema(t, d.ParametersSchema)
	for params, ok := range map[string]bool{
		`{"temperature":0.7,"top_p":0.9,"top_k":40,"max_tokens":1000,"stop_sequences":["\n\nHuman:"]}`: true,
		`{"thinking":"high","thinking_budget":2048,"max_tokens":8000}`:                                 true,
		`{"reasoning":"medium"}`:                             true,
		`{"reasoning":{"effort":"low"}}`:                     true,
		`{"temperature":1.5}`:                                false, // OpenAI's range is not Anthropic's
		`{"top_p":-0.1}`:                                     false,
		`{"thinking":"extreme"}`:                             false,
		`{"thinking_budget":500}`:                            false,
		`{"temprature":1}`:                                   false, // a typo is refused, not ignored
		`{"reasoning":{"effort":"big"}}`:                     false,
		`{"reasoning":3}`:                                    false,
		`{"stop_sequences":[""]}`:                            false,
		`{"frequency_penalty":0.5}`:                          false, // Anthropic has none
		`{"max_tokens":"lots"}`:                              false,
		`{"stop_sequences":"END"}`:                           false,
		`{"top_k":0}`:                                        false,
		`{"thinking":"off","reasoning":{"max_tokens":2000}}`: true,
	} {
		if err := valid(params); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", params, err == nil, ok, err)
		}
	}
}

func TestChat(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	req := withParams(hello(""), `{"temperature":0.3,"top_k":40,"top_p":0.9,"stop_sequences":["END"]}`)
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	if resp.Content != "Hello there!" || resp.FinishReason != "stop" || resp.Model != "claude-test-4-20250514" || resp.Reasoning != "" {
		t.Fatalf("response = %+v", resp)
	}
	want := abi.Usage{Kind: "text", Model: "claude-test-4-20250514", InputTokens: 25, OutputTokens: 15}
	if resp.Usage != want {
		t.Fatalf("usage in response = %+v, want %+v", resp.Usage, want)
	}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != want || u[0].User != plugintest.DefaultUser {
		t.Fatalf("recorded usage = %+v", u)
	}

	got := api.Latest()
	if got.Method != "POST" || got.Path != "/v1/messages" {
		t.Fatalf("request went to %s %s", got.Method, got.Path)
	}
	if got.Header.Get("x-api-key") != keyGood || got.Header.Get("anthropic-version") != "2023-06-01" || got.Header.Get("Authorization") != "" {
		t.Fatalf("headers = %v", got.Header)
	}
	wantBody := map[string]any{
		"model": "claude-test-4", "max_tokens": 4096.0, "system": "You are Lilith.",
		"messages":    []any{map[string]any{"role": "user", "content": "alice: Hi there"}},
		"temperature": 0.3, "top_k": 40.0, "top_p": 0.9, "stop_sequences": []any{"END"},
	}
	if !reflect.DeepEqual(got.Body, wantBody) {
		t.Fatalf("request body = %v\nwant %v", got.Body, wantBody)
	}
	for _, l := range h.Logs() {
		if strings.Contains(fmt.Sprint(l), keyGood) {
			t.Fatalf("the key leaked into a log entry: %+v", l)
		}
	}

	// The request's own max_tokens and temperature win over the personality's.
	temp, maxTokens := 0.9, 300
	req.Temperature, req.MaxTokens = &temp, &maxTokens
	if _, e := h.Chat(req); e != nil {
		t.Fatal(e)
	}
	if b := api.Latest().Body; b["temperature"] != 0.9 || b["max_tokens"] != 300.0 {
		t.Fatalf("body = %v, want the request's temperature and max_tokens", b)
	}
}

func TestChatStreamsInOrder(t *testing.T) {
	gate := make(chan string, 8)
	h, api := setup(t, plugintest.Options{OnChunk: func(_, c string) { gate <- c }})
	api.Gate = gate
	req := hello("claude-stream")
	req.Stream = true
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	if got := strings.Join(h.Chunks(), "|"); got != "Hel|lo |there!" {
		t.Fatalf("chunks = %q, want Hel|lo |there! in order", got)
	}
	if resp.Content != "Hello there!" || resp.FinishReason != "stop" || resp.Model != "claude-stream-20250514" {
		t.Fatalf("response = %+v", resp)
	}
	// message_start's output_tokens (1) is replaced by message_delta's
	// cumulative count.
	if resp.Usage.InputTokens != 25 || resp.Usage.OutputTokens != 15 {
		t.Fatalf("usage = %+v", resp.Usage)
	}
	if u := h.Usage(); len(u) != 1 || u[0].OutputTokens != 15 || u[0].InputTokens != 25 {
		t.Fatalf("recorded usage = %+v", u)
	}
	// Text a content_block_start already carries is shown too.
	h.Reset()
	req.Model = "start-text"
	if resp, e := h.Chat(req); e != nil || resp.Content != "Hello" || strings.Join(h.Chunks(), "|") != "Hel|lo" {
		t.Fatalf("start-text: %+v %v, chunks %q", resp, e, h.Chunks())
	}
	got := api.Latest()
	if got.Body["stream"] != true || got.Header.Get("Accept") != "text/event-stream" || got.Header.Get("x-api-key") != keyGood {
		t.Fatalf("streaming request = %v %v", got.Header, got.Body)
	}
}

func TestThinking(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	for _, stream := range []bool{false, true} {
		h.Reset()
		req := withParams(hello("claude-think"), `{"thinking":"high","temperature":1}`)
		req.Stream = stream
		resp, e := h.Chat(req)
		if e != nil {
			t.Fatalf("stream=%v: %v", stream, e)
		}
		if resp.Content != "Hi!" || resp.Reasoning != "The user greets; answer warmly." || resp.FinishReason != "stop" {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		// Anthropic's output_tokens includes the thinking.
		if resp.Usage.OutputTokens != 120 || resp.Usage.ReasoningTokens != 0 {
			t.Fatalf("stream=%v: usage = %+v", stream, resp.Usage)
		}
		if shown := strings.Join(h.Chunks(), ""); stream && shown != "Hi!" {
			t.Fatalf("the user saw %q while streaming; thinking must never show", shown)
		}
		b := api.Latest().Body
		th, _ := b["thinking"].(map[string]any)
		if th["type"] != "enabled" || th["budget_tokens"] != 16384.0 || b["max_tokens"] != 16384.0+4096 || b["temperature"] != 1.0 {
			t.Fatalf("stream=%v: body = %v", stream, b)
		}
	}

	for params, want := range map[string][2]float64{ // budget_tokens, max_tokens
		`{"reasoning":"low"}`:                           {2048, 2048 + 4096},
		`{"reasoning":"medium"}`:                        {8192, 8192 + 4096},
		`{"thinking":"minimal"}`:                        {1024, 1024 + 4096},
		`{"thinking":"max","max_tokens":32000}`:         {24576, 32000},
		`{"thinking_budget":5000,"max_tokens":8000}`:    {5000, 8000},
		`{"reasoning":{"effort":"high"}}`:               {16384, 16384 + 4096},
		`{"reasoning":{"max_tokens":3000}}`:             {3000, 3000 + 4096},
		`{"thinking":"low","reasoning":"high"}`:         {2048, 2048 + 4096}, // thinking wins
		`{"thinking":"medium","top_p":0.95}`:            {8192, 8192 + 4096},
		`{"thinking":"medium","thinking_budget":10000}`: {10000, 10000 + 4096},
	} {
		if _, e := h.Chat(withParams(hello("claude-think"), params)); e != nil {
			t.Fatalf("%s: %v", params, e)
		}
		b := api.Latest().Body
		th, _ := b["thinking"].(map[string]any)
		if th["budget_tokens"] != want[0] || b["max_tokens"] != want[1] {
			t.Errorf("%s: thinking %v, max_tokens %v; want %v", params, th, b["max_tokens"], want)
		}
	}
	for _, params := range []string{`{"thinking":"off"}`, `{"reasoning":"off"}`, `{"reasoning":{"enabled":false}}`, `{}`} {
		if _, e := h.Chat(withParams(hello("claude-test-4"), params)); e != nil {
			t.Fatalf("%s: %v", params, e)
		}
		if b := api.Latest().Body; b["thinking"] != nil || b["max_tokens"] != 4096.0 {
			t.Errorf("%s: body = %v, want no thinking and the default max_tokens", params, b)
		}
	}
}

// A request the API would refuse is refused by the plugin, naming the
// parameter to change, and no call is made.
func TestConstraintsCheckedBeforeTheCall(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	cases := []struct{ params, field, rule string }{
		{`{"thinking":"high","temperature":0.7}`, "temperature:", "must be 1 or unset when thinking is on (it is 0.7)"},
		{`{"reasoning":"low","top_k":40}`, "top_k:", "cannot be used when thinking is on"},
		{`{"thinking":"medium","top_p":0.5}`, "top_p:", "between 0.95 and 1 when thinking is on"},
		{`{"thinking":"high","max_tokens":10000}`, "max_tokens:", "must be more than the thinking budget (16384 tokens)"},
		{`{"thinking_budget":4096,"max_tokens":4096}`, "max_tokens:", "must be more than the thinking budget (4096 tokens)"},
		{`{"thinking_budget":512}`, "thinking_budget:", "must be at least 1024"},
		{`{"reasoning":{"max_tokens":100}}`, "reasoning.max_tokens:", "must be at least 1024"},
		{`{"thinking":"off","thinking_budget":2048}`, "thinking_budget:", "thinking is off"},
		{`{"temperature":1.5}`, "temperature:", "between 0 and 1 for Anthropic"},
		{`{"max_tokens":0}`, "max_tokens:", "at least 1"},
		{`{"temperature":"hot"}`, "advanced_parameters", "temperature"},
		{`{"reasoning":7}`, "advanced_parameters", "reasoning must be a level"},
	}
	for _, stream := range []bool{false, true} {
		for _, c := range cases {
			before := api.Count()
			req := withParams(hello("claude-think"), c.params)
			req.Stream = stream
			_, e := h.Chat(req)
			if e == nil || e.Code != abi.ErrBadRequest || !strings.HasPrefix(e.Message, c.field) || !strings.Contains(e.Message, c.rule) {
				t.Errorf("%s stream=%v: got %+v, want bad_request %q … %q", c.params, stream, e, c.field, c.rule)
			}
			if api.Count() != before {
				t.Errorf("%s: a request the API refuses was sent anyway", c.params)
			}
		}
	}
	// The request's own temperature counts too.
	temp := 0.7
	req := withParams(hello("claude-think"), `{"thinking":"low"}`)
	req.Temperature = &temp
	if _, e := h.Chat(req); e == nil || !strings.HasPrefix(e.Message, "temperature:") {
		t.Fatalf("got %+v", e)
	}
}

func TestRolesAlternate(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	req := abi.ChatRequest{Model: "claude-test-4", Messages: []abi.Message{
		{Role: abi.RoleSystem, Content: "You are Lilith."},
		{Role: abi.RoleAssistant, Content: "Welcome back."}, // history starts with the assistant
		{Role: abi.RoleUser, Content: "bob: hi"},
		{Role: abi.RoleUser, Content: "   "}, // empty: the API refuses it
		{Role: abi.RoleUser, Content: "alice: hello"},
		{Role: abi.RoleSystem, Content: "Keep it short."},
		{Role: abi.RoleAssistant, Content: "Hello both."},
		{Role: abi.RoleAssistant, Content: "How are you?"},
		{Role: abi.RoleUser, Content: "alice: fine"},
	}}
	if _, e := h.Chat(req); e != nil {
		t.Fatalf("chat: %v", e)
	}
	b := api.Latest().Body
	want := []any{
		map[string]any{"role": "user", "content": "(continued)"},
		map[string]any{"role": "assistant", "content": "Welcome back."},
		map[string]any{"role": "user", "content": "bob: hi\n\nalice: hello"},
		map[string]any{"role": "assistant", "content": "Hello both.\n\nHow are you?"},
		map[string]any{"role": "user", "content": "alice: fine"},
	}
	if !reflect.DeepEqual(b["messages"], want) || b["system"] != "You are Lilith.\n\nKeep it short." {
		t.Fatalf("messages = %v\nsystem = %q", b["messages"], b["system"])
	}
	for _, bad := range []abi.ChatRequest{
		{Model: "claude-test-4", Messages: []abi.Message{{Role: abi.RoleSystem, Content: "only a system prompt"}}},
		{Model: "claude-test-4", Messages: []abi.Message{{Role: "narrator", Content: "hi"}}},
	} {
		before := api.Count()
		if _, e := h.Chat(bad); e == nil || e.Code != abi.ErrBadRequest {
			t.Errorf("%+v: got %+v", bad.Messages, e)
		}
		if api.Count() != before {
			t.Error("a request the API refuses was sent anyway")
		}
	}
}

func TestToolCalls(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	for _, stream := range []bool{false, true} {
		req := hello("tools")
		req.Stream = stream
		req.Tools = []abi.Tool{{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}}`)}}
		req.Messages = append(req.Messages,
			abi.Message{Role: abi.RoleAssistant, ToolCalls: []abi.ToolCall{{ID: "toolu_00", Name: "get_weather", Arguments: `{"city":"Bergen"}`}}},
			abi.Message{Role: abi.RoleTool, ToolCallID: "toolu_00", Content: "rain"},
			abi.Message{Role: abi.RoleUser, Content: "alice: and Oslo?"})
		resp, e := h.Chat(req)
		if e != nil {
			t.Fatalf("stream=%v: %v", stream, e)
		}
		if resp.FinishReason != "tool_calls" || resp.Content != "Let me check." || len(resp.ToolCalls) != 1 {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		tc := resp.ToolCalls[0]
		var args map[string]any
		if tc.ID != "toolu_01" || tc.Name != "get_weather" || json.Unmarshal([]byte(tc.Arguments), &args) != nil || args["city"] != "Oslo" {
			t.Fatalf("stream=%v: tool call = %+v", stream, tc)
		}
		b := api.Latest().Body
		tool := b["tools"].([]any)[0].(map[string]any)
		if tool["name"] != "get_weather" || tool["input_schema"].(map[string]any)["type"] != "object" {
			t.Fatalf("tools = %v", b["tools"])
		}
		msgs := b["messages"].([]any)
		asst := msgs[1].(map[string]any)["content"].([]any)[0].(map[string]any)
		if asst["type"] != "tool_use" || asst["id"] != "toolu_00" || asst["input"].(map[string]any)["city"] != "Bergen" {
			t.Fatalf("assistant tool turn = %v", msgs[1])
		}
		// The tool result and the next user message are one user turn,
		// the result first.
		user := msgs[2].(map[string]any)["content"].([]any)
		if len(msgs) != 3 || user[0].(map[string]any)["type"] != "tool_result" || user[0].(map[string]any)["tool_use_id"] != "toolu_00" ||
			user[0].(map[string]any)["content"] != "rain" || user[1].(map[string]any)["text"] != "alice: and Oslo?" {
			t.Fatalf("messages = %v", msgs)
		}
	}
	req := hello("tools")
	req.Messages = append(req.Messages, abi.Message{Role: abi.RoleAssistant, ToolCalls: []abi.ToolCall{{ID: "t", Name: "f", Arguments: `[1,2]`}}})
	if _, e := h.Chat(req); e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "not a JSON object") {
		t.Fatalf("got %+v", e)
	}
}

// A reply that is only thinking (the model ran out of max_tokens while
// thinking) is an error that says what to change; its tokens are still
// counted, and nothing was shown.
func TestThinkingOnlyReply(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	for _, stream := range []bool{false, true} {
		h.Reset()
		req := withParams(hello("thinking-only"), `{"thinking":"low"}`)
		req.Stream = stream
		_, e := h.Chat(req)
		if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "spent all its output tokens (2048) thinking") ||
			!strings.Contains(e.Message, "raise max_tokens or lower the thinking level") {
			t.Fatalf("stream=%v: got %+v", stream, e)
		}
		if u := h.Usage(); len(u) != 1 || u[0].OutputTokens != 2048 || u[0].InputTokens != 25 {
			t.Fatalf("stream=%v: recorded usage = %+v", stream, u)
		}
		if c := h.Chunks(); len(c) != 0 {
			t.Fatalf("stream=%v: the user saw %q", stream, c)
		}
	}
	// Redacted thinking is never shown and leaves no trace in reasoning.
	resp, e := h.Chat(withParams(hello("redacted"), `{"thinking":"low"}`))
	if e != nil || resp.Content != "Fine." || resp.Reasoning != "" {
		t.Fatalf("redacted: %+v %v", resp, e)
	}
}

func TestUsageCountsCachedInput(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	for _, stream := range []bool{false, true} {
		h.Reset()
		req := hello("cached")
		req.Stream = stream
		resp, e := h.Chat(req)
		if e != nil {
			t.Fatal(e)
		}
		// 10 uncached + 200 written to the cache + 3000 read from it.
		want := abi.Usage{Kind: "text", Model: "cached-20250514", InputTokens: 3210, OutputTokens: 3}
		if resp.Usage != want {
			t.Fatalf("stream=%v: usage = %+v, want %+v", stream, resp.Usage, want)
		}
		if u := h.Usage(); len(u) != 1 || u[0].Usage != want {
			t.Fatalf("stream=%v: recorded = %+v", stream, u)
		}
	}
	// A reply cut by max_tokens is still a reply, finish reason length.
	resp, e := h.Chat(hello("long"))
	if e != nil || resp.Content != "Once upon a" || resp.FinishReason != "length" {
		t.Fatalf("long: %+v %v", resp, e)
	}
}

func TestAPIErrors(t *testing.T) {
	h, api := setup(t, plugintest.Options{Keys: map[string]string{"mallory": keyBadOne, "broke": keyBroke}})
	cases := []struct {
		model     string
		code      string
		retryable bool
		status    int
		msg       string
	}{
		{"overloaded", abi.ErrUnavailable, true, 529, "Anthropic is overloaded right now (Overloaded)"},
		{"rate-limited", abi.ErrRateLimited, true, 429, "per-minute rate limit (Anthropic asks to wait 7 s before trying again)"},
		{"no-such-model", abi.ErrBadRequest, false, 404, "model: no-such-model"},
		{"forbidden", abi.ErrInvalidKey, false, 403, "does not have permission"},
		{"api-error", abi.ErrUnavailable, true, 500, "Internal server error"},
		{"html", abi.ErrUnavailable, true, 502, "502 Bad Gateway"},
		{"garbage", abi.ErrUnavailable, true, 0, "not valid Messages API JSON"},
		{"refusal", abi.ErrContent, false, 0, "declined"},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", c.model, stream), func(t *testing.T) {
				req := hello(c.model)
				req.Stream = stream
				_, e := h.Chat(req)
				plugintest.CheckError(t, e, plugintest.WantError{Code: c.code, Retryable: c.retryable, HTTPStatus: c.status, Message: c.msg})
			})
		}
	}
	t.Run("stream errors", func(t *testing.T) {
		for model, want := range map[string]string{
			"stream-overloaded": "Anthropic is overloaded right now",
			"cut":               "stream ended before the reply was complete (no message_stop)",
		} {
			h.Reset()
			req := hello(model)
			req.Stream = true
			resp, e := h.Chat(req)
			if e == nil || e.Code != abi.ErrUnavailable || !e.Retryable || !strings.Contains(e.Message, want) {
				t.Fatalf("%s: got %+v %+v, want unavailable, retryable, %q", model, resp, e, want)
			}
			if got := strings.Join(h.Chunks(), ""); got != "Par" {
				t.Fatalf("%s: chunks %q", model, got)
			}
		}
	})
	t.Run("invalid key, never echoed", func(t *testing.T) {
		for _, stream := range []bool{false, true} {
			req := hello("claude-test-4")
			req.Stream = stream
			_, e := h.As("mallory").Chat(req)
			if e == nil || e.Code != abi.ErrInvalidKey || e.HTTPStatus != 401 {
				t.Fatalf("got %+v", e)
			}
			if strings.Contains(e.Message, keyBadOne) || strings.Contains(e.Message, "wrong-0123456789") {
				t.Fatalf("the API's echo of the key reached the error: %q", e.Message)
			}
			if api.Latest().Header.Get("x-api-key") != keyBadOne {
				t.Fatal("each user's own key must be sent")
			}
		}
	})
	t.Run("no credit", func(t *testing.T) {
		_, e := h.As("broke").Chat(hello("claude-test-4"))
		if e == nil || e.Code != abi.ErrNoCredit || !strings.Contains(e.Message, "credit balance is too low") {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("no key", func(t *testing.T) {
		_, e := h.As("nobody").Chat(hello("claude-test-4"))
		if e == nil || e.Code != abi.ErrNoKey {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("no model anywhere", func(t *testing.T) {
		h := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, Config: map[string]string{"base_url": "http://127.0.0.1:1"}})
		_, e := h.Chat(hello(""))
		if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "default_model") {
			t.Fatalf("got %+v", e)
		}
	})
}

func TestValidateKey(t *testing.T) {
	keys := map[string]string{"good": keyGood, "bad": keyBadOne, "broke": keyBroke, "flaky": keyFlaky}
	h, api := setup(t, plugintest.Options{Keys: keys})
	for user, want := range map[string]string{"good": abi.KeyValid, "bad": abi.KeyInvalid, "broke": abi.KeyNoCredit, "flaky": abi.KeyUnreachable} {
		r, e := h.As(user).ValidateKey()
		if e != nil || r.Status != want {
			t.Errorf("%s: got %+v %v, want %s", user, r, e, want)
		}
		if strings.Contains(r.Message, keys[user]) {
			t.Errorf("%s: the key is in the message %q", user, r.Message)
		}
		got := api.Latest()
		if got.Method != "GET" || got.Path != "/v1/models" || got.Query != "limit=1" ||
			got.Header.Get("x-api-key") != keys[user] || got.Header.Get("anthropic-version") != "2023-06-01" {
			t.Errorf("validation went to %s %s?%s with %v", got.Method, got.Path, got.Query, got.Header)
		}
	}
	if _, e := h.As("nobody").ValidateKey(); e == nil || e.Code != abi.ErrNoKey {
		t.Errorf("no key: got %+v", e)
	}

	srv := httptest.NewServer(nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	down := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, Config: map[string]string{"base_url": "http://" + addr}})
	r, e := down.ValidateKey()
	if e != nil || r.Status != abi.KeyUnreachable || r.Message == "" {
		t.Fatalf("unreachable: got %+v %v", r, e)
	}
}

// TestModels: the catalogue is Anthropic's model list with display names
// and which models think, every page of it, in the API's order; errors
// are typed like chat's.
func TestModels(t *testing.T) {
	want := []abi.Model{
		{ID: "claude-test-4", Name: "Claude Test 4", Reasoning: true},
		{ID: "claude-sonnet-4-5-20250929", Name: "Claude Sonnet 4.5", Reasoning: true},
		{ID: "claude-opus-4-1-20250805", Name: "Claude Opus 4.1", Reasoning: true},
		{ID: "claude-3-7-sonnet-20250219", Name: "Claude Sonnet 3.7", Reasoning: true},
		{ID: "claude-3-5-haiku-20241022", Name: "Claude Haiku 3.5"},
	}
	t.Run("one page", func(t *testing.T) {
		h, api := setup(t, plugintest.Options{})
		l, e := h.Models()
		if e != nil || fmt.Sprint(l.Models) != fmt.Sprint(want) {
			t.Fatalf("models = %+v, %v\nwant %+v", l.Models, e, want)
		}
		got := api.Latest()
		if api.Count() != 1 || got.Method != "GET" || got.Path != "/v1/models" || got.Query != "limit=1000" ||
			got.Header.Get("x-api-key") != keyGood || got.Header.Get("anthropic-version") == "" {
			t.Errorf("%d requests, last %s %s?%s", api.Count(), got.Method, got.Path, got.Query)
		}
	})
	t.Run("pages", func(t *testing.T) {
		h, api := setup(t, plugintest.Options{})
		api.PageMax.Store(2)
		l, e := h.Models()
		if e != nil || fmt.Sprint(l.Models) != fmt.Sprint(want) {
			t.Fatalf("models = %+v, %v\nwant %+v", l.Models, e, want)
		}
		if api.Count() != 3 || api.Latest().Query != "after_id=claude-3-7-sonnet-20250219&limit=1000" {
			t.Errorf("%d requests, last ?%s; want 3 pages following last_id", api.Count(), api.Latest().Query)
		}
	})
	t.Run("errors", func(t *testing.T) {
		h, _ := setup(t, plugintest.Options{Keys: map[string]string{"bad": keyBadOne, "flaky": keyFlaky}})
		for user, code := range map[string]string{"bad": abi.ErrInvalidKey, "flaky": abi.ErrUnavailable} {
			_, e := h.As(user).Models()
			if e == nil || e.Code != code {
				t.Errorf("%s: error %v, want code %s", user, e, code)
			} else if strings.Contains(e.Message, keyBadOne) {
				t.Errorf("%s: the error repeats the key: %s", user, e.Message)
			}
		}
	})
}

// TestPortableReasoningMapping is docs/providers.md's table for Anthropic,
// checked on the request bodies the fake API received: each portable
// level, given as reasoning (the string) or as thinking, becomes the same
// thinking budget, and max_tokens makes room for it.
func TestPortableReasoningMapping(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	budgets := map[string]float64{"off": 0, "minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "max": 24576}
	for level, budget := range budgets {
		for _, key := range []string{"reasoning", "thinking"} {
			req := hello("claude-test")
			req.AdvancedParameters = json.RawMessage(`{"` + key + `":"` + level + `"}`)
			if _, e := h.Chat(req); e != nil {
				t.Fatalf("%s %s: %v", key, level, e)
			}
			b := api.Latest().Body
			if budget == 0 {
				if b["thinking"] != nil || b["max_tokens"] != 4096.0 {
					t.Errorf("%s off: thinking %v, max_tokens %v; want no thinking and 4096", key, b["thinking"], b["max_tokens"])
				}
				continue
			}
			th, _ := b["thinking"].(map[string]any)
			if th["type"] != "enabled" || th["budget_tokens"] != budget || b["max_tokens"] != budget+4096 {
				t.Errorf("%s %s: thinking %v, max_tokens %v; want budget %v and max_tokens %v", key, level, th, b["max_tokens"], budget, budget+4096)
			}
		}
	}
	// Nothing asked: Anthropic thinks only when asked to.
	if _, e := h.Chat(hello("claude-test")); e != nil {
		t.Fatal(e)
	}
	if b := api.Latest().Body; b["thinking"] != nil {
		t.Errorf("no level asked, but thinking is %v", b["thinking"])
	}
}
