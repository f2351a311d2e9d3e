//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The hand-written JSON in wire.go must give exactly what encoding/json
// gives; these tests compare the two on the requests buildChat makes and on
// the responses providers send.

var wireStrings = []string{"", "Hi there", "line\nbreak \"quoted\" <b>&amp;</b>", "héllo 😀", "bad \xff", strings.Repeat("long ", 100)}

func randAdvanced(r *rand.Rand) json.RawMessage {
	parts := []string{}
	add := func(p string) {
		if r.IntN(2) == 0 {
			parts = append(parts, p)
		}
	}
	add(`"temperature":0.7`)
	add(`"top_p":1e-7`)
	add(`"top_k":40`)
	add(`"frequency_penalty":-0.5`)
	add(`"presence_penalty":2`)
	add(`"repetition_penalty":1.1`)
	add(`"min_p":0.05`)
	add(`"top_a":0.3`)
	add(`"seed":-12345678901`)
	add(`"thinking":"high"`)
	add(`"max_tokens":512`)
	add(`"logit_bias":{"50256":-100,"1":5.5,"<a>":0.125}`)
	add(`"response_format":{"type":"json_object"}`)
	add(`"transforms":["middle-out","x\ny"]`)
	add(`"route":"fallback"`)
	add(`"verbosity":"low"`)
	add(`"reasoning":{"effort":"xhigh","exclude":true}`)
	add(`"reasoning":"medium"`)
	return json.RawMessage("{" + strings.Join(parts, ",") + "}")
}

func TestChatBodyMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	pick := func() string { return wireStrings[r.IntN(len(wireStrings))] }
	for i := range 600 {
		flavor := []string{flavorOpenAI, flavorOpenRouter, flavorLocal}[i%3]
		s := settings{BaseURL: "https://x/v1", DefaultModel: "gpt-test", Flavor: flavor}
		req := abi.ChatRequest{Model: pick(), Stream: r.IntN(2) == 0, AdvancedParameters: randAdvanced(r)}
		for range r.IntN(6) + 1 {
			m := abi.Message{Role: pick(), Content: pick(), Name: pick(), ToolCallID: pick()}
			if r.IntN(4) == 0 {
				m.ToolCalls = []abi.ToolCall{{ID: pick(), Name: pick(), Arguments: pick()}}
			}
			req.Messages = append(req.Messages, m)
		}
		if r.IntN(2) == 0 {
			temp, n := r.Float64()*2, r.IntN(9000)
			req.Temperature, req.MaxTokens = &temp, &n
		}
		if r.IntN(10) == 0 {
			req.Tools = []abi.Tool{{Name: "lookup", Description: pick(), Parameters: json.RawMessage(`{ "type" : "object" }`)}}
		}
		body, _, err := s.buildChat(req)
		if err != nil {
			continue
		}
		if r.IntN(8) == 0 { // a tool call piece as a stream carries it
			idx := 2
			body.Messages[0].ToolCalls = append(body.Messages[0].ToolCalls, wireToolCall{Index: &idx, Function: wireFunction{Arguments: "{}"}})
		}
		want, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendChatBody(nil, &body)
		if err != nil || string(got) != string(want) {
			t.Fatalf("appendChatBody (%v):\n got %s\nwant %s", err, got, want)
		}
	}
}

var completionBodies = []string{
	`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test-0613","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!\nHow are you?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":21,"completion_tokens":5,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":3,"accepted_prediction_tokens":0}},"system_fingerprint":"fp_1"}`,
	`{"model":"m","choices":[{"message":{"content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},"finish_reason":"tool_calls"}],"usage":null}`,
	`{"model":"m","choices":[{"delta":{"role":"assistant","content":"Hel","reasoning":"think","reasoning_content":null},"finish_reason":null}]}`,
	`{"model":"m","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a"}}]}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"completion_tokens_details":null}}`,
	`{"error":{"message":"Rate limit","type":"rate_limit","code":429}}`,
	`{"error":{"message":"Bad key sk-abc","type":"invalid_request_error","code":"invalid_api_key","param":null}}`,
	`{"error":{"message":"x","code":null}}`,
	`{"choices":null,"error":null}`,
	`{"Model":"case"}`, `{"model":"a","model":"b"}`, `{"choices":[{"index":1.5}]}`, `{"choices":[{"message":{"tool_calls":[{"index":1.5}]}}]}`,
	`{"usage":{"prompt_tokens":"12"}}`, `{not json`, `[DONE]`, ``, `null`, `{}`,
}

func TestDecodeCompletionMatchesEncodingJSON(t *testing.T) {
	for _, in := range completionBodies {
		sameCompletion(t, []byte(in))
	}
}

func sameCompletion(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := decodeCompletion(data)
	var want completion
	wantErr := json.Unmarshal(data, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("decodeCompletion(%q): error %v, encoding/json: %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeCompletion(%q):\n got %#v\nwant %#v", data, got, want)
	}
}

func FuzzDecodeCompletion(f *testing.F) {
	for _, in := range completionBodies {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameCompletion(t, data) })
}

var advancedInputs = []string{
	`{"temperature":0.7,"top_p":0.9,"top_k":40,"frequency_penalty":-0.5,"presence_penalty":2,"repetition_penalty":1.1,"min_p":0.05,"top_a":0.3,"seed":-12345678901,"thinking":"high","max_tokens":512,"logit_bias":{"50256":-100,"1":5.5},"response_format":{"type":"json_object"},"transforms":["middle-out"],"route":"fallback","verbosity":"low","reasoning":{"effort":"xhigh","max_tokens":100,"exclude":true,"enabled":false}}`,
	`{"temperature":null,"top_k":null,"seed":null,"logit_bias":null,"response_format":null,"transforms":null,"reasoning":null,"thinking":null}`,
	`{"logit_bias":{"a":1,"a":2,"b":null},"transforms":[null,"x"],"reasoning":{"exclude":null}}`,
	`{"Temperature":1}`, `{"temperature":1,"temperature":2}`, `{"top_k":1.5}`, `{"max_tokens":"5"}`, `{"unknown":{"x":[1]}}`,
	`{"reasoning":{"effort":1}}`, `{"reasoning":"low"}`, `{"reasoning":"high","thinking":"off"}`, `{"reasoning":7}`, `{"reasoning":["x"]}`, `{"reasoning":"a\u00e9"}`, `{"response_format":{"type":"text","extra":true}}`, `{}`, `[]`, `null`, `{"seed":1e3}`,
}

func TestDecodeAdvancedMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	inputs := append([]string{}, advancedInputs...)
	for range 300 {
		inputs = append(inputs, string(randAdvanced(r)))
	}
	for _, in := range inputs {
		sameAdvanced(t, []byte(in))
	}
}

func sameAdvanced(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := decodeAdvanced(data)
	// slowAdvanced is encoding/json, plus reasoning's two forms.
	want, wantErr := slowAdvanced(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("decodeAdvanced(%q): error %v, encoding/json: %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeAdvanced(%q):\n got %#v\nwant %#v", data, got, want)
	}
}

func FuzzDecodeAdvanced(f *testing.F) {
	for _, in := range advancedInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAdvanced(t, data) })
}
