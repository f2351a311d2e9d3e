package abijson

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The host's side (host.go): same bytes as json.Marshal, same values or
// errors as json.Unmarshal.

func randChatRequest(r *rand.Rand) abi.ChatRequest {
	req := abi.ChatRequest{Model: randString(r), Stream: r.IntN(2) == 0}
	if r.IntN(5) > 0 {
		req.Messages = []abi.Message{}
	}
	for range r.IntN(5) {
		m := abi.Message{Role: randString(r), Content: randString(r)}
		if r.IntN(2) == 0 {
			m.Name = randString(r)
		}
		if r.IntN(3) == 0 {
			m.ToolCallID = randString(r)
		}
		for range r.IntN(3) {
			m.ToolCalls = append(m.ToolCalls, abi.ToolCall{ID: randString(r), Name: randString(r), Arguments: randString(r)})
		}
		req.Messages = append(req.Messages, m)
	}
	if r.IntN(3) == 0 {
		t := []float64{0, 0.7, 1e-7, 1e21, -2.5, 1.0 / 3}[r.IntN(6)]
		req.Temperature = &t
	}
	if r.IntN(3) == 0 {
		n := r.IntN(100000) - 10
		req.MaxTokens = &n
	}
	if r.IntN(6) == 0 {
		req.AdvancedParameters = json.RawMessage(`{ "top_p": 0.9, "x": "<&>" }`)
	}
	if r.IntN(8) == 0 {
		req.Tools = []abi.Tool{{Name: randString(r), Parameters: json.RawMessage(`{"type":"object"}`)}}
	}
	return req
}

func TestHostAppendMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 1000 {
		req := randChatRequest(r)
		want, werr := json.Marshal(req)
		got, err := AppendChatRequest([]byte("prefix"), &req)
		if string(got[len("prefix"):]) != string(want) || (err == nil) != (werr == nil) {
			t.Fatalf("AppendChatRequest(%#v):\n got %s (%v)\nwant %s (%v)", req, got, err, want, werr)
		}

		res := abi.HTTPResponse{Status: r.IntN(600), Headers: randMap(r), Body: randString(r), BodyBase64: randString(r), BodyBlob: int64(r.IntN(3))}
		if r.IntN(3) == 0 {
			res.Error = &abi.Error{Code: randString(r), Message: randString(r), Retryable: r.IntN(2) == 0, HTTPStatus: r.IntN(600)}
		}
		want, _ = json.Marshal(res)
		if got := AppendHTTPResponse(nil, &res); string(got) != string(want) {
			t.Fatalf("AppendHTTPResponse(%#v):\n got %s\nwant %s", res, got, want)
		}
	}
	nan := math.NaN()
	req := abi.ChatRequest{Model: "m", Temperature: &nan}
	if _, err := AppendChatRequest(nil, &req); err == nil {
		t.Fatal("a NaN temperature encoded without the error json.Marshal gives")
	}
}

var hostDecodeInputs = []string{
	`{"content":"hi","usage":{"kind":"text","input_tokens":3,"output_tokens":4}}`,
	`{"content":"a\"b","model":"m","finish_reason":"stop","tool_calls":[{"id":"1","name":"f","arguments":"{}"}],"usage":{"kind":"text","model":"m","reasoning_tokens":1,"characters":2,"images":3,"audio_ms":4,"provider":"p","plugin":"q"}}`,
	`{"content":"x","usage":null}`, `{"content":null}`, `{"Content":"x"}`, `{"content":"x","content":"y"}`,
	`{"content":"x","extra":[1,2,{"a":null}]}`, `{"usage":{"input_tokens":1.5}}`, `{"usage":{"input_tokens":"1"}}`,
	`{"tool_calls":null}`, `{"tool_calls":[]}`, `[]`, `null`, `{`, ``, `{"content":"x"} x`,
	`{"method":"POST","url":"https://api.example.com/v1","headers":{"Accept":"application/json"},"body":"{\"a\":1}","auth":{},"timeout_ms":1000,"no_retry":true,"body_blob":3,"response_blob":true}`,
	`{"method":"GET","url":"u","auth":{"header":"X-Key","scheme":"Token"}}`, `{"method":"GET","auth":null}`,
	`{"method":"POST","url":"u","multipart":[{"name":"file","blob":2,"filename":"a.mp3","content_type":"audio/mpeg"}]}`,
	`{"method":"GET","url":"u","Auth":{}}`, `{"method":"GET","url":"u","timeout_ms":1e3}`, `{"method":"GET","headers":{"a":"1","a":"2"}}`,
	`{"method":"GET","url":"u","no_retry":"yes"}`, `{"method":"GET","url":"\ud800"}`,
}

func TestHostDecodeMatchesEncodingJSON(t *testing.T) {
	for _, in := range hostDecodeInputs {
		sameDecode(t, "DecodeChatResponse", []byte(in), DecodeChatResponse)
		sameDecode(t, "DecodeHTTPRequest", []byte(in), DecodeHTTPRequest)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 500 {
		resp := abi.ChatResponse{Content: randString(r), Reasoning: randString(r), Model: randString(r),
			FinishReason: randString(r), Usage: randUsage(r)}
		for range r.IntN(3) {
			resp.ToolCalls = append(resp.ToolCalls, abi.ToolCall{ID: randString(r), Name: randString(r), Arguments: randString(r)})
		}
		sameDecode(t, "DecodeChatResponse", AppendChatResponse(nil, &resp), DecodeChatResponse)
		req := abi.HTTPRequest{Method: randString(r), URL: randString(r), Headers: randMap(r), Body: randString(r),
			BodyBase64: randString(r), TimeoutMS: r.IntN(3) * 1000, NoRetry: r.IntN(2) == 0, BodyBlob: int64(r.IntN(3)),
			ResponseBlob: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			req.Auth = &abi.Auth{Header: randString(r), Scheme: randString(r)}
		}
		sameDecode(t, "DecodeHTTPRequest", AppendHTTPRequest(nil, &req), DecodeHTTPRequest)
	}
}

// TestHostFastPathTakesPluginOutput checks that what the SDK writes (a chat
// response, an HTTP request) is decoded here, not handed to encoding/json:
// a silent fallback would pass every other test.
func TestHostFastPathTakesPluginOutput(t *testing.T) {
	resp := abi.ChatResponse{Content: "It is \"sunny\" <3", Model: "m", FinishReason: "stop",
		Usage: abi.Usage{Kind: "text", InputTokens: 120, OutputTokens: 16}}
	d := decoder{b: AppendChatResponse(nil, &resp)}
	d.chatResponse()
	if d.end(); d.bad {
		t.Fatal("the fast path gave up on the SDK's chat response")
	}
	req := abi.HTTPRequest{Method: "POST", URL: "https://api.example.com/v1/chat/completions",
		Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
		Auth:    &abi.Auth{}, BodyBlob: 1, ResponseBlob: true}
	d = decoder{b: AppendHTTPRequest(nil, &req)}
	d.httpRequest()
	if d.end(); d.bad {
		t.Fatal("the fast path gave up on the SDK's HTTP request")
	}
}

func FuzzDecodeHostInputs(f *testing.F) {
	for _, in := range hostDecodeInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, "DecodeChatResponse", data, DecodeChatResponse)
		sameDecode(t, "DecodeHTTPRequest", data, DecodeHTTPRequest)
	})
}

// TestEscapedStringsShareOneBuffer pins why strSlow has an arena: a chat
// request with escapes in every message (quotes, newlines, <, &) decodes
// with a handful of allocations, not two per message, and a short escaped
// string in a large document does not hold a buffer the document's size.
func TestEscapedStringsShareOneBuffer(t *testing.T) {
	req := abi.ChatRequest{Model: "m"}
	for i := range 21 {
		req.Messages = append(req.Messages, abi.Message{Role: "user", Name: "alice",
			Content: strings.Repeat("did you see the \"new\" notes?\n<link> & more ", 1+i%3)})
	}
	in, _ := json.Marshal(req)
	var got abi.ChatRequest
	allocs := testing.AllocsPerRun(20, func() { got, _ = DecodeChatRequest(in) })
	if !reflect.DeepEqual(got, req) {
		t.Fatal("decoded request differs")
	}
	// messages slice (grown 4 -> 8 -> 16 -> 32) and one arena.
	if allocs > 6 {
		t.Fatalf("decoding 21 escaped messages took %.0f allocations, want at most 6", allocs)
	}

	big := []byte(`{"model":"a\"b","messages":[{"role":"user","content":"` + strings.Repeat("x", 1<<20) + `"}]}`)
	d := decoder{b: big}
	v := d.chatRequest()
	if d.end(); d.bad || v.Model != `a"b` || len(v.Messages[0].Content) != 1<<20 {
		t.Fatal("large document misread")
	}
	if cap(d.arena) > maxArena {
		t.Fatalf("a 3-byte escaped string allocated a %d-byte buffer", cap(d.arena))
	}
}
