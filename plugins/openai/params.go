package main

import (
	"encoding/json"

	"github.com/tzurot-go/tzurot/sdk/provider"
)

// parametersSchema is the JSON Schema of the advanced_parameters this
// plugin accepts: tzurot's flat, snake_case, OpenRouter-normalised set. The
// host validates a personality's parameters against it before a call, so
// a typo is refused when it is saved, not silently ignored at reply time.
const parametersSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "OpenAI-compatible advanced parameters",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "temperature":        {"type": "number", "minimum": 0, "maximum": 2, "description": "Sampling temperature."},
    "top_p":              {"type": "number", "minimum": 0, "maximum": 1, "description": "Nucleus sampling."},
    "top_k":              {"type": "integer", "minimum": 0, "description": "Top-k sampling (OpenRouter, local servers)."},
    "frequency_penalty":  {"type": "number", "minimum": -2, "maximum": 2},
    "presence_penalty":   {"type": "number", "minimum": -2, "maximum": 2},
    "repetition_penalty": {"type": "number", "minimum": 0, "maximum": 2, "description": "OpenRouter, local servers."},
    "min_p":              {"type": "number", "minimum": 0, "maximum": 1, "description": "OpenRouter, local servers."},
    "top_a":              {"type": "number", "minimum": 0, "maximum": 1, "description": "OpenRouter only."},
    "seed":               {"type": "integer"},
    "thinking":           {"enum": ["off", "minimal", "low", "medium", "high", "max"], "description": "Reasoning effort; absent means the provider's default."},
    "max_tokens":         {"type": "integer", "minimum": 1, "description": "Output budget, reasoning included."},
    "logit_bias":         {"type": "object", "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100}},
    "response_format":    {"type": "object", "additionalProperties": false, "required": ["type"],
                           "properties": {"type": {"enum": ["text", "json_object"]}}},
    "transforms":         {"type": "array", "items": {"type": "string"}, "description": "OpenRouter only."},
    "route":              {"const": "fallback", "description": "OpenRouter only."},
    "verbosity":          {"enum": ["low", "medium", "high"], "description": "OpenAI, OpenRouter."},
    "reasoning": {
      "description": "The portable reasoning setting (off, low, medium, high), or the OpenRouter-style object; thinking wins when both are set.",
      "oneOf": [
        {"enum": ["off", "minimal", "low", "medium", "high", "max"]},
        {"type": "object", "additionalProperties": false,
         "properties": {
           "effort":     {"enum": ["none", "minimal", "low", "medium", "high", "xhigh"]},
           "max_tokens": {"type": "integer", "minimum": 1},
           "exclude":    {"type": "boolean"},
           "enabled":    {"type": "boolean"}
         }}
      ]
    }
  }
}`

// constraintsSchema states the rules that depend on the model, for OpenAI
// itself (describe declares it only for flavor openai: OpenRouter and
// local servers drop what a model does not take). OpenAI's reasoning
// models (o1, o3, o4-mini, gpt-5 and its -mini/-nano, not gpt-5-chat)
// refuse temperature, top_p and the penalties with a 400; the plugin
// sends max_completion_tokens for every model, so max_tokens is fine.
const constraintsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "OpenAI rules that depend on the model",
  "allOf": [{
    "if": {"required": ["model"], "properties": {"model": {"type": "string", "pattern": "^(o[1-9]|gpt-5)", "not": {"pattern": "^gpt-5[.0-9]*-chat"}}}},
    "then": {"properties": {"parameters": {"allOf": [
      {"not": {"required": ["temperature"]}, "x-field": "temperature", "x-message": "OpenAI's reasoning models (o-series, gpt-5) take no temperature; remove it, or choose a model such as gpt-4.1"},
      {"not": {"required": ["top_p"]}, "x-field": "top_p", "x-message": "OpenAI's reasoning models (o-series, gpt-5) take no top_p; remove it"},
      {"not": {"required": ["frequency_penalty"]}, "x-field": "frequency_penalty", "x-message": "OpenAI's reasoning models (o-series, gpt-5) take no frequency_penalty; remove it"},
      {"not": {"required": ["presence_penalty"]}, "x-field": "presence_penalty", "x-message": "OpenAI's reasoning models (o-series, gpt-5) take no presence_penalty; remove it"}
    ]}}}
  }]
}`

// advanced is the decoded advanced_parameters object.
type advanced struct {
	Temperature       *float64            `json:"temperature"`
	TopP              *float64            `json:"top_p"`
	TopK              *int                `json:"top_k"`
	FrequencyPenalty  *float64            `json:"frequency_penalty"`
	PresencePenalty   *float64            `json:"presence_penalty"`
	RepetitionPenalty *float64            `json:"repetition_penalty"`
	MinP              *float64            `json:"min_p"`
	TopA              *float64            `json:"top_a"`
	Seed              *int64              `json:"seed"`
	Thinking          string              `json:"thinking"`
	MaxTokens         *int                `json:"max_tokens"`
	LogitBias         map[string]float64  `json:"logit_bias"`
	ResponseFormat    *responseFormat     `json:"response_format"`
	Transforms        []string            `json:"transforms"`
	Route             string              `json:"route"`
	Verbosity         string              `json:"verbosity"`
	Reasoning         *provider.Reasoning `json:"-"` // the object form
	ReasoningLevel    string              `json:"-"` // the string form
}

type responseFormat struct {
	Type string `json:"type"`
}

func parseAdvanced(raw json.RawMessage) (advanced, error) {
	return provider.ParseAdvanced(raw, decodeAdvanced)
}

// level is the reasoning level asked for: thinking wins, then reasoning
// (the portable level, or the object: enabled:false → off, effort
// none→off … xhigh→max, a bare max_tokens → high). "" means the
// provider's default.
func (a advanced) level() string {
	return provider.AskedLevel(a.Thinking, a.ReasoningLevel, a.Reasoning, "high")
}

// budgetFor is the output budget a reasoning level gets when nobody set
// max_tokens: reasoning eats into max_tokens, and a small default would
// leave no room for the reply.
var budgetFor = map[string]int{"off": 4096, "minimal": 6144, "low": 8192, "medium": 16384, "high": 32768, "max": 65536}

// openAIEffort maps a level to OpenAI's reasoning_effort.
var openAIEffort = map[string]string{"off": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "max": "high"}

// openRouterEffort maps a level to OpenRouter's reasoning.effort.
var openRouterEffort = map[string]string{"off": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "max": "xhigh"}
