package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The API's request and response JSON, written and read without
// reflection (encoding/json costs about 0.3 ms per request or reply in a
// plugin; docs/performance.md). Anything unusual in a response goes to
// encoding/json, which gives the same value or the right error.

// appendMessagesBody appends the request body for b.
func appendMessagesBody(dst []byte, b *messagesBody) ([]byte, error) {
	var err error
	dst = append(dst, `{"model":`...)
	dst = abijson.AppendString(dst, b.Model)
	dst = append(dst, `,"max_tokens":`...)
	dst = strconv.AppendInt(dst, int64(b.MaxTokens), 10)
	if b.System != "" {
		dst = append(dst, `,"system":`...)
		dst = abijson.AppendString(dst, b.System)
	}
	dst = append(dst, `,"messages":[`...)
	for i := range b.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendWireMessage(dst, &b.Messages[i]); err != nil {
			return dst, err
		}
	}
	dst = append(dst, ']')
	if dst, err = abijson.AppendOptFloat(dst, "temperature", b.Temperature); err != nil {
		return dst, err
	}
	if dst, err = abijson.AppendOptFloat(dst, "top_p", b.TopP); err != nil {
		return dst, err
	}
	dst = abijson.AppendOptInt(dst, "top_k", b.TopK)
	if len(b.StopSequences) > 0 {
		dst = append(dst, `,"stop_sequences":[`...)
		for i, s := range b.StopSequences {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = abijson.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	if b.Budget > 0 {
		dst = append(dst, `,"thinking":{"type":"enabled","budget_tokens":`...)
		dst = strconv.AppendInt(dst, int64(b.Budget), 10)
		dst = append(dst, '}')
	}
	if len(b.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i, t := range b.Tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = abijson.AppendString(dst, t.Name)
			if t.Description != "" {
				dst = append(dst, `,"description":`...)
				dst = abijson.AppendString(dst, t.Description)
			}
			dst = append(dst, `,"input_schema":`...)
			schema := []byte(t.Parameters)
			if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
				schema = []byte(`{"type":"object"}`) // the API requires one
			}
			if dst, err = appendCompact(dst, schema); err != nil {
				return dst, err
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if b.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	return append(dst, '}'), nil
}

func appendWireMessage(dst []byte, m *wireMessage) ([]byte, error) {
	dst = append(dst, `{"role":`...)
	dst = abijson.AppendString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	if m.Blocks == nil {
		dst = abijson.AppendString(dst, m.Text)
		return append(dst, '}'), nil
	}
	dst = append(dst, '[')
	var err error
	for i := range m.Blocks {
		if i > 0 {
			dst = append(dst, ',')
		}
		bl := &m.Blocks[i]
		dst = append(dst, `{"type":`...)
		dst = abijson.AppendString(dst, bl.Type)
		switch bl.Type {
		case "text":
			dst = append(dst, `,"text":`...)
			dst = abijson.AppendString(dst, bl.Text)
		case "tool_use":
			dst = append(dst, `,"id":`...)
			dst = abijson.AppendString(dst, bl.ID)
			dst = append(dst, `,"name":`...)
			dst = abijson.AppendString(dst, bl.Name)
			dst = append(dst, `,"input":`...)
			if dst, err = appendCompact(dst, bl.Input); err != nil {
				return dst, err
			}
		case "tool_result":
			dst = append(dst, `,"tool_use_id":`...)
			dst = abijson.AppendString(dst, bl.ID)
			dst = append(dst, `,"content":`...)
			dst = abijson.AppendString(dst, bl.Text)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']', '}'), nil
}

// appendCompact appends raw JSON (a tool's schema or arguments) compacted.
func appendCompact(dst, raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return dst, err
	}
	return append(dst, buf.Bytes()...), nil
}

// Wire types of the Messages API (response side). One type, event, reads
// both a whole message (type "message"), an error body (type "error") and
// every stream event, since they share their field names.
type (
	event struct {
		Type         string     `json:"type"`
		Model        string     `json:"model"`
		Content      []block    `json:"content"`
		StopReason   string     `json:"stop_reason"`
		Usage        *wireUsage `json:"usage"`
		Message      *event     `json:"message"`       // message_start
		Index        int        `json:"index"`         // content_block_*
		ContentBlock *block     `json:"content_block"` // content_block_start
		Delta        *delta     `json:"delta"`         // content_block_delta, message_delta
		Error        *wireError `json:"error"`
	}
	block struct {
		Type     string          `json:"type"` // text, thinking, redacted_thinking, tool_use
		Text     string          `json:"text"`
		Thinking string          `json:"thinking"`
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Input    json.RawMessage `json:"input"`
	}
	delta struct {
		Type        string `json:"type"` // text_delta, thinking_delta, signature_delta, input_json_delta
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"` // message_delta
	}
	wireUsage struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	}
	wireError struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
)

// Field names of the response types, for Decoder.Unknown.
var (
	eventFields = []string{"type", "model", "content", "stop_reason", "usage", "message", "index", "content_block", "delta", "error"}
	blockFields = []string{"type", "text", "thinking", "id", "name", "input"}
	deltaFields = []string{"type", "text", "thinking", "partial_json", "stop_reason"}
	usageFields = []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
	errorFields = []string{"type", "message"}
)

// decodeEvent returns what json.Unmarshal gives for body into a zero event.
func decodeEvent(body []byte) (event, error) {
	d := abijson.NewDecoder(body)
	var e event
	readEvent(d, &e)
	if d.End() != nil {
		e = event{}
		return e, json.Unmarshal(body, &e)
	}
	return e, nil
}

func readEvent(d *abijson.Decoder, e *event) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "type":
			d.Once(&seen, 0)
			e.Type = d.String()
		case "model":
			d.Once(&seen, 1)
			e.Model = d.String()
		case "content":
			d.Once(&seen, 2)
			e.Content = abijson.Slice(d, readBlock)
		case "stop_reason":
			d.Once(&seen, 3)
			e.StopReason = d.String()
		case "usage":
			d.Once(&seen, 4)
			if !d.Null() {
				e.Usage = &wireUsage{}
				readUsage(d, e.Usage)
			}
		case "message":
			d.Once(&seen, 5)
			if !d.Null() {
				e.Message = &event{}
				readEvent(d, e.Message)
			}
		case "index":
			d.Once(&seen, 6)
			e.Index = int(d.Int())
		case "content_block":
			d.Once(&seen, 7)
			if !d.Null() {
				e.ContentBlock = &block{}
				readBlock(d, e.ContentBlock)
			}
		case "delta":
			d.Once(&seen, 8)
			if !d.Null() {
				e.Delta = &delta{}
				readDelta(d, e.Delta)
			}
		case "error":
			d.Once(&seen, 9)
			if !d.Null() {
				e.Error = &wireError{}
				readError(d, e.Error)
			}
		default:
			d.Unknown(key, eventFields...)
		}
	}
}

func readBlock(d *abijson.Decoder, b *block) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "type":
			d.Once(&seen, 0)
			b.Type = d.String()
		case "text":
			d.Once(&seen, 1)
			b.Text = d.String()
		case "thinking":
			d.Once(&seen, 2)
			b.Thinking = d.String()
		case "id":
			d.Once(&seen, 3)
			b.ID = d.String()
		case "name":
			d.Once(&seen, 4)
			b.Name = d.String()
		case "input":
			d.Once(&seen, 5)
			b.Input = d.Raw()
		default:
			d.Unknown(key, blockFields...)
		}
	}
}

func readDelta(d *abijson.Decoder, x *delta) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "type":
			d.Once(&seen, 0)
			x.Type = d.String()
		case "text":
			d.Once(&seen, 1)
			x.Text = d.String()
		case "thinking":
			d.Once(&seen, 2)
			x.Thinking = d.String()
		case "partial_json":
			d.Once(&seen, 3)
			x.PartialJSON = d.String()
		case "stop_reason":
			d.Once(&seen, 4)
			x.StopReason = d.String()
		default:
			d.Unknown(key, deltaFields...)
		}
	}
}

func readUsage(d *abijson.Decoder, u *wireUsage) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "input_tokens":
			d.Once(&seen, 0)
			u.InputTokens = d.Int()
		case "output_tokens":
			d.Once(&seen, 1)
			u.OutputTokens = d.Int()
		case "cache_creation_input_tokens":
			d.Once(&seen, 2)
			u.CacheCreationInputTokens = d.Int()
		case "cache_read_input_tokens":
			d.Once(&seen, 3)
			u.CacheReadInputTokens = d.Int()
		default:
			d.Unknown(key, usageFields...)
		}
	}
}

func readError(d *abijson.Decoder, e *wireError) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "type":
			d.Once(&seen, 0)
			e.Type = d.String()
		case "message":
			d.Once(&seen, 1)
			e.Message = d.String()
		default:
			d.Unknown(key, errorFields...)
		}
	}
}

var (
	advancedFields = []string{"temperature", "top_p", "top_k", "max_tokens", "stop_sequences", "thinking", "thinking_budget", "reasoning"}
)

// decodeAdvanced reads a personality's advanced_parameters (sent with
// every call). reasoning is a string or an object.
func decodeAdvanced(raw []byte) (advanced, error) {
	d := abijson.NewDecoder(raw)
	var a advanced
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "temperature":
			d.Once(&seen, 0)
			a.Temperature = d.OptFloat()
		case "top_p":
			d.Once(&seen, 1)
			a.TopP = d.OptFloat()
		case "top_k":
			d.Once(&seen, 2)
			a.TopK = d.OptInt()
		case "max_tokens":
			d.Once(&seen, 3)
			a.MaxTokens = d.OptInt()
		case "stop_sequences":
			d.Once(&seen, 4)
			a.StopSequences = d.Strings()
		case "thinking":
			d.Once(&seen, 5)
			a.Thinking = d.String()
		case "thinking_budget":
			d.Once(&seen, 6)
			a.ThinkingBudget = d.OptInt()
		case "reasoning":
			d.Once(&seen, 7)
			// A string or an object; anything unusual goes to slowAdvanced.
			r := d.Raw()
			switch {
			case len(r) > 0 && r[0] == '"':
				rd := abijson.NewDecoder(r)
				a.ReasoningLevel = rd.String()
				if rd.End() != nil {
					return slowAdvanced(raw)
				}
			case len(r) > 0 && r[0] == '{':
				a.Reasoning = &provider.Reasoning{}
				rd := abijson.NewDecoder(r)
				a.Reasoning.Read(rd)
				if rd.End() != nil {
					return slowAdvanced(raw)
				}
			case string(r) != "null":
				return slowAdvanced(raw)
			}
		default:
			d.Unknown(key, advancedFields...)
		}
	}
	if d.End() != nil {
		return slowAdvanced(raw)
	}
	return a, nil
}

// slowAdvanced is decodeAdvanced by encoding/json, for the documents
// abijson hands over (and for its errors, which name the field).
func slowAdvanced(raw []byte) (advanced, error) {
	var a advanced
	if err := json.Unmarshal(raw, &a); err != nil {
		return advanced{}, err
	}
	var r struct {
		Reasoning json.RawMessage `json:"reasoning"`
	}
	_ = json.Unmarshal(raw, &r)
	switch {
	case len(r.Reasoning) == 0 || string(r.Reasoning) == "null":
	case r.Reasoning[0] == '"':
		if err := json.Unmarshal(r.Reasoning, &a.ReasoningLevel); err != nil {
			return advanced{}, err
		}
	case r.Reasoning[0] == '{':
		a.Reasoning = &provider.Reasoning{}
		if err := json.Unmarshal(r.Reasoning, a.Reasoning); err != nil {
			return advanced{}, fmt.Errorf("reasoning: %w", err)
		}
	default:
		return advanced{}, fmt.Errorf("reasoning must be a level (off, low, medium, high) or an object, not %s", r.Reasoning)
	}
	return a, nil
}
