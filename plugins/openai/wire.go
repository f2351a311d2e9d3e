package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/tzurot-go/tzurot/sdk/abijson"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The provider's request and response JSON, written and read without
// reflection: in a plugin, encoding/json took about 0.35 ms to encode the
// pipeline's 3 KiB request and 0.3 ms to decode a short reply
// (docs/performance.md). Both give exactly what encoding/json gives (the
// tests compare them), and hand anything unusual to it.

// appendChatBody appends b as json.Marshal encodes it.
func appendChatBody(dst []byte, b *chatBody) ([]byte, error) {
	if len(b.Tools) > 0 {
		// Tool schemas are raw JSON, which json.Marshal compacts and
		// escapes; tools are rare, so leave them to it.
		raw, err := json.Marshal(b)
		return append(dst, raw...), err
	}
	var err error
	dst = append(dst, `{"model":`...)
	dst = abijson.AppendString(dst, b.Model)
	dst = append(dst, `,"messages":`...)
	if b.Messages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range b.Messages {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendWireMessage(dst, &b.Messages[i])
		}
		dst = append(dst, ']')
	}
	floats := []struct {
		name string
		v    *float64
	}{{"temperature", b.Temperature}, {"top_p", b.TopP}}
	for _, f := range floats {
		if dst, err = abijson.AppendOptFloat(dst, f.name, f.v); err != nil {
			return dst, err
		}
	}
	dst = abijson.AppendOptInt(dst, "top_k", b.TopK)
	floats = []struct {
		name string
		v    *float64
	}{{"frequency_penalty", b.FrequencyPenalty}, {"presence_penalty", b.PresencePenalty},
		{"repetition_penalty", b.RepetitionPenalty}, {"min_p", b.MinP}, {"top_a", b.TopA}}
	for _, f := range floats {
		if dst, err = abijson.AppendOptFloat(dst, f.name, f.v); err != nil {
			return dst, err
		}
	}
	if b.Seed != nil {
		dst = append(dst, `,"seed":`...)
		dst = strconv.AppendInt(dst, *b.Seed, 10)
	}
	if len(b.LogitBias) > 0 {
		dst = append(dst, `,"logit_bias":{`...)
		keys := make([]string, 0, len(b.LogitBias))
		for k := range b.LogitBias {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = abijson.AppendString(dst, k)
			dst = append(dst, ':')
			if dst, err = abijson.AppendFloat(dst, b.LogitBias[k]); err != nil {
				return dst, err
			}
		}
		dst = append(dst, '}')
	}
	if b.ResponseFormat != nil {
		dst = append(dst, `,"response_format":{"type":`...)
		dst = abijson.AppendString(dst, b.ResponseFormat.Type)
		dst = append(dst, '}')
	}
	dst = abijson.AppendOptInt(dst, "max_tokens", b.MaxTokens)
	dst = abijson.AppendOptInt(dst, "max_completion_tokens", b.MaxCompletionTokens)
	dst = appendStringField(dst, "reasoning_effort", b.ReasoningEffort)
	if r := b.Reasoning; r != nil {
		dst = append(dst, `,"reasoning":{`...)
		if r.Effort != "" {
			dst = append(dst, `"effort":`...)
			dst = abijson.AppendString(dst, r.Effort)
		}
		if r.Exclude != nil {
			if r.Effort != "" {
				dst = append(dst, ',')
			}
			dst = append(dst, `"exclude":`...)
			dst = strconv.AppendBool(dst, *r.Exclude)
		}
		dst = append(dst, '}')
	}
	if len(b.Transforms) > 0 {
		dst = append(dst, `,"transforms":[`...)
		for i, t := range b.Transforms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = abijson.AppendString(dst, t)
		}
		dst = append(dst, ']')
	}
	dst = appendStringField(dst, "route", b.Route)
	dst = appendStringField(dst, "verbosity", b.Verbosity)
	if b.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	if b.StreamOptions != nil {
		dst = append(dst, `,"stream_options":{"include_usage":`...)
		dst = strconv.AppendBool(dst, b.StreamOptions.IncludeUsage)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

func appendWireMessage(dst []byte, m *wireMessage) []byte {
	dst = append(dst, `{"role":`...)
	dst = abijson.AppendString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	if m.Content == nil {
		dst = append(dst, "null"...)
	} else {
		dst = abijson.AppendString(dst, *m.Content)
	}
	dst = appendStringField(dst, "name", m.Name)
	dst = appendStringField(dst, "tool_call_id", m.ToolCallID)
	if len(m.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range m.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendWireToolCall(dst, &m.ToolCalls[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendWireToolCall(dst []byte, tc *wireToolCall) []byte {
	dst = append(dst, '{')
	if tc.Index != nil {
		dst = append(dst, `"index":`...)
		dst = strconv.AppendInt(dst, int64(*tc.Index), 10)
		dst = append(dst, ',')
	}
	if tc.ID != "" {
		dst = append(dst, `"id":`...)
		dst = abijson.AppendString(dst, tc.ID)
		dst = append(dst, ',')
	}
	if tc.Type != "" {
		dst = append(dst, `"type":`...)
		dst = abijson.AppendString(dst, tc.Type)
		dst = append(dst, ',')
	}
	dst = append(dst, `"function":{`...)
	if tc.Function.Name != "" {
		dst = append(dst, `"name":`...)
		dst = abijson.AppendString(dst, tc.Function.Name)
		dst = append(dst, ',')
	}
	dst = append(dst, `"arguments":`...)
	dst = abijson.AppendString(dst, tc.Function.Arguments)
	return append(dst, '}', '}')
}

// appendStringField appends `,"name":v` unless v is "" (omitempty).
func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return abijson.AppendString(dst, v)
}

// Field names of the response types, for Decoder.Unknown.
var (
	completionFields = []string{"model", "choices", "usage", "error"}
	choiceFields     = []string{"message", "delta", "finish_reason"}
	deltaFields      = []string{"content", "reasoning", "reasoning_content", "tool_calls", "refusal"}
	toolCallFields   = []string{"index", "id", "type", "function"}
	functionFields   = []string{"name", "arguments"}
	usageFields      = []string{"prompt_tokens", "completion_tokens", "completion_tokens_details"}
	errBodyFields    = []string{"message", "type", "code"}
)

// decodeCompletion returns what json.Unmarshal gives for body into a zero
// completion (a whole response, or one stream event).
func decodeCompletion(body []byte) (completion, error) {
	d := abijson.NewDecoder(body)
	var c completion
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "model":
			d.Once(&seen, 0)
			c.Model = d.String()
		case "choices":
			d.Once(&seen, 1)
			c.Choices = abijson.Slice(d, readChoice)
		case "usage":
			d.Once(&seen, 2)
			if !d.Null() {
				c.Usage = &wireUsage{}
				readUsage(d, c.Usage)
			}
		case "error":
			d.Once(&seen, 3)
			if !d.Null() {
				c.Error = &wireErrBody{}
				readErrBody(d, c.Error)
			}
		default:
			d.Unknown(key, completionFields...)
		}
	}
	if d.End() != nil {
		c = completion{}
		return c, json.Unmarshal(body, &c)
	}
	return c, nil
}

func readChoice(d *abijson.Decoder, ch *choice) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "message":
			d.Once(&seen, 0)
			readDelta(d, &ch.Message)
		case "delta":
			d.Once(&seen, 1)
			readDelta(d, &ch.Delta)
		case "finish_reason":
			d.Once(&seen, 2)
			ch.FinishReason = d.String()
		default:
			d.Unknown(key, choiceFields...)
		}
	}
}

func readDelta(d *abijson.Decoder, m *wireDelta) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "content":
			d.Once(&seen, 0)
			m.Content = d.String()
		case "reasoning":
			d.Once(&seen, 1)
			m.Reasoning = d.String()
		case "reasoning_content":
			d.Once(&seen, 2)
			m.ReasoningContent = d.String()
		case "tool_calls":
			d.Once(&seen, 3)
			m.ToolCalls = abijson.Slice(d, readToolCall)
		case "refusal":
			d.Once(&seen, 4)
			m.Refusal = d.String()
		default:
			d.Unknown(key, deltaFields...)
		}
	}
}

func readToolCall(d *abijson.Decoder, tc *wireToolCall) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "index":
			d.Once(&seen, 0)
			tc.Index = d.OptInt()
		case "id":
			d.Once(&seen, 1)
			tc.ID = d.String()
		case "type":
			d.Once(&seen, 2)
			tc.Type = d.String()
		case "function":
			d.Once(&seen, 3)
			var fseen uint64
			for fkey := range d.Object() {
				switch fkey {
				case "name":
					d.Once(&fseen, 0)
					tc.Function.Name = d.String()
				case "arguments":
					d.Once(&fseen, 1)
					tc.Function.Arguments = d.String()
				default:
					d.Unknown(fkey, functionFields...)
				}
			}
		default:
			d.Unknown(key, toolCallFields...)
		}
	}
}

func readUsage(d *abijson.Decoder, u *wireUsage) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "prompt_tokens":
			d.Once(&seen, 0)
			u.PromptTokens = d.Int()
		case "completion_tokens":
			d.Once(&seen, 1)
			u.CompletionTokens = d.Int()
		case "completion_tokens_details":
			d.Once(&seen, 2)
			if d.Null() {
				break
			}
			u.CompletionTokensDetails = &struct {
				ReasoningTokens int64 `json:"reasoning_tokens"`
			}{}
			var dseen uint64
			for dkey := range d.Object() {
				switch dkey {
				case "reasoning_tokens":
					d.Once(&dseen, 0)
					u.CompletionTokensDetails.ReasoningTokens = d.Int()
				default:
					d.Unknown(dkey, "reasoning_tokens")
				}
			}
		default:
			d.Unknown(key, usageFields...)
		}
	}
}

func readErrBody(d *abijson.Decoder, e *wireErrBody) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "message":
			d.Once(&seen, 0)
			e.Message = d.String()
		case "type":
			d.Once(&seen, 1)
			e.Type = d.String()
		case "code":
			d.Once(&seen, 2)
			e.Code = d.Raw()
		default:
			d.Unknown(key, errBodyFields...)
		}
	}
}

var (
	advancedFields = []string{"temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty", "repetition_penalty", "min_p", "top_a", "seed", "thinking", "max_tokens", "logit_bias", "response_format", "transforms", "route", "verbosity", "reasoning"}
)

// decodeAdvanced returns what json.Unmarshal gives for raw into a zero
// advanced (a personality's advanced_parameters, sent with every call).
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
		case "frequency_penalty":
			d.Once(&seen, 3)
			a.FrequencyPenalty = d.OptFloat()
		case "presence_penalty":
			d.Once(&seen, 4)
			a.PresencePenalty = d.OptFloat()
		case "repetition_penalty":
			d.Once(&seen, 5)
			a.RepetitionPenalty = d.OptFloat()
		case "min_p":
			d.Once(&seen, 6)
			a.MinP = d.OptFloat()
		case "top_a":
			d.Once(&seen, 7)
			a.TopA = d.OptFloat()
		case "seed":
			d.Once(&seen, 8)
			a.Seed = d.OptInt64()
		case "thinking":
			d.Once(&seen, 9)
			a.Thinking = d.String()
		case "max_tokens":
			d.Once(&seen, 10)
			a.MaxTokens = d.OptInt()
		case "logit_bias":
			d.Once(&seen, 11)
			if !d.Null() {
				a.LogitBias = map[string]float64{}
				for k := range d.Object() {
					a.LogitBias[k] = d.Float() // a repeated key: the last wins, as in encoding/json
				}
			}
		case "response_format":
			d.Once(&seen, 12)
			if !d.Null() {
				a.ResponseFormat = &responseFormat{}
				var fseen uint64
				for k := range d.Object() {
					switch k {
					case "type":
						d.Once(&fseen, 0)
						a.ResponseFormat.Type = d.String()
					default:
						d.Unknown(k, "type")
					}
				}
			}
		case "transforms":
			d.Once(&seen, 13)
			a.Transforms = d.Strings()
		case "route":
			d.Once(&seen, 14)
			a.Route = d.String()
		case "verbosity":
			d.Once(&seen, 15)
			a.Verbosity = d.String()
		case "reasoning":
			d.Once(&seen, 16)
			// The portable level (a string) or OpenRouter's object; anything
			// unusual goes to slowAdvanced.
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
