//go:build !wasip1

package main

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The hand-written JSON in wire.go must mean exactly what encoding/json
// makes of the same data; these tests compare the two.

var wireStrings = []string{"Hi there", "line\nbreak \"quoted\" <b>&amp;</b>", "héllo 😀", "bad \xff", "\u2028 sep", strings.Repeat("long ", 100)}

// bodyAsMap is the request body built with encoding/json from the same
// struct, as the Messages API documents it.
func bodyAsMap(b *messagesBody) map[string]any {
	m := map[string]any{"model": b.Model, "max_tokens": b.MaxTokens}
	if b.System != "" {
		m["system"] = b.System
	}
	msgs := []any{}
	for _, wm := range b.Messages {
		if wm.Blocks == nil {
			msgs = append(msgs, map[string]any{"role": wm.Role, "content": wm.Text})
			continue
		}
		blocks := []any{}
		for _, bl := range wm.Blocks {
			switch bl.Type {
			case "text":
				blocks = append(blocks, map[string]any{"type": "text", "text": bl.Text})
			case "tool_use":
				blocks = append(blocks, map[string]any{"type": "tool_use", "id": bl.ID, "name": bl.Name, "input": bl.Input})
			case "tool_result":
				blocks = append(blocks, map[string]any{"type": "tool_result", "tool_use_id": bl.ID, "content": bl.Text})
			}
		}
		msgs = append(msgs, map[string]any{"role": wm.Role, "content": blocks})
	}
	m["messages"] = msgs
	if b.Temperature != nil {
		m["temperature"] = *b.Temperature
	}
	if b.TopP != nil {
		m["top_p"] = *b.TopP
	}
	if b.TopK != nil {
		m["top_k"] = *b.TopK
	}
	if len(b.StopSequences) > 0 {
		m["stop_sequences"] = b.StopSequences
	}
	if b.Budget > 0 {
		m["thinking"] = map[string]any{"type": "enabled", "budget_tokens": b.Budget}
	}
	if b.Stream {
		m["stream"] = true
	}
	return m
}

func TestMessagesBodyMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return wireStrings[r.IntN(len(wireStrings))] }
	roles := []string{abi.RoleSystem, abi.RoleUser, abi.RoleAssistant, abi.RoleTool}
	s := settings{BaseURL: defaultBaseURL, DefaultModel: "claude-test-4", MaxTokens: defaultMaxTokens}
	params := []string{`{}`, `{"temperature":0.25,"top_p":1e-7,"top_k":5,"stop_sequences":["a\"b","\n"]}`, `{"thinking":"high"}`}
	for i := range 400 {
		req := abi.ChatRequest{Model: pick(), Stream: r.IntN(2) == 0, AdvancedParameters: json.RawMessage(params[i%len(params)])}
		for range r.IntN(6) + 1 {
			m := abi.Message{Role: roles[r.IntN(len(roles))], Content: pick(), ToolCallID: pick()}
			if m.Role == abi.RoleAssistant && r.IntN(3) == 0 {
				m.ToolCalls = []abi.ToolCall{{ID: pick(), Name: pick(), Arguments: `{"q": "` + strings.ReplaceAll(pick(), "\n", " ") + `"}`}}
			}
			req.Messages = append(req.Messages, m)
		}
		body, err := s.buildMessages(req)
		if err != nil {
			continue // only system messages, or invalid tool arguments
		}
		raw, err := appendMessagesBody(nil, &body)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(raw) {
			t.Fatalf("not JSON: %s", raw)
		}
		want, _ := json.Marshal(bodyAsMap(&body))
		var got, exp any
		_ = json.Unmarshal(raw, &got)
		_ = json.Unmarshal(want, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("hand-written body\n%s\nencoding/json\n%s", raw, want)
		}
	}
}

var eventSamples = []string{
	`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me \"think\"\u2028."}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`,
	`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1"}}`,
	`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"héllo 😀 \ud83d\ude00"}}`,
	`{"type":"content_block_stop","index":2}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
	`{"type":"message_stop"}`,
	`{"type":"ping"}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	`{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"Hi","citations":null},{"type":"tool_use","id":"t","name":"f","input":{"city": "Oslo"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":3},"server_tool_use":null}}`,
	`{"type":"message","content":null,"usage":null,"delta":null,"message":null,"error":null,"content_block":null}`,
	// Shapes abijson hands to encoding/json: a duplicate key, a key in
	// another case, an escaped key, a number too large.
	`{"type":"ping","type":"message_stop"}`,
	`{"Type":"message_stop"}`,
	`{"typ\u0065":"message_stop"}`,
	`{"type":"content_block_stop","index":1e400}`,
	`{"type":"message_delta","usage":{"output_tokens":"many"}}`,
	`{not json`,
	`[]`,
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	for _, s := range eventSamples {
		got, gerr := decodeEvent([]byte(s))
		var want event
		werr := json.Unmarshal([]byte(s), &want)
		if (gerr == nil) != (werr == nil) {
			t.Errorf("%s: error %v, encoding/json %v", s, gerr, werr)
			continue
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", s, got, want)
		}
	}
}

func TestAdvancedMatchesSlowPath(t *testing.T) {
	for _, s := range []string{
		`{}`,
		`{"temperature":0.5,"top_p":0.9,"top_k":3,"max_tokens":100,"stop_sequences":["x","y"],"thinking":"low","thinking_budget":2000}`,
		`{"reasoning":"medium"}`,
		`{"reasoning":"me\u0064ium"}`,
		`{"reasoning":{"effort":"high","max_tokens":3000,"exclude":true,"enabled":null}}`,
		`{"reasoning":{"Effort":"high"}}`,
		`{"reasoning":null,"temperature":null,"stop_sequences":null}`,
		`{"temperature":1,"temperature":0.5}`,
		`{"unknown":{"deep":[1,2,3]}}`,
	} {
		fast, ferr := decodeAdvanced([]byte(s))
		slow, serr := slowAdvanced([]byte(s))
		if ferr != nil || serr != nil || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s:\nfast %+v %v\nslow %+v %v", s, fast, ferr, slow, serr)
		}
	}
	for s, want := range map[string]string{
		`{"temperature":"hot"}`:      "temperature",
		`{"reasoning":7}`:            "reasoning must be a level",
		`{"reasoning":[1]}`:          "reasoning must be a level",
		`{"reasoning":{"effort":1}}`: "reasoning",
	} {
		if _, err := parseAdvanced(json.RawMessage(s)); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "advanced_parameters: ") {
			t.Errorf("%s: err = %v, want it to name %q", s, err, want)
		}
	}
}

func TestSettingsFromConfig(t *testing.T) {
	cases := []struct {
		cfg     map[string]string
		base    string
		max     int
		wantErr bool
	}{
		{map[string]string{}, "https://api.anthropic.com", 4096, false},
		{map[string]string{"base_url": "https://api.anthropic.com/v1/"}, "https://api.anthropic.com", 4096, false},
		{map[string]string{"base_url": "http://127.0.0.1:8080", "default_max_tokens": "1024"}, "http://127.0.0.1:8080", 1024, false},
		{map[string]string{"default_max_tokens": "0"}, "", 0, true},
		{map[string]string{"default_max_tokens": "lots"}, "", 0, true},
	}
	for _, c := range cases {
		s, err := newSettings(func(k string) (string, bool) { v, ok := c.cfg[k]; return v, ok && v != "" })
		if (err != nil) != c.wantErr {
			t.Fatalf("%v: err = %v, want error %v", c.cfg, err, c.wantErr)
		}
		if err == nil && (s.BaseURL != c.base || s.MaxTokens != c.max) {
			t.Errorf("%v: %+v", c.cfg, s)
		}
		if err != nil && !strings.Contains(err.Error(), "default_max_tokens") {
			t.Errorf("%v: the error must name the setting: %v", c.cfg, err)
		}
	}
}
