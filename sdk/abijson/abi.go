package abijson

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// decodeOr parses data with parse, the fast path for one ABI type; on
// anything parse does not handle exactly as encoding/json would, it answers
// what json.Unmarshal gives for data into a zero T (value and error alike).
func decodeOr[T any](data []byte, parse func(*decoder) T) (T, error) {
	d := decoder{b: data}
	v := parse(&d)
	d.end()
	if !d.bad {
		return v, nil
	}
	var w T
	err := json.Unmarshal(data, &w)
	return w, err
}

// DecodeChatRequest returns what json.Unmarshal gives for data into a zero
// abi.ChatRequest.
func DecodeChatRequest(data []byte) (abi.ChatRequest, error) {
	return decodeOr(data, (*decoder).chatRequest)
}

// DecodeHTTPResponse returns what json.Unmarshal gives for data into a zero
// abi.HTTPResponse.
func DecodeHTTPResponse(data []byte) (abi.HTTPResponse, error) {
	return decodeOr(data, (*decoder).httpResponse)
}

// DecodeStreamOpenResult returns what json.Unmarshal gives for data into a
// zero abi.StreamOpenResult.
func DecodeStreamOpenResult(data []byte) (abi.StreamOpenResult, error) {
	return decodeOr(data, (*decoder).streamOpenResult)
}

// DecodeStreamEvent returns what json.Unmarshal gives for data into a zero
// abi.StreamEvent.
func DecodeStreamEvent(data []byte) (abi.StreamEvent, error) {
	return decodeOr(data, (*decoder).streamEvent)
}

func (d *decoder) chatRequest() (v abi.ChatRequest) {
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
		case "model":
			d.seen(&set, 1<<0)
			v.Model = d.str()
		case "messages":
			d.seen(&set, 1<<1)
			v.Messages = d.messages()
		case "temperature":
			d.seen(&set, 1<<2)
			if d.peek() == 'n' {
				d.bad = true
			}
			f := d.float64v()
			v.Temperature = &f
		case "max_tokens":
			d.seen(&set, 1<<3)
			if d.peek() == 'n' {
				d.bad = true
			}
			n := d.intv()
			v.MaxTokens = &n
		case "advanced_parameters":
			d.seen(&set, 1<<4)
			v.AdvancedParameters = d.raw()
		case "tools":
			d.seen(&set, 1<<5)
			v.Tools = d.tools()
		case "stream":
			d.seen(&set, 1<<6)
			v.Stream = d.boolean()
		default:
			d.unknown(key, "model", "messages", "temperature", "max_tokens", "advanced_parameters", "tools", "stream")
		}
	}
}

func (d *decoder) messages() []abi.Message {
	if !d.array() {
		return nil
	}
	out := make([]abi.Message, 0, 4)
	for first := true; d.next(first); first = false {
		out = append(out, abi.Message{})
		d.message(&out[len(out)-1])
	}
	return out
}

func (d *decoder) message(m *abi.Message) {
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
		case "role":
			d.seen(&set, 1<<0)
			m.Role = d.str()
		case "content":
			d.seen(&set, 1<<1)
			m.Content = d.str()
		case "name":
			d.seen(&set, 1<<2)
			m.Name = d.str()
		case "tool_call_id":
			d.seen(&set, 1<<3)
			m.ToolCallID = d.str()
		case "tool_calls":
			d.seen(&set, 1<<4)
			m.ToolCalls = d.toolCalls()
		default:
			d.unknown(key, "role", "content", "name", "tool_call_id", "tool_calls")
		}
	}
}

func (d *decoder) toolCalls() []abi.ToolCall {
	if !d.array() {
		return nil
	}
	out := []abi.ToolCall{}
	for first := true; d.next(first); first = false {
		if !d.object() {
			return nil
		}
		var t abi.ToolCall
		var set uint32
		for kfirst := true; ; kfirst = false {
			key, ok := d.more(kfirst)
			if !ok {
				break
			}
			switch key {
			case "id":
				d.seen(&set, 1<<0)
				t.ID = d.str()
			case "name":
				d.seen(&set, 1<<1)
				t.Name = d.str()
			case "arguments":
				d.seen(&set, 1<<2)
				t.Arguments = d.str()
			default:
				d.unknown(key, "id", "name", "arguments")
			}
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) tools() []abi.Tool {
	if !d.array() {
		return nil
	}
	out := []abi.Tool{}
	for first := true; d.next(first); first = false {
		if !d.object() {
			return nil
		}
		var t abi.Tool
		var set uint32
		for kfirst := true; ; kfirst = false {
			key, ok := d.more(kfirst)
			if !ok {
				break
			}
			switch key {
			case "name":
				d.seen(&set, 1<<0)
				t.Name = d.str()
			case "description":
				d.seen(&set, 1<<1)
				t.Description = d.str()
			case "parameters":
				d.seen(&set, 1<<2)
				t.Parameters = d.raw()
			default:
				d.unknown(key, "name", "description", "parameters")
			}
		}
		out = append(out, t)
	}
	return out
}

// abiError reads an *abi.Error; null goes to encoding/json.
func (d *decoder) abiError() *abi.Error {
	if !d.object() {
		return nil
	}
	e := &abi.Error{}
	var set uint32
	for first := true; ; first = false {
		key, ok := d.more(first)
		if !ok {
			return e
		}
		switch key {
		case "code":
			d.seen(&set, 1<<0)
			e.Code = d.str()
		case "message":
			d.seen(&set, 1<<1)
			e.Message = d.str()
		case "retryable":
			d.seen(&set, 1<<2)
			e.Retryable = d.boolean()
		case "http_status":
			d.seen(&set, 1<<3)
			e.HTTPStatus = d.intv()
		default:
			d.unknown(key, "code", "message", "retryable", "http_status")
		}
	}
}

func (d *decoder) httpResponse() (v abi.HTTPResponse) {
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
		case "status":
			d.seen(&set, 1<<0)
			v.Status = d.intv()
		case "headers":
			d.seen(&set, 1<<1)
			v.Headers = d.stringMap()
		case "body":
			d.seen(&set, 1<<2)
			v.Body = d.str()
		case "body_base64":
			d.seen(&set, 1<<3)
			v.BodyBase64 = d.str()
		case "body_blob":
			d.seen(&set, 1<<4)
			v.BodyBlob = d.int64v()
		case "error":
			d.seen(&set, 1<<5)
			v.Error = d.abiError()
		default:
			d.unknown(key, "status", "headers", "body", "body_base64", "body_blob", "error")
		}
	}
}

func (d *decoder) streamOpenResult() (v abi.StreamOpenResult) {
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
		case "handle":
			d.seen(&set, 1<<0)
			v.Handle = d.int64v()
		case "status":
			d.seen(&set, 1<<1)
			v.Status = d.intv()
		case "headers":
			d.seen(&set, 1<<2)
			v.Headers = d.stringMap()
		case "body":
			d.seen(&set, 1<<3)
			v.Body = d.str()
		case "error":
			d.seen(&set, 1<<4)
			v.Error = d.abiError()
		default:
			d.unknown(key, "handle", "status", "headers", "body", "error")
		}
	}
}

func (d *decoder) streamEvent() (v abi.StreamEvent) {
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
		case "event":
			d.seen(&set, 1<<0)
			v.Event = d.str()
		case "data":
			d.seen(&set, 1<<1)
			v.Data = d.str()
		case "eof":
			d.seen(&set, 1<<2)
			v.EOF = d.boolean()
		case "error":
			d.seen(&set, 1<<3)
			v.Error = d.abiError()
		default:
			d.unknown(key, "event", "data", "eof", "error")
		}
	}
}
