//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// wasmPath is the real plugin, built from this directory once per run.
var wasmPath string

func TestMain(m *testing.M) { os.Exit(plugintest.BuildForMain(m, ".", &wasmPath)) }

// setup starts a fake provider and loads the plugin against it.
func setup(t testing.TB, flavor string, opts plugintest.Options) (*plugintest.Harness, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{t: t, noAuth: flavor == "local"}
	url, host := plugintest.Loopback(t, api)
	base := url + "/v1"
	if flavor == "openrouter" {
		base = url + "/api/v1"
	}
	opts.Config = map[string]string{"base_url": base, "default_model": "gpt-test", "flavor": flavor}
	opts.AllowedHosts = []string{host}
	if opts.Key == "" && flavor != "local" {
		opts.Key = keyGood
	}
	return plugintest.New(t, wasmPath, opts), api
}

func hello(model string) abi.ChatRequest {
	return abi.ChatRequest{Model: model, Messages: []abi.Message{
		{Role: abi.RoleSystem, Content: "You are Lilith."},
		{Role: abi.RoleUser, Content: "Hi there", Name: "alice"},
	}}
}

func TestDescribeAndParametersSchema(t *testing.T) {
	h, _ := setup(t, "openai", plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("missing ABI marker export")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "openai" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "llm.chat,llm.validate_key,llm.models,llm.embed" {
		t.Fatalf("describe = %+v", d)
	}
	local, _ := setup(t, "local", plugintest.Options{})
	if local.Describe().NeedsKey {
		t.Fatal("a local server plugin must not ask for a key")
	}

	valid := plugintest.ParamsSchema(t, d.ParametersSchema)
	for params, ok := range map[string]bool{
		`{"temperature":0.7,"top_p":0.9,"top_k":40,"thinking":"high","max_tokens":1000,"seed":3,"response_format":{"type":"json_object"}}`: true,
		`{"reasoning":{"effort":"xhigh","exclude":true},"transforms":["middle-out"],"route":"fallback","logit_bias":{"50256":-100}}`:       true,
		`{"temperature":2.5}`:            false,
		`{"top_p":-0.1}`:                 false,
		`{"thinking":"extreme"}`:         false,
		`{"temprature":1}`:               false, // a typo must be refused, not ignored
		`{"logit_bias":{"1":200}}`:       false,
		`{"reasoning":{"effort":"big"}}`: false,
	} {
		if err := valid(params); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", params, err == nil, ok, err)
		}
	}
}

func TestChat(t *testing.T) {
	h, api := setup(t, "openai", plugintest.Options{})
	req := hello("")
	req.AdvancedParameters = json.RawMessage(`{"temperature":0.3,"top_k":40,"seed":7}`)
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	if resp.Content != "Hello there!" || resp.FinishReason != "stop" || resp.Model != "gpt-test-2025" {
		t.Fatalf("response = %+v", resp)
	}
	want := abi.Usage{Kind: "text", Model: "gpt-test-2025", InputTokens: 12, OutputTokens: 5}
	if resp.Usage != want {
		t.Fatalf("usage in response = %+v, want %+v", resp.Usage, want)
	}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != want || u[0].User != plugintest.DefaultUser {
		t.Fatalf("recorded usage = %+v", u)
	}

	got := api.last()
	if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer "+keyGood {
		t.Fatalf("request went to %s with auth %q", got.Path, got.Header.Get("Authorization"))
	}
	b := got.Body
	if b["model"] != "gpt-test" || b["temperature"] != 0.3 || b["seed"] != 7.0 || b["stream"] != nil {
		t.Fatalf("request body = %v", b)
	}
	if _, ok := b["top_k"]; ok {
		t.Fatal("OpenAI does not take top_k: it must be left out")
	}
	msgs := b["messages"].([]any)
	if len(msgs) != 2 || msgs[1].(map[string]any)["name"] != "alice" || msgs[1].(map[string]any)["content"] != "Hi there" {
		t.Fatalf("messages = %v", msgs)
	}
	for _, l := range h.Logs() {
		if strings.Contains(fmt.Sprint(l), keyGood) {
			t.Fatalf("the key leaked into a log entry: %+v", l)
		}
	}

	// An explicit request temperature wins over the personality's.
	temp := 1.5
	req.Temperature = &temp
	if _, e := h.Chat(req); e != nil {
		t.Fatal(e)
	}
	if api.last().Body["temperature"] != 1.5 {
		t.Fatalf("temperature = %v, want the request's 1.5", api.last().Body["temperature"])
	}
}

func TestChatStreamsInOrder(t *testing.T) {
	gate := make(chan string, 8)
	h, api := setup(t, "openrouter", plugintest.Options{OnChunk: func(_, c string) { gate <- c }})
	api.gate = gate
	req := hello("gpt-stream")
	req.Stream = true
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	if got := strings.Join(h.Chunks(), "|"); got != "Hel|lo |there!" {
		t.Fatalf("chunks = %q, want Hel|lo |there! in order", got)
	}
	if resp.Content != "Hello there!" || resp.FinishReason != "stop" || resp.Usage.InputTokens != 12 || resp.Usage.OutputTokens != 5 {
		t.Fatalf("response = %+v", resp)
	}
	if u := h.Usage(); len(u) != 1 || u[0].OutputTokens != 5 {
		t.Fatalf("recorded usage = %+v", u)
	}
	b := api.last().Body
	if b["stream"] != true || b["stream_options"].(map[string]any)["include_usage"] != true {
		t.Fatalf("a streaming request must ask for usage: %v", b)
	}
	if api.last().Path != "/api/v1/chat/completions" {
		t.Fatalf("path = %s", api.last().Path)
	}
}

func TestReasoning(t *testing.T) {
	t.Run("openrouter reasoning field and effort", func(t *testing.T) {
		h, api := setup(t, "openrouter", plugintest.Options{})
		for _, stream := range []bool{false, true} {
			req := hello("or-reasoning")
			req.Stream = stream
			req.AdvancedParameters = json.RawMessage(`{"thinking":"max","top_a":0.2}`)
			resp, e := h.Chat(req)
			if e != nil {
				t.Fatal(e)
			}
			if resp.Content != "Hi!" || resp.Reasoning != "The user greets; answer warmly." || resp.Usage.ReasoningTokens != 7 {
				t.Fatalf("stream=%v: %+v", stream, resp)
			}
			b := api.last().Body
			if r := b["reasoning"].(map[string]any); r["effort"] != "xhigh" || b["max_tokens"] != 65536.0 || b["top_a"] != 0.2 {
				t.Fatalf("stream=%v: body = %v", stream, b)
			}
		}
		req := hello("or-reasoning")
		req.AdvancedParameters = json.RawMessage(`{"reasoning":{"enabled":false}}`)
		if _, e := h.Chat(req); e != nil {
			t.Fatal(e)
		}
		if r := api.last().Body["reasoning"].(map[string]any); r["effort"] != "none" {
			t.Fatalf("legacy enabled:false must ask for effort none, got %v", r)
		}
	})
	t.Run("openai reasoning_effort", func(t *testing.T) {
		h, api := setup(t, "openai", plugintest.Options{})
		req := hello("gpt-test")
		req.AdvancedParameters = json.RawMessage(`{"reasoning":{"effort":"low"}}`)
		if _, e := h.Chat(req); e != nil {
			t.Fatal(e)
		}
		b := api.last().Body
		if b["reasoning_effort"] != "low" || b["max_completion_tokens"] != 8192.0 || b["max_tokens"] != nil || b["reasoning"] != nil {
			t.Fatalf("body = %v", b)
		}
	})
	t.Run("reasoning_content from a local server", func(t *testing.T) {
		h, api := setup(t, "local", plugintest.Options{})
		resp, e := h.Chat(hello("rc-reasoning"))
		if e != nil {
			t.Fatal(e)
		}
		if resp.Content != "Done." || resp.Reasoning != "Thinking in reasoning_content." {
			t.Fatalf("%+v", resp)
		}
		if api.last().Header.Get("Authorization") != "" {
			t.Fatal("no key goes to a local server")
		}
	})
	t.Run("think tags stripped, also across stream chunks", func(t *testing.T) {
		h, _ := setup(t, "local", plugintest.Options{})
		for _, stream := range []bool{false, true} {
			h.Reset()
			req := hello("think-tags")
			req.Stream = stream
			resp, e := h.Chat(req)
			if e != nil {
				t.Fatal(e)
			}
			if resp.Content != "Visible <b>bold</b>." || resp.Reasoning != "pondering" {
				t.Fatalf("stream=%v: %+v", stream, resp)
			}
			if shown := strings.Join(h.Chunks(), ""); stream && shown != "Visible <b>bold</b>." {
				t.Fatalf("the user saw %q while streaming; reasoning must never show", shown)
			}
		}
	})
}

func TestToolCalls(t *testing.T) {
	h, api := setup(t, "openai", plugintest.Options{})
	for _, stream := range []bool{false, true} {
		req := hello("tools")
		req.Stream = stream
		req.Tools = []abi.Tool{{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
		req.Messages = append(req.Messages,
			abi.Message{Role: abi.RoleAssistant, ToolCalls: []abi.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Bergen"}`}}},
			abi.Message{Role: abi.RoleTool, ToolCallID: "call_0", Content: "rain"})
		resp, e := h.Chat(req)
		if e != nil {
			t.Fatal(e)
		}
		want := []abi.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}
		if resp.FinishReason != "tool_calls" || fmt.Sprint(resp.ToolCalls) != fmt.Sprint(want) || resp.Content != "" {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		b := api.last().Body
		tool := b["tools"].([]any)[0].(map[string]any)
		if tool["type"] != "function" || tool["function"].(map[string]any)["name"] != "get_weather" {
			t.Fatalf("tools = %v", b["tools"])
		}
		msgs := b["messages"].([]any)
		asst, toolMsg := msgs[2].(map[string]any), msgs[3].(map[string]any)
		if asst["content"] != nil || asst["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)["arguments"] != `{"city":"Bergen"}` {
			t.Fatalf("assistant tool turn = %v", asst)
		}
		if toolMsg["tool_call_id"] != "call_0" || toolMsg["content"] != "rain" {
			t.Fatalf("tool turn = %v", toolMsg)
		}
	}
}

func TestProviderErrors(t *testing.T) {
	h, _ := setup(t, "openrouter", plugintest.Options{Keys: map[string]string{"mallory": keyBadOne}})
	cases := []struct {
		model     string
		code      string
		retryable bool
		status    int
		msg       string
	}{
		{"status-400", abi.ErrBadRequest, false, 400, "Invalid value for 'temperature'"},
		{"status-402", abi.ErrNoCredit, false, 402, "forced 402"},
		{"status-403", abi.ErrInvalidKey, false, 403, "forced 403"},
		{"status-429", abi.ErrRateLimited, true, 429, "forced 429"},
		{"status-429-quota", abi.ErrNoCredit, false, 429, "exceeded your current quota"},
		{"status-500", abi.ErrUnavailable, true, 500, "upstream connect error"},
		{"status-503", abi.ErrUnavailable, true, 503, "upstream connect error"},
		{"garbage", abi.ErrUnavailable, true, 0, "not valid chat completion JSON"},
		{"html", abi.ErrUnavailable, true, 0, "Cloudflare: origin is down"},
		{"no-choices", abi.ErrUnavailable, true, 0, "without choices"},
		{"error-in-200", abi.ErrUnavailable, true, 502, "Provider returned error"},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			if stream && (c.model == "no-choices" || c.model == "error-in-200") {
				continue // non-streaming shapes
			}
			if stream && c.model == "html" {
				c.msg = "not an event stream (content-type text/html)"
			}
			t.Run(fmt.Sprintf("%s/stream=%v", c.model, stream), func(t *testing.T) {
				req := hello(c.model)
				req.Stream = stream
				_, e := h.Chat(req)
				plugintest.CheckError(t, e, plugintest.WantError{Code: c.code, Retryable: c.retryable, HTTPStatus: c.status, Message: c.msg})
			})
		}
	}
	t.Run("stream errors", func(t *testing.T) {
		for model, want := range map[string]string{"stream-error": "Upstream overloaded", "cut": "ended before the reply was complete"} {
			req := hello(model)
			req.Stream = true
			_, e := h.Chat(req)
			if e == nil || e.Code != abi.ErrUnavailable || !e.Retryable || !strings.Contains(e.Message, want) {
				t.Fatalf("%s: got %+v", model, e)
			}
		}
	})
	t.Run("invalid key, never echoed", func(t *testing.T) {
		_, e := h.As("mallory").Chat(hello("gpt-test"))
		if e == nil || e.Code != abi.ErrInvalidKey || e.HTTPStatus != 401 {
			t.Fatalf("got %+v", e)
		}
		if strings.Contains(e.Message, keyBadOne) {
			t.Fatalf("the provider's echo of the key reached the error: %q", e.Message)
		}
	})
	t.Run("no key", func(t *testing.T) {
		_, e := h.As("nobody").Chat(hello("gpt-test"))
		if e == nil || e.Code != abi.ErrNoKey {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("no model anywhere", func(t *testing.T) {
		h := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, Config: map[string]string{"base_url": "http://127.0.0.1:1/v1"}})
		_, e := h.Chat(hello(""))
		if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "default_model") {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("bad advanced parameters", func(t *testing.T) {
		req := hello("gpt-test")
		req.AdvancedParameters = json.RawMessage(`{"temperature":"hot"}`)
		_, e := h.Chat(req)
		if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, "advanced_parameters") {
			t.Fatalf("got %+v", e)
		}
	})
}

func TestValidateKey(t *testing.T) {
	keys := map[string]string{"good": keyGood, "bad": keyBadOne, "empty": keyEmpty, "broke": keyBroke, "flaky": keyFlaky}
	t.Run("openai", func(t *testing.T) {
		h, api := setup(t, "openai", plugintest.Options{Keys: keys})
		for user, want := range map[string]string{"good": abi.KeyValid, "bad": abi.KeyInvalid, "broke": abi.KeyNoCredit, "flaky": abi.KeyUnreachable} {
			r, e := h.As(user).ValidateKey()
			if e != nil || r.Status != want {
				t.Errorf("%s: got %+v %v, want %s", user, r, e, want)
			}
			if got := api.last(); got.Method != "GET" || got.Path != "/v1/models" {
				t.Errorf("validation went to %s %s", got.Method, got.Path)
			}
		}
	})
	t.Run("openrouter", func(t *testing.T) {
		h, api := setup(t, "openrouter", plugintest.Options{Keys: keys})
		for user, want := range map[string]string{"good": abi.KeyValid, "bad": abi.KeyInvalid, "empty": abi.KeyNoCredit} {
			r, e := h.As(user).ValidateKey()
			if e != nil || r.Status != want {
				t.Errorf("%s: got %+v %v, want %s", user, r, e, want)
			}
			if got := api.last(); got.Path != "/api/v1/auth/key" {
				t.Errorf("validation went to %s", got.Path)
			}
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(nil)
		addr := strings.TrimPrefix(srv.URL, "http://")
		srv.Close() // nothing listens there any more
		h := plugintest.New(t, wasmPath, plugintest.Options{Key: keyGood, Config: map[string]string{"base_url": "http://" + addr + "/v1"}})
		r, e := h.ValidateKey()
		if e != nil || r.Status != abi.KeyUnreachable || r.Message == "" {
			t.Fatalf("got %+v %v", r, e)
		}
	})
}

// TestModels: each kind of server's model list becomes the same catalogue,
// without the models chat cannot use, with names, context windows and
// reasoning where the provider says so; errors are typed like chat's.
func TestModels(t *testing.T) {
	ids := func(l abi.ModelList) string {
		var out []string
		for _, m := range l.Models {
			out = append(out, m.ID)
		}
		return strings.Join(out, ",")
	}
	t.Run("openai", func(t *testing.T) {
		h, api := setup(t, "openai", plugintest.Options{})
		l, e := h.Models()
		if e != nil {
			t.Fatal(e)
		}
		if got, want := ids(l), "gpt-4o,gpt-4o-mini,gpt-5,gpt-5-chat-latest,gpt-test,o3-mini"; got != want {
			t.Errorf("models = %s, want %s (no embeddings, speech or images)", got, want)
		}
		for _, m := range l.Models {
			want := m.ID == "gpt-5" || m.ID == "o3-mini"
			if m.Reasoning != want {
				t.Errorf("%s: reasoning = %v, want %v", m.ID, m.Reasoning, want)
			}
		}
		if got := api.last(); got.Method != "GET" || got.Path != "/v1/models" || got.Header.Get("Authorization") != "Bearer "+keyGood {
			t.Errorf("request %s %s auth %q", got.Method, got.Path, got.Header.Get("Authorization"))
		}
	})
	t.Run("openrouter", func(t *testing.T) {
		h, api := setup(t, "openrouter", plugintest.Options{})
		l, e := h.Models()
		if e != nil {
			t.Fatal(e)
		}
		want := []abi.Model{
			{ID: "anthropic/claude-sonnet-4", Name: "Anthropic: Claude Sonnet 4", ContextTokens: 200000, Reasoning: true},
			{ID: "google/gemini-2.5-flash", Name: "Google: Gemini 2.5 Flash", ContextTokens: 1048576, Reasoning: true},
			{ID: "openai/gpt-4o-mini", Name: "OpenAI: GPT-4o-mini", ContextTokens: 128000},
		}
		if fmt.Sprint(l.Models) != fmt.Sprint(want) {
			t.Errorf("models = %+v\nwant %+v", l.Models, want)
		}
		if got := api.last(); got.Path != "/api/v1/models" {
			t.Errorf("request went to %s", got.Path)
		}
	})
	t.Run("local", func(t *testing.T) {
		h, _ := setup(t, "local", plugintest.Options{})
		l, e := h.Models()
		if e != nil || ids(l) != "llama3.2:latest,qwen3:8b" {
			t.Fatalf("models = %+v, %v", l, e)
		}
	})
	t.Run("errors", func(t *testing.T) {
		keys := map[string]string{"bad": keyBadOne, "flaky": keyFlaky}
		h, _ := setup(t, "openai", plugintest.Options{Keys: keys})
		for user, code := range map[string]string{"bad": abi.ErrInvalidKey, "flaky": abi.ErrUnavailable} {
			_, e := h.As(user).Models()
			if e == nil || e.Code != code {
				t.Errorf("%s: error %v, want code %s", user, e, code)
			}
			if e != nil && strings.Contains(e.Message, keyBadOne) {
				t.Errorf("%s: the error repeats the key: %s", user, e.Message)
			}
		}
	})
}

// TestUsageFromProviderNumbers: the provider's own numbers for a reasoning reply (completion 18
// of which 11 reasoning) become output 18 and reasoning 11, as the ABI says (output includes
// reasoning; reasoning is reported separately as a subset), streamed or not.
func TestUsageFromProviderNumbers(t *testing.T) {
	for _, c := range []struct{ flavor, model string }{{"openai", "usage-openai"}, {"openrouter", "usage-openrouter"}} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", c.flavor, stream), func(t *testing.T) {
				h, _ := setup(t, c.flavor, plugintest.Options{})
				req := hello(c.model)
				req.Stream = stream
				resp, e := h.Chat(req)
				if e != nil {
					t.Fatalf("chat: %v", e)
				}
				if u := resp.Usage; u.InputTokens != 25 || u.OutputTokens != 18 || u.ReasoningTokens != 11 {
					t.Fatalf("usage = %+v, want input 25, output 18 (reasoning included), reasoning 11", u)
				}
				if u := h.Usage(); len(u) != 1 || u[0].OutputTokens != 18 || u[0].ReasoningTokens != 11 {
					t.Fatalf("recorded usage = %+v", u)
				}
			})
		}
	}
}

// TestPortableReasoningMapping is docs/providers.md's table for this
// plugin, checked on the request bodies the fake API received: each
// portable level, given as reasoning (the string) or as thinking, becomes
// the same field of each flavor.
func TestPortableReasoningMapping(t *testing.T) {
	want := map[string]map[string]string{ // flavor -> level -> effort sent
		"openai":     {"off": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "max": "high"},
		"openrouter": {"off": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "max": "xhigh"},
		"local":      {"off": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "max": "high"},
	}
	for _, flavor := range []string{"openai", "openrouter", "local"} {
		t.Run(flavor, func(t *testing.T) {
			h, api := setup(t, flavor, plugintest.Options{})
			for _, level := range []string{"off", "minimal", "low", "medium", "high", "max"} {
				for _, key := range []string{"reasoning", "thinking"} {
					req := hello("gpt-test")
					req.AdvancedParameters = json.RawMessage(`{"` + key + `":"` + level + `"}`)
					if _, e := h.Chat(req); e != nil {
						t.Fatalf("%s %s: %v", key, level, e)
					}
					b := api.last().Body
					var got any
					if flavor == "openrouter" {
						r, _ := b["reasoning"].(map[string]any)
						got = r["effort"]
						if b["reasoning_effort"] != nil {
							t.Errorf("%s %s: OpenRouter got reasoning_effort too: %v", key, level, b)
						}
					} else {
						got = b["reasoning_effort"]
						if b["reasoning"] != nil {
							t.Errorf("%s %s: %s got a reasoning object: %v", key, level, flavor, b)
						}
					}
					if got != want[flavor][level] {
						t.Errorf("%s %q: effort sent %v, want %q", key, level, got, want[flavor][level])
					}
				}
			}
			// Nothing asked: no reasoning field at all (the model's default).
			if _, e := h.Chat(hello("gpt-test")); e != nil {
				t.Fatal(e)
			}
			if b := api.last().Body; b["reasoning_effort"] != nil || b["reasoning"] != nil {
				t.Errorf("no level asked, but the body has %v / %v", b["reasoning_effort"], b["reasoning"])
			}
		})
	}
}
