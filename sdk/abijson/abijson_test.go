package abijson

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Every test here compares with encoding/json: the package promises the
// same bytes out and the same values (or errors) in.

// tricky holds strings that exercise every escaping rule.
var tricky = []string{
	"", "hello", "Hello there!", strings.Repeat("x", 1024),
	"line\nbreak\ttab\r\"quoted\" back\\slash /slash",
	"\x00\x01\x07\x08\x0b\x0c\x1f\x7f", "<script>&amp;</script>",
	"héllo wörld", "日本語のテキスト", "emoji 😀🎉 mixed", "\u2028\u2029 separators",
	"bad utf8 \xff\xfe end", "\xc3", "truncated \xe2\x82", "\xed\xa0\x80 surrogate bytes",
	strings.Repeat("abcdefg\"", 40), strings.Repeat("ü", 300) + "<",
	"exactly8", "exactly16 bytes!", "fifteen bytes..", strings.Repeat("a", 17) + "\n",
}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return tricky[r.IntN(len(tricky))]
	}
	alphabet := []string{"a", "b", " ", "\"", "\\", "\n", "<", "&", "é", "😀", "\u2028", "\xff", "\x01", "z", "Q", "7", "/"}
	var sb strings.Builder
	n := r.IntN(70)
	for range n {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := append([]string{}, tricky...)
	for range 2000 {
		cases = append(cases, randString(r))
	}
	for _, s := range cases {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func randUsage(r *rand.Rand) abi.Usage {
	pick := func() int64 {
		switch r.IntN(3) {
		case 0:
			return 0
		case 1:
			return r.Int64N(100000)
		}
		return -r.Int64()
	}
	return abi.Usage{Kind: randString(r), Model: randString(r), InputTokens: pick(), OutputTokens: pick(),
		ReasoningTokens: pick(), Characters: pick(), Images: pick(), AudioMS: pick(), Provider: randString(r), Plugin: randString(r)}
}

func randMap(r *rand.Rand) map[string]string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range r.IntN(6) + 1 {
		m[randString(r)] = randString(r)
	}
	return m
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(v any, got []byte) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("encoding %#v:\n got %s\nwant %s", v, got, want)
		}
	}
	for range 500 {
		u := randUsage(r)
		check(u, AppendUsage(nil, &u))

		resp := abi.ChatResponse{Content: randString(r), Reasoning: randString(r), Model: randString(r),
			FinishReason: randString(r), Usage: randUsage(r)}
		for range r.IntN(3) {
			resp.ToolCalls = append(resp.ToolCalls, abi.ToolCall{ID: randString(r), Name: randString(r), Arguments: randString(r)})
		}
		if r.IntN(4) == 0 {
			resp.ToolCalls = []abi.ToolCall{} // empty, not nil: omitted too
		}
		check(resp, AppendChatResponse([]byte("prefix"), &resp)[len("prefix"):])

		req := abi.HTTPRequest{Method: randString(r), URL: randString(r), Headers: randMap(r), Body: randString(r),
			BodyBase64: randString(r), TimeoutMS: r.IntN(3) * 1000, NoRetry: r.IntN(2) == 0,
			BodyBlob: int64(r.IntN(3)), ResponseBlob: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			req.Auth = &abi.Auth{Header: randString(r), Scheme: randString(r)}
		}
		for range r.IntN(3) {
			req.Multipart = append(req.Multipart, abi.MultipartPart{Name: randString(r), Value: randString(r),
				Blob: int64(r.IntN(3)), Filename: randString(r), ContentType: randString(r)})
		}
		check(req, AppendHTTPRequest(nil, &req))

		le := abi.LogEntry{Level: randString(r), Message: randString(r), Attrs: randMap(r)}
		check(le, AppendLogEntry(nil, &le))

		e := abi.Error{Code: randString(r), Message: randString(r), Retryable: r.IntN(2) == 0, HTTPStatus: r.IntN(2) * 429}
		check(e, AppendError(nil, &e))
	}
}

// sameDecode checks that fast gives what json.Unmarshal gives for data.
func sameDecode[T any](t testing.TB, name string, data []byte, fast func([]byte) (T, error)) {
	t.Helper()
	got, gotErr := fast(data)
	var want T
	wantErr := json.Unmarshal(data, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s(%q): error %v, encoding/json: %v", name, data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%q):\n got %#v\nwant %#v", name, data, got, want)
	}
}

var chatRequestInputs = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[]}`,
	` { "model" : "m" , "messages" : [ { "role" : "user" , "content" : "a\nb" } ] , "stream" : true } `,
	`{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"1","name":"f","arguments":"{\"a\":1}"}]},{"role":"tool","content":"r","tool_call_id":"1","name":"f"}]}`,
	`{"model":"m","messages":[],"temperature":0.7,"max_tokens":256,"advanced_parameters":{"top_p":0.9,"stop":["a","b"],"x":null},"tools":[{"name":"t","description":"d","parameters":{"type":"object"}}],"stream":false}`,
	`{"model":"m","temperature":1e2,"max_tokens":-0}`,
	`{"model":"m","temperature":-0.0e-1}`,
	`{"model":"m","max_tokens":1.5}`,
	`{"model":"m","max_tokens":1e3}`,
	`{"model":"m","max_tokens":99999999999999999999}`,
	`{"model":"m","temperature":1e999}`,
	`{"model":"m","temperature":01}`,
	`{"model":"m","temperature":.5}`,
	`{"model":"m","temperature":null}`,
	`{"model":null,"messages":null}`,
	`{"Model":"case","MESSAGES":[{"ROLE":"user"}]}`,
	`{"model":"a","model":"b"}`,
	`{"messages":[{"role":"a","name":"x"}],"messages":[{"role":"b"}]}`,
	`{"mod\u0065l":"escaped key"}`,
	`{"unknown":{"deep":[1,2,{"x":"y\u00e9"}]},"model":"m","also":[true,false,null]}`,
	`{"model":"\ud83d\ude00 pair \ud83d lone \ude00 low \u00e9 \u0000 \/ \b\f"}`,
	`{"model":"\ud800\u0041"}`,
	`{"model":"bad \xff utf8","messages":[{"role":"\xc3","content":"ok"}]}`,
	`{"model":"ctrl ` + "\x01" + `"}`,
	`{"model":"bad escape \x"}`,
	`{"model":"short \u12"}`,
	`{"model":"m",}`,
	`{"model":"m"} trailing`,
	`{"model":"m"`,
	`{"model" "m"}`,
	`{"messages":[{"role":"a"},]}`,
	`{"messages":[,]}`,
	`{"messages":{}}`,
	`{"stream":"yes"}`,
	`{"stream":tru}`,
	`[]`, `null`, `"str"`, ``, `{}`, `  {}  `,
	`{"advanced_parameters":null}`,
	`{"advanced_parameters":"s"}`,
	`{"advanced_parameters":[1,"2",{"3":[]}]}`,
	`{"tools":[{"name":"t","parameters":nul}]}`,
	`{"model":"m","extra\u00e9":1}`,
	`{"model":"m","ſtream":true}`,
	`{"model":"m","max_to\u212aens":5}`,
	`{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"model":"` + strings.Repeat("long ", 300) + `"}`,
}

func TestDecodeChatRequestMatchesEncodingJSON(t *testing.T) {
	for _, in := range chatRequestInputs {
		sameDecode(t, "DecodeChatRequest", []byte(in), DecodeChatRequest)
	}
	// What the host sends: json.Marshal of a ChatRequest.
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		req := abi.ChatRequest{Model: randString(r), Stream: r.IntN(2) == 0}
		for range r.IntN(5) {
			m := abi.Message{Role: randString(r), Content: randString(r), Name: randString(r), ToolCallID: randString(r)}
			if r.IntN(3) == 0 {
				m.ToolCalls = []abi.ToolCall{{ID: randString(r), Name: randString(r), Arguments: randString(r)}}
			}
			req.Messages = append(req.Messages, m)
		}
		if r.IntN(2) == 0 {
			f, n := r.Float64()*2, r.IntN(4096)
			req.Temperature, req.MaxTokens = &f, &n
		}
		if r.IntN(2) == 0 {
			req.AdvancedParameters = json.RawMessage(`{"top_p":0.5,"stop":["\n"]}`)
			req.Tools = []abi.Tool{{Name: randString(r), Description: randString(r), Parameters: json.RawMessage(`{"type":"object"}`)}}
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		sameDecode(t, "DecodeChatRequest", b, DecodeChatRequest)
	}
}

var hostResultInputs = []string{
	`{"status":200,"headers":{"content-type":"application/json","x-a":"b"},"body":"{\"ok\":true}"}`,
	`{"status":0,"error":{"code":"denied","message":"host not allowed","retryable":true,"http_status":403}}`,
	`{"status":200,"body_blob":7}`,
	`{"status":200,"body_base64":"AAEC"}`,
	`{"status":200,"headers":{"a":"1","a":"2"}}`,
	`{"status":200,"headers":{"\u0041":"x"}}`,
	`{"status":200,"headers":{"\xff":"x"}}`,
	`{"status":200,"headers":null,"error":null}`,
	`{"handle":3,"status":200,"headers":{"content-type":"text/event-stream"}}`,
	`{"status":500,"body":"upstream broke"}`,
	`{"event":"message","data":"{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}"}`,
	`{"eof":true}`,
	`{"error":{"code":"timeout","message":"idle"}}`,
	`{"data":"[DONE]","eof":false}`,
	`{"status":"200"}`, `{"status":2.5}`, `{"Status":200}`, `{}`, `{"error":{"code":1}}`,
}

func TestDecodeHostResultsMatchEncodingJSON(t *testing.T) {
	for _, in := range hostResultInputs {
		sameDecode(t, "DecodeHTTPResponse", []byte(in), DecodeHTTPResponse)
		sameDecode(t, "DecodeStreamOpenResult", []byte(in), DecodeStreamOpenResult)
		sameDecode(t, "DecodeStreamEvent", []byte(in), DecodeStreamEvent)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		res := abi.HTTPResponse{Status: r.IntN(600), Headers: randMap(r), Body: randString(r), BodyBlob: int64(r.IntN(2))}
		if r.IntN(3) == 0 {
			res.Error = &abi.Error{Code: randString(r), Message: randString(r), HTTPStatus: r.IntN(600)}
		}
		b, _ := json.Marshal(res)
		sameDecode(t, "DecodeHTTPResponse", b, DecodeHTTPResponse)
		ev := abi.StreamEvent{Event: randString(r), Data: randString(r), EOF: r.IntN(2) == 0}
		b, _ = json.Marshal(ev)
		sameDecode(t, "DecodeStreamEvent", b, DecodeStreamEvent)
	}
}

// TestFastPathTakesHostInput checks that what the host actually sends is
// decoded here, not handed to encoding/json (which is ~100 times slower in
// a plugin): a silent fallback would pass every other test.
func TestFastPathTakesHostInput(t *testing.T) {
	temp, maxTok := 0.7, 512
	req := abi.ChatRequest{Model: "gpt-test", Temperature: &temp, MaxTokens: &maxTok, Stream: true,
		AdvancedParameters: json.RawMessage(`{"top_p":0.9}`),
		Messages: []abi.Message{{Role: "system", Content: "You are \"Bambi\".\nBe nice <3 & kind."},
			{Role: "user", Content: "héllo 😀", Name: "u1"}}}
	b, _ := json.Marshal(req)
	d := decoder{b: b}
	d.chatRequest()
	d.end()
	if d.bad {
		t.Fatalf("the fast path gave up on the host's encoding of a chat request: %s", b)
	}
	for _, in := range hostResultInputs[:4] {
		d := decoder{b: []byte(in)}
		d.httpResponse()
		d.end()
		if d.bad {
			t.Fatalf("the fast path gave up on %s", in)
		}
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, in := range chatRequestInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, "DecodeChatRequest", data, DecodeChatRequest)
	})
}

func FuzzDecodeHostResults(f *testing.F) {
	for _, in := range hostResultInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, "DecodeHTTPResponse", data, DecodeHTTPResponse)
		sameDecode(t, "DecodeStreamEvent", data, DecodeStreamEvent)
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}
