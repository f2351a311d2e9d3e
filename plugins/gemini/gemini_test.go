//go:build !wasip1

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// setup starts a fake Gemini API and loads the plugin against it.
func setup(t testing.TB, opts plugintest.Options) (*plugintest.Harness, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{T: t}
	base, host := plugintest.Loopback(t, api)
	opts.Config = map[string]string{"base_url": base, "default_model": "gemini-2.5-flash"}
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

// noKeyLeak fails if the key reached a log line or an error.
func noKeyLeak(t *testing.T, h *plugintest.Harness, e *abi.Error) {
	t.Helper()
	for _, l := range h.Logs() {
		if strings.Contains(fmt.Sprint(l), "0123456789abcdef") {
			t.Fatalf("the key leaked into a log entry: %+v", l)
		}
	}
	if e != nil && strings.Contains(e.Message, "0123456789abcdef") {
		t.Fatalf("the key leaked into an error: %+v", e)
	}
}

func TestDescribeAndParametersSchema(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	if !h.HasExport(abi.MarkerExport) {
		t.Fatal("missing ABI marker export")
	}
	d := h.Describe()
	if d.ABI != abi.Version || d.Name != "gemini" || !d.NeedsKey || !d.NeedsNetwork ||
		strings.Join(d.Capabilities, ",") != "llm.chat,llm.validate_key,llm.models" {
		t.Fatalf("describe = %+v", d)
	}
	if bytes.Contains(d.ParametersSchema, []byte(`"$ref"`)) {
		t.Fatal("parameters_schema must be self-contained")
	}
	valid := plugintest.ParamsSchema(t, d.ParametersSchema)
	for params, ok := range map[string]bool{
		`{"temperature":1.5,"top_p":0.9,"top_k":40,"max_tokens":1000,"stop_sequences":["END"]}`: true,
		`{"thinking":"high"}`:            true,
		`{"thinking_level":"low"}`:       true,
		`{"thinking_budget":-1}`:         true,
		`{"thinking_budget":0}`:          true,
		`{"reasoning":"medium"}`:         true,
		`{"reasoning":{"effort":"low"}}`: true,
		`{"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}]}`: true,
		`{"temperature":2.5}`:                             false,
		`{"temperature":"hot"}`:                           false,
		`{"top_p":1.1}`:                                   false,
		`{"top_k":0}`:                                     false,
		`{"max_tokens":"lots"}`:                           false,
		`{"stop_sequences":["a","b","c","d","e","f"]}`:    false,
		`{"thinking_level":"medium"}`:                     false,
		`{"thinking_budget":-2}`:                          false,
		`{"thinking_budget":40000}`:                       false,
		`{"thinking_level":"low","thinking_budget":1024}`: false,
		`{"thinking":"off","thinking_budget":1024}`:       false,
		`{"thinking":"off","thinking_budget":0}`:          true,
		`{"reasoning":"off","thinking_level":"high"}`:     false,
		`{"temprature":1}`:                                false, // a typo is refused, not ignored
		`{"safety_settings":[{"category":"HARM_CATEGORY_VIOLENCE","threshold":"BLOCK_NONE"}]}`:   false,
		`{"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_SOME"}]}`: false,
	} {
		if err := valid(params); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", params, err == nil, ok, err)
		}
	}
}

func TestChat(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	req := withParams(hello(""), `{"temperature":0.3,"top_k":40,"top_p":0.9,"max_tokens":500,"stop_sequences":["END"],
		"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}]}`)
	req.Messages = append(req.Messages,
		abi.Message{Role: abi.RoleUser, Content: "bob: and me"},
		abi.Message{Role: abi.RoleAssistant, Content: "Hi both."},
		abi.Message{Role: abi.RoleUser, Content: "alice: how are you?"})
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	if resp.Content != "Hello there!" || resp.FinishReason != "stop" || resp.Model != "gemini-2.5-flash" || resp.Reasoning != "" {
		t.Fatalf("response = %+v", resp)
	}
	// Output includes the 10 thinking tokens; reasoning is that subset.
	want := abi.Usage{Kind: "text", Model: "gemini-2.5-flash", InputTokens: 25, OutputTokens: 15, ReasoningTokens: 10}
	if resp.Usage != want {
		t.Fatalf("usage in response = %+v, want %+v", resp.Usage, want)
	}
	if u := h.Usage(); len(u) != 1 || u[0].Usage != want || u[0].User != plugintest.DefaultUser {
		t.Fatalf("recorded usage = %+v", u)
	}

	got := api.Latest()
	if got.Method != "POST" || got.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || got.Query != "" {
		t.Fatalf("request went to %s %s?%s", got.Method, got.Path, got.Query)
	}
	if got.Header.Get("x-goog-api-key") != keyGood || got.Header.Get("Authorization") != "" {
		t.Fatalf("headers = %v", got.Header)
	}
	text := func(s string) []any { return []any{map[string]any{"text": s}} }
	wantBody := map[string]any{
		"systemInstruction": map[string]any{"parts": text("You are Lilith.")},
		"contents": []any{
			map[string]any{"role": "user", "parts": text("alice: Hi there\n\nbob: and me")},
			map[string]any{"role": "model", "parts": text("Hi both.")},
			map[string]any{"role": "user", "parts": text("alice: how are you?")},
		},
		"safetySettings": []any{map[string]any{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}},
		"generationConfig": map[string]any{"candidateCount": 1.0, "temperature": 0.3, "topP": 0.9, "topK": 40.0,
			"maxOutputTokens": 500.0, "stopSequences": []any{"END"}},
	}
	if !reflect.DeepEqual(got.Body, wantBody) {
		t.Fatalf("request body = %v\nwant %v", got.Body, wantBody)
	}
	noKeyLeak(t, h, nil)

	// The request's own max_tokens and temperature win over the personality's.
	temp, maxTokens := 1.7, 300
	req.Temperature, req.MaxTokens = &temp, &maxTokens
	if _, e := h.Chat(req); e != nil {
		t.Fatal(e)
	}
	if gc := api.Latest().Body["generationConfig"].(map[string]any); gc["temperature"] != 1.7 || gc["maxOutputTokens"] != 300.0 {
		t.Fatalf("generationConfig = %v, want the request's temperature and max_tokens", gc)
	}
}

// A conversation that starts with the model gets a user turn first.
func TestHistoryStartingWithTheModel(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	req := abi.ChatRequest{Messages: []abi.Message{{Role: abi.RoleAssistant, Content: "I was saying"}, {Role: abi.RoleUser, Content: "go on"}}}
	if _, e := h.Chat(req); e != nil {
		t.Fatal(e)
	}
	c := api.Latest().Body["contents"].([]any)
	if len(c) != 3 || c[0].(map[string]any)["role"] != "user" || c[1].(map[string]any)["role"] != "model" {
		t.Fatalf("contents = %v", c)
	}
}

func TestChatStreams(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	req := withParams(hello("gemini-3-pro-preview"), `{"reasoning":"high"}`)
	req.Stream = true
	resp, e := h.Chat(req)
	if e != nil {
		t.Fatalf("chat: %v", e)
	}
	got := api.Latest()
	if got.Path != "/v1beta/models/gemini-3-pro-preview:streamGenerateContent" || got.Query != "alt=sse" {
		t.Fatalf("request went to %s?%s", got.Path, got.Query)
	}
	if got.Header.Get("x-goog-api-key") != keyGood {
		t.Fatalf("headers = %v", got.Header)
	}
	if tc := got.Body["generationConfig"].(map[string]any)["thinkingConfig"]; !reflect.DeepEqual(tc, map[string]any{"thinkingLevel": "high", "includeThoughts": true}) {
		t.Fatalf("thinkingConfig = %v", tc)
	}
	// Thoughts reach the reasoning, never the channel.
	if chunks := strings.Join(h.Chunks(), "|"); chunks != "Hello| there!" {
		t.Fatalf("chunks = %q", chunks)
	}
	if resp.Content != "Hello there!" || resp.Reasoning != "**Greeting** The user says hi; answer warmly." || resp.FinishReason != "stop" {
		t.Fatalf("response = %+v", resp)
	}
	// Usage from the last event that carried it, recorded once.
	want := abi.Usage{Kind: "text", Model: "gemini-3-pro-preview", InputTokens: 25, OutputTokens: 15, ReasoningTokens: 10}
	if u := h.Usage(); resp.Usage != want || len(u) != 1 || u[0].Usage != want {
		t.Fatalf("usage = %+v, recorded %+v", resp.Usage, u)
	}
}

func TestStreamCutBetweenEvents(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	req := hello("gemini-2.5-flash-cut")
	req.Stream = true
	_, e := h.Chat(req)
	plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, Message: "ended before the reply was complete"})
}

func TestStreamErrorEvent(t *testing.T) {
	h, _ := setup(t, plugintest.Options{})
	req := hello("gemini-2.5-flash-streamerror")
	req.Stream = true
	_, e := h.Chat(req)
	plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 503, Message: "overloaded"})
}

func TestBlockedPrompt(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			h, _ := setup(t, plugintest.Options{})
			req := hello("gemini-2.5-flash-blocked")
			req.Stream = stream
			_, e := h.Chat(req)
			plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrContent, Message: "blocked the prompt (blockReason PROHIBITED_CONTENT)"})
			// The prompt tokens were counted by Google, so they are recorded.
			if u := h.Usage(); len(u) != 1 || u[0].Usage.InputTokens != 25 {
				t.Fatalf("recorded usage = %+v", u)
			}
		})
	}
}

func TestSafetyFinish(t *testing.T) {
	for _, stream := range []bool{false, true} {
		h, _ := setup(t, plugintest.Options{})
		req := hello("gemini-2.5-flash-safety")
		req.Stream = stream
		_, e := h.Chat(req)
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrContent, Message: "finishReason SAFETY"})
	}
}

// A reply that is only thinking is an error, as with Anthropic: with
// MAX_TOKENS the user is told to raise max_tokens or think less.
func TestThinkingOnlyReply(t *testing.T) {
	for _, stream := range []bool{false, true} {
		h, _ := setup(t, plugintest.Options{})
		req := withParams(hello("gemini-2.5-flash-thinkonly"), `{"thinking":"low","max_tokens":64}`)
		req.Stream = stream
		_, e := h.Chat(req)
		plugintest.CheckError(t, e, plugintest.WantError{Code: abi.ErrBadRequest, Message: "raise max_tokens"})
		if len(h.Chunks()) != 0 {
			t.Fatalf("thoughts reached the channel: %q", h.Chunks())
		}
		if u := h.Usage(); len(u) != 1 || u[0].Usage.OutputTokens != 64 || u[0].Usage.ReasoningTokens != 64 {
			t.Fatalf("recorded usage = %+v", u)
		}
	}
}

// Each portable level becomes the model's own thinking setting.
func TestThinkingConfig(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	for _, c := range []struct {
		model, params string
		want          any // thinkingConfig, nil: none sent
	}{
		{"gemini-2.5-flash", `{}`, nil},
		{"gemini-2.5-flash", `{"thinking":"off"}`, map[string]any{"includeThoughts": false, "thinkingBudget": 0.0}},
		{"gemini-2.5-flash", `{"reasoning":"medium"}`, map[string]any{"includeThoughts": true, "thinkingBudget": 8192.0}},
		{"gemini-2.5-flash", `{"reasoning":{"effort":"high","exclude":true}}`, map[string]any{"includeThoughts": false, "thinkingBudget": 16384.0}},
		{"gemini-2.5-flash", `{"thinking_budget":-1}`, map[string]any{"includeThoughts": true, "thinkingBudget": -1.0}},
		{"gemini-2.5-pro", `{"thinking":"off"}`, map[string]any{"includeThoughts": false, "thinkingBudget": 128.0}},
		{"gemini-2.5-flash-lite", `{"thinking":"minimal"}`, map[string]any{"includeThoughts": true, "thinkingBudget": 512.0}},
		{"gemini-3-pro-preview", `{"thinking":"off"}`, map[string]any{"includeThoughts": false, "thinkingLevel": "low"}},
		{"gemini-3-pro-preview", `{"thinking":"max"}`, map[string]any{"includeThoughts": true, "thinkingLevel": "high"}},
		{"gemini-3-pro-preview", `{"thinking_level":"low"}`, map[string]any{"includeThoughts": true, "thinkingLevel": "low"}},
		{"gemini-2.0-flash", `{"reasoning":"off"}`, nil},
	} {
		if _, e := h.Chat(withParams(hello(c.model), c.params)); e != nil {
			t.Fatalf("%s %s: %v", c.model, c.params, e)
		}
		got := api.Latest().Body["generationConfig"].(map[string]any)["thinkingConfig"]
		if (c.want == nil && got != nil) || (c.want != nil && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s %s: thinkingConfig = %v, want %v", c.model, c.params, got, c.want)
		}
	}
}

// Parameters the API would refuse are refused before any call, naming the
// field.
func TestConstraintsCheckedBeforeTheCall(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	for _, c := range []struct{ model, params, field string }{
		{"gemini-2.5-flash", `{"temperature":"hot"}`, "temperature"},
		{"gemini-2.5-flash", `{"max_tokens":"lots"}`, "max_tokens"},
		{"gemini-2.5-flash", `{"stop_sequences":"END"}`, "stop_sequences"},
		{"gemini-2.5-flash", `{"temperature":2.5}`, "temperature"},
		{"gemini-2.5-flash", `{"top_p":-0.1}`, "top_p"},
		{"gemini-2.5-flash", `{"top_k":0}`, "top_k"},
		{"gemini-2.5-flash", `{"stop_sequences":["a","b","c","d","e","f"]}`, "stop_sequences"},
		{"gemini-2.5-flash", `{"temprature":1}`, "temprature"},
		{"gemini-2.5-flash", `{"thinking_level":"high"}`, "thinking_level"},
		{"gemini-3-pro-preview", `{"thinking_budget":1024}`, "thinking_budget"},
		{"gemini-2.5-pro", `{"thinking_budget":0}`, "thinking_budget"},
		{"gemini-2.5-pro", `{"thinking_budget":64}`, "thinking_budget"},
		{"gemini-2.5-flash", `{"thinking_budget":30000}`, "thinking_budget"},
		{"gemini-2.5-flash-lite", `{"thinking_budget":100}`, "thinking_budget"},
		{"gemini-2.5-flash", `{"thinking":"off","thinking_budget":1024}`, "thinking_budget"},
		{"gemini-2.0-flash", `{"thinking":"high"}`, "thinking"},
		{"gemini-2.5-flash", `{"safety_settings":[{"category":"HARM_CATEGORY_VIOLENCE","threshold":"BLOCK_NONE"}]}`, "safety_settings[0].category"},
		{"gemini-2.5-flash", `{"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_SOME"}]}`, "safety_settings[0].threshold"},
	} {
		_, e := h.Chat(withParams(hello(c.model), c.params))
		if e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, c.field) {
			t.Errorf("%s %s: got %+v, want bad_request naming %s", c.model, c.params, e, c.field)
		}
	}
	if n := api.Count(); n != 0 {
		t.Fatalf("%d requests reached the API; a refused configuration must cost no call", n)
	}
	if u := h.Usage(); len(u) != 0 {
		t.Fatalf("usage recorded for calls never made: %+v", u)
	}
}

func TestAPIErrors(t *testing.T) {
	for _, c := range []struct {
		model string
		key   string
		want  plugintest.WantError
	}{
		{"gemini-2.5-flash-429", "", plugintest.WantError{Code: abi.ErrRateLimited, Retryable: true, HTTPStatus: 429, Message: "wait 12s"}},
		{"gemini-2.5-flash-503", "", plugintest.WantError{Code: abi.ErrUnavailable, Retryable: true, HTTPStatus: 503, Message: "overloaded"}},
		{"gemini-2.5-flash-504", "", plugintest.WantError{Code: abi.ErrTimeout, Retryable: true, HTTPStatus: 504}},
		{"gemini-2.5-flash", keyBad, plugintest.WantError{Code: abi.ErrInvalidKey, HTTPStatus: 400, Message: "API key not valid"}},
	} {
		for _, stream := range []bool{false, true} {
			h, _ := setup(t, plugintest.Options{Key: c.key})
			req := hello(c.model)
			req.Stream = stream
			_, e := h.Chat(req)
			plugintest.CheckError(t, e, c.want)
			noKeyLeak(t, h, e)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for key, want := range map[string]string{
		keyGood:    abi.KeyValid,
		keyLimited: abi.KeyValid,
		keyFlaky:   abi.KeyUnreachable,
		keyBad:     abi.KeyInvalid,
	} {
		h, api := setup(t, plugintest.Options{Key: key})
		got, e := h.ValidateKey()
		if e != nil {
			t.Fatalf("%s: %v", key, e)
		}
		if got.Status != want {
			t.Errorf("%s: status %s (%s), want %s", key, got.Status, got.Message, want)
		}
		if strings.Contains(got.Message, "0123456789abcdef") {
			t.Errorf("the key leaked into the result: %q", got.Message)
		}
		r := api.Latest()
		if r.Method != "GET" || r.Path != "/v1beta/models" || r.Query != "pageSize=1" || r.Header.Get("x-goog-api-key") != key {
			t.Errorf("validate_key sent %s %s?%s with key header %q", r.Method, r.Path, r.Query, r.Header.Get("x-goog-api-key"))
		}
	}
}

// TestModels: the catalogue is the models that serve generateContent
// (no embedding or image models), named as chat requests name them
// (without "models/"), with context window and thinking, every page of
// the list; errors are typed like chat's.
func TestModels(t *testing.T) {
	want := []abi.Model{
		{ID: "gemini-2.5-flash", Name: "Gemini 2.5 Flash", ContextTokens: 1048576, Reasoning: true},
		{ID: "gemini-2.0-flash", Name: "Gemini 2.0 Flash", ContextTokens: 1048576},
		{ID: "gemini-3-pro-preview", Name: "Gemini 3 Pro Preview", ContextTokens: 1048576, Reasoning: true},
	}
	for _, pageMax := range []int64{0, 2} {
		t.Run(fmt.Sprintf("pageMax=%d", pageMax), func(t *testing.T) {
			h, api := setup(t, plugintest.Options{})
			api.PageMax.Store(pageMax)
			l, e := h.Models()
			if e != nil || !reflect.DeepEqual(l.Models, want) {
				t.Fatalf("models = %+v, %v\nwant %+v", l.Models, e, want)
			}
			wantReqs, wantQuery := 1, "pageSize=1000"
			if pageMax == 2 {
				wantReqs, wantQuery = 3, "pageSize=1000&pageToken=page-4"
			}
			if r := api.Latest(); api.Count() != wantReqs || r.Method != "GET" || r.Path != "/v1beta/models" || r.Query != wantQuery || r.Header.Get("x-goog-api-key") != keyGood {
				t.Errorf("%d requests, last %s %s?%s", api.Count(), r.Method, r.Path, r.Query)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		for key, code := range map[string]string{keyBad: abi.ErrInvalidKey, keyFlaky: abi.ErrUnavailable, keyLimited: abi.ErrRateLimited} {
			h, _ := setup(t, plugintest.Options{Key: key})
			_, e := h.Models()
			if e == nil || e.Code != code {
				t.Errorf("%s: error %v, want code %s", key, e, code)
			} else if strings.Contains(e.Message, "0123456789abcdef") {
				t.Errorf("the key leaked into the error: %s", e.Message)
			}
		}
	})
}

// TestToolCalls: tools go as functionDeclarations, a functionCall part
// comes back as an abi.ToolCall (an id made up when Gemini sends none,
// arguments as JSON text), and the call and its result go back in the
// history as functionCall (model) and functionResponse (user) parts.
func TestToolCalls(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	weather := abi.Tool{Name: "get_weather", Description: "Weather for a city",
		Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}`)}
	for _, stream := range []bool{false, true} {
		req := hello("gemini-2.5-flash-tools")
		req.Stream = stream
		req.Tools = []abi.Tool{weather}
		resp, e := h.Chat(req)
		if e != nil {
			t.Fatalf("stream=%v: %v", stream, e)
		}
		if resp.FinishReason != "tool_calls" || resp.Content != "Let me check." || len(resp.ToolCalls) != 1 {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		tc := resp.ToolCalls[0]
		var args map[string]any
		if tc.ID != "gemini_call_0" || tc.Name != "get_weather" || json.Unmarshal([]byte(tc.Arguments), &args) != nil || args["city"] != "Oslo" {
			t.Fatalf("stream=%v: tool call = %+v", stream, tc)
		}
		b := api.Latest().Body
		decl := b["tools"].([]any)[0].(map[string]any)["functionDeclarations"].([]any)[0].(map[string]any)
		if decl["name"] != "get_weather" || decl["description"] != "Weather for a city" ||
			decl["parametersJsonSchema"].(map[string]any)["required"].([]any)[0] != "city" {
			t.Fatalf("functionDeclarations = %v", b["tools"])
		}

		// The call and its result go back; Gemini answers.
		req.Messages = append(req.Messages,
			abi.Message{Role: abi.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls},
			abi.Message{Role: abi.RoleTool, ToolCallID: tc.ID, Content: "rain, 9°C"})
		resp, e = h.Chat(req)
		if e != nil {
			t.Fatalf("stream=%v: %v", stream, e)
		}
		if resp.Content != "It rains in Bergen." || resp.FinishReason != "stop" || len(resp.ToolCalls) != 0 {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		contents := api.Latest().Body["contents"].([]any)
		model := contents[1].(map[string]any)
		mparts := model["parts"].([]any)
		fc, _ := mparts[1].(map[string]any)["functionCall"].(map[string]any)
		if model["role"] != "model" || mparts[0].(map[string]any)["text"] != "Let me check." || fc["name"] != "get_weather" ||
			fc["args"].(map[string]any)["city"] != "Oslo" || fc["id"] != nil {
			t.Fatalf("model turn = %v (a made-up id must not be sent)", model)
		}
		user := contents[2].(map[string]any)
		fr, _ := user["parts"].([]any)[0].(map[string]any)["functionResponse"].(map[string]any)
		if user["role"] != "user" || fr["name"] != "get_weather" || fr["response"].(map[string]any)["output"] != "rain, 9°C" {
			t.Fatalf("tool result turn = %v", user)
		}
	}

	// Gemini's own ids go back as they came; a JSON object result is passed
	// as it is.
	req := hello("gemini-2.5-flash-tools")
	req.Messages = append(req.Messages,
		abi.Message{Role: abi.RoleAssistant, ToolCalls: []abi.ToolCall{{ID: "fc-7", Name: "get_weather", Arguments: `{"city":"Bergen"}`}}},
		abi.Message{Role: abi.RoleTool, ToolCallID: "fc-7", Content: `{"sky": "rain"}`})
	if _, e := h.Chat(req); e != nil {
		t.Fatal(e)
	}
	contents := api.Latest().Body["contents"].([]any)
	fc := contents[1].(map[string]any)["parts"].([]any)[0].(map[string]any)["functionCall"].(map[string]any)
	fr := contents[2].(map[string]any)["parts"].([]any)[0].(map[string]any)["functionResponse"].(map[string]any)
	if fc["id"] != "fc-7" || fr["id"] != "fc-7" || fr["response"].(map[string]any)["sky"] != "rain" {
		t.Fatalf("contents = %v", contents)
	}

	// Bad tool history is refused before any request, by what is wrong.
	n := api.Count()
	for _, tc := range []struct {
		msgs []abi.Message
		want string
	}{
		{[]abi.Message{{Role: abi.RoleAssistant, ToolCalls: []abi.ToolCall{{ID: "x", Name: "f", Arguments: `[1,2]`}}}}, "not a JSON object"},
		{[]abi.Message{{Role: abi.RoleTool, ToolCallID: "nobody", Content: "rain"}}, "answers no tool call"},
	} {
		req := hello("gemini-2.5-flash-tools")
		req.Messages = append(req.Messages, tc.msgs...)
		if _, e := h.Chat(req); e == nil || e.Code != abi.ErrBadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%v: got %+v, want bad_request saying %q", tc.msgs, e, tc.want)
		}
	}
	if api.Count() != n {
		t.Error("a refused tool history was sent")
	}
}

// TestPortableReasoningMapping is docs/providers.md's table for Gemini,
// checked on the request bodies the fake API received: each portable
// level, given as reasoning (the string) or as thinking, becomes
// thinkingLevel on Gemini 3 and thinkingBudget on 2.5.
func TestPortableReasoningMapping(t *testing.T) {
	h, api := setup(t, plugintest.Options{})
	type want struct {
		level25Flash, level25Pro float64
		level3                   string
		thoughts                 bool
	}
	table := map[string]want{
		"off":     {0, 128, "low", false},
		"minimal": {512, 512, "low", true},
		"low":     {1024, 1024, "low", true},
		"medium":  {8192, 8192, "high", true},
		"high":    {16384, 16384, "high", true},
		"max":     {24576, 24576, "high", true},
	}
	for level, w := range table {
		for _, key := range []string{"reasoning", "thinking"} {
			for model, expect := range map[string]map[string]any{
				"gemini-2.5-flash":     {"thinkingBudget": w.level25Flash, "includeThoughts": w.thoughts},
				"gemini-2.5-pro":       {"thinkingBudget": w.level25Pro, "includeThoughts": w.thoughts},
				"gemini-3-pro-preview": {"thinkingLevel": w.level3, "includeThoughts": w.thoughts},
			} {
				if _, e := h.Chat(withParams(hello(model), `{"`+key+`":"`+level+`"}`)); e != nil {
					t.Fatalf("%s %s %s: %v", model, key, level, e)
				}
				got := api.Latest().Body["generationConfig"].(map[string]any)["thinkingConfig"]
				if !reflect.DeepEqual(got, expect) {
					t.Errorf("%s %s %q: thinkingConfig %v, want %v", model, key, level, got, expect)
				}
			}
		}
	}
	// Nothing asked: no thinkingConfig, the model's own default.
	if _, e := h.Chat(hello("gemini-2.5-flash")); e != nil {
		t.Fatal(e)
	}
	if tc := api.Latest().Body["generationConfig"].(map[string]any)["thinkingConfig"]; tc != nil {
		t.Errorf("no level asked, but thinkingConfig is %v", tc)
	}
}
