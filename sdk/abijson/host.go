package abijson

import (
	"encoding/json"
	"strconv"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The host's side of the ABI's hot types: what the host encodes for a
// plugin (a chat request, an HTTP response) and decodes from one (a chat
// response, an HTTP request). encoding/json's reflection was about a tenth
// of the host's CPU for a chat call (docs/performance.md). The same rules
// hold as for the plugin's side: the bytes are json.Marshal's, the values
// json.Unmarshal's, and whatever the fast path does not handle goes to
// encoding/json.

// AppendChatRequest appends v as json.Marshal encodes it. A request with
// advanced parameters or tools (raw JSON, which json.Marshal compacts and
// checks) is encoded by json.Marshal; so is one whose temperature is not a
// JSON number, for json.Marshal's error.
func AppendChatRequest(dst []byte, v *abi.ChatRequest) ([]byte, error) {
	if len(v.AdvancedParameters) > 0 || len(v.Tools) > 0 {
		b, err := json.Marshal(v)
		return append(dst, b...), err
	}
	start := len(dst)
	dst = append(dst, `{"model":`...)
	dst = AppendString(dst, v.Model)
	dst = append(dst, `,"messages":`...)
	if v.Messages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range v.Messages {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendMessage(dst, &v.Messages[i])
		}
		dst = append(dst, ']')
	}
	if v.Temperature != nil {
		var err error
		dst = append(dst, `,"temperature":`...)
		if dst, err = AppendFloat(dst, *v.Temperature); err != nil {
			b, err := json.Marshal(v)
			return append(dst[:start], b...), err
		}
	}
	if v.MaxTokens != nil {
		dst = append(dst, `,"max_tokens":`...)
		dst = strconv.AppendInt(dst, int64(*v.MaxTokens), 10)
	}
	if v.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	return append(dst, '}'), nil
}

func appendMessage(dst []byte, m *abi.Message) []byte {
	dst = append(dst, `{"role":`...)
	dst = AppendString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	dst = AppendString(dst, m.Content)
	if m.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = AppendString(dst, m.Name)
	}
	if m.ToolCallID != "" {
		dst = append(dst, `,"tool_call_id":`...)
		dst = AppendString(dst, m.ToolCallID)
	}
	if len(m.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range m.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCall(dst, &m.ToolCalls[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// AppendHTTPResponse appends v as json.Marshal encodes it.
func AppendHTTPResponse(dst []byte, v *abi.HTTPResponse) []byte {
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(v.Status), 10)
	if len(v.Headers) > 0 {
		dst = append(dst, `,"headers":`...)
		dst = appendStringMap(dst, v.Headers)
	}
	if v.Body != "" {
		dst = append(dst, `,"body":`...)
		dst = AppendString(dst, v.Body)
	}
	if v.BodyBase64 != "" {
		dst = append(dst, `,"body_base64":`...)
		dst = AppendString(dst, v.BodyBase64)
	}
	dst = appendIntField(dst, "body_blob", v.BodyBlob)
	if v.Error != nil {
		dst = append(dst, `,"error":`...)
		dst = AppendError(dst, v.Error)
	}
	return append(dst, '}')
}

// DecodeChatResponse returns what json.Unmarshal gives for data into a
// zero abi.ChatResponse. Strings share memory with data.
func DecodeChatResponse(data []byte) (abi.ChatResponse, error) {
	return decodeOr(data, (*decoder).chatResponse)
}

// DecodeHTTPRequest returns what json.Unmarshal gives for data into a zero
// abi.HTTPRequest. Strings share memory with data.
func DecodeHTTPRequest(data []byte) (abi.HTTPRequest, error) {
	return decodeOr(data, (*decoder).httpRequest)
}

func (d *decoder) chatResponse() (v abi.ChatResponse) {
	if !d.object() {
		return v
	}
	var set uint32
	for first := true; ; first = false {
		key, ok := d.more(first)
		if !ok {
			return v
		}
		switch key {
		case "content":
			d.seen(&set, 1<<0)
			v.Content = d.str()
		case "reasoning":
			d.seen(&set, 1<<1)
			v.Reasoning = d.str()
		case "model":
			d.seen(&set, 1<<2)
			v.Model = d.str()
		case "finish_reason":
			d.seen(&set, 1<<3)
			v.FinishReason = d.str()
		case "tool_calls":
			d.seen(&set, 1<<4)
			v.ToolCalls = d.toolCalls()
		case "usage":
			d.seen(&set, 1<<5)
			d.usage(&v.Usage)
		default:
			d.unknown(key, "content", "reasoning", "model", "finish_reason", "tool_calls", "usage")
		}
	}
}

// usage reads an abi.Usage into u (a zero value); null goes to
// encoding/json.
func (d *decoder) usage(u *abi.Usage) {
	if !d.object() {
		return
	}
	var set uint32
	for first := true; ; first = false {
		key, ok := d.more(first)
		if !ok {
			return
		}
		switch key {
		case "kind":
			d.seen(&set, 1<<0)
			u.Kind = d.str()
		case "model":
			d.seen(&set, 1<<1)
			u.Model = d.str()
		case "input_tokens":
			d.seen(&set, 1<<2)
			u.InputTokens = d.int64v()
		case "output_tokens":
			d.seen(&set, 1<<3)
			u.OutputTokens = d.int64v()
		case "reasoning_tokens":
			d.seen(&set, 1<<4)
			u.ReasoningTokens = d.int64v()
		case "characters":
			d.seen(&set, 1<<5)
			u.Characters = d.int64v()
		case "images":
			d.seen(&set, 1<<6)
			u.Images = d.int64v()
		case "audio_ms":
			d.seen(&set, 1<<7)
			u.AudioMS = d.int64v()
		case "provider":
			d.seen(&set, 1<<8)
			u.Provider = d.str()
		case "plugin":
			d.seen(&set, 1<<9)
			u.Plugin = d.str()
		default:
			d.unknown(key, "kind", "model", "input_tokens", "output_tokens", "reasoning_tokens",
				"characters", "images", "audio_ms", "provider", "plugin")
		}
	}
}

func (d *decoder) httpRequest() (v abi.HTTPRequest) {
	if !d.object() {
		return v
	}
	var set uint32
	for first := true; ; first = false {
		key, ok := d.more(first)
		if !ok {
			return v
		}
		switch key {
		case "method":
			d.seen(&set, 1<<0)
			v.Method = d.str()
		case "url":
			d.seen(&set, 1<<1)
			v.URL = d.str()
		case "headers":
			d.seen(&set, 1<<2)
			v.Headers = d.stringMap()
		case "body":
			d.seen(&set, 1<<3)
			v.Body = d.str()
		case "body_base64":
			d.seen(&set, 1<<4)
			v.BodyBase64 = d.str()
		case "auth":
			d.seen(&set, 1<<5)
			v.Auth = d.auth()
		case "timeout_ms":
			d.seen(&set, 1<<6)
			v.TimeoutMS = d.intv()
		case "no_retry":
			d.seen(&set, 1<<7)
			v.NoRetry = d.boolean()
		case "body_blob":
			d.seen(&set, 1<<8)
			v.BodyBlob = d.int64v()
		case "response_blob":
			d.seen(&set, 1<<9)
			v.ResponseBlob = d.boolean()
		default:
			// multipart (rare: uploads) goes to encoding/json through
			// unknown's case check, as does anything new.
			d.unknown(key, "method", "url", "headers", "body", "body_base64", "auth",
				"timeout_ms", "no_retry", "body_blob", "response_blob", "multipart")
		}
	}
}

// auth reads an *abi.Auth; null goes to encoding/json.
func (d *decoder) auth() *abi.Auth {
	if !d.object() {
		return nil
	}
	a := &abi.Auth{}
	var set uint32
	for first := true; ; first = false {
		key, ok := d.more(first)
		if !ok {
			return a
		}
		switch key {
		case "header":
			d.seen(&set, 1<<0)
			a.Header = d.str()
		case "scheme":
			d.seen(&set, 1<<1)
			a.Scheme = d.str()
		default:
			d.unknown(key, "header", "scheme")
		}
	}
}
