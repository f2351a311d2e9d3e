package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tzurot-go/tzurot/sdk/provider"
)

// parametersSchema is the JSON Schema of the advanced_parameters this
// plugin accepts. It is self-contained (no $ref leaves the document). The
// host validates a personality's parameters against it when they are saved
// and before a call. Its allOf states the thinking rules (temperature,
// top_p, top_k, max_tokens against a level's budget), so a bad combination
// is refused when it is saved; makePlan checks every rule again, including
// those the schema leaves out (thinking_budget against max_tokens, the
// reasoning object, the request's own fields), before any request leaves
// the plugin.
const parametersSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Anthropic Messages API advanced parameters",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "temperature":     {"type": "number", "minimum": 0, "maximum": 1, "description": "Sampling temperature, 0 to 1. With thinking on it must be 1 or unset."},
    "top_p":           {"type": "number", "minimum": 0, "maximum": 1, "description": "Nucleus sampling. With thinking on it must be between 0.95 and 1."},
    "top_k":           {"type": "integer", "minimum": 1, "description": "Top-k sampling. Not allowed with thinking on."},
    "max_tokens":      {"type": "integer", "minimum": 1, "description": "Output budget, thinking included. Default: default_max_tokens from plugins.toml (4096), plus the thinking budget when thinking is on."},
    "stop_sequences":  {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Text that ends the reply when the model writes it."},
    "thinking":        {"enum": ["off", "minimal", "low", "medium", "high", "max"], "description": "Extended thinking level (see docs/providers.md for the budget of each)."},
    "thinking_budget": {"type": "integer", "minimum": 1024, "description": "Extended thinking budget_tokens, exactly; wins over the level. Must be less than max_tokens."},
    "reasoning": {
      "description": "The portable reasoning setting (off, low, medium, high), or the OpenRouter-style object; thinking wins when both are set.",
      "oneOf": [
        {"enum": ["off", "minimal", "low", "medium", "high", "max"]},
        {"type": "object", "additionalProperties": false,
         "properties": {
           "effort":     {"enum": ["none", "minimal", "low", "medium", "high", "xhigh"]},
           "max_tokens": {"type": "integer", "minimum": 1024},
           "exclude":    {"type": "boolean"},
           "enabled":    {"type": "boolean"}
         }}
      ]
    }
  },
  "allOf": [
    {
      "$comment": "Thinking on (a thinking level, or the reasoning level when thinking is unset, or thinking_budget): temperature 1 or unset, top_p at least 0.95, no top_k.",
      "if": {"anyOf": [
        {"required": ["thinking"], "properties": {"thinking": {"enum": ["minimal", "low", "medium", "high", "max"]}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"enum": ["minimal", "low", "medium", "high", "max"]}}},
        {"required": ["thinking_budget"]}
      ]},
      "then": {
        "properties": {
          "temperature": {"const": 1, "x-message": "Claude's extended thinking needs temperature 1 or unset; remove temperature or set thinking to off"},
          "top_p": {"minimum": 0.95, "x-message": "Claude's extended thinking needs top_p between 0.95 and 1, or unset"}
        },
        "not": {"required": ["top_k"], "x-field": "top_k", "x-message": "cannot be used while Claude's extended thinking is on; remove top_k or set thinking to off"}
      }
    },
    {
      "$comment": "thinking_budget with thinking off is a contradiction.",
      "if": {"required": ["thinking", "thinking_budget"]},
      "then": {"properties": {"thinking": {"not": {"const": "off"}, "x-message": "is off, but thinking_budget is set; remove one of the two"}}}
    },
    {
      "if": {"required": ["reasoning", "thinking_budget"], "not": {"required": ["thinking"]}},
      "then": {"properties": {"reasoning": {"not": {"const": "off"}, "x-message": "is off, but thinking_budget is set; remove one of the two"}}}
    },
    {
      "$comment": "max_tokens must be more than a level's budget (thinking_budget, when set, is checked by the plugin).",
      "if": {"required": ["max_tokens"], "not": {"required": ["thinking_budget"]}},
      "then": {"x-field": "max_tokens", "x-message": "must be more than the thinking budget of the level (minimal 1024, low 2048, medium 8192, high 16384, max 24576 tokens), which it includes; raise max_tokens or lower the thinking level", "anyOf": [
        {"properties": {"thinking": {"const": "minimal"}, "max_tokens": {"minimum": 1025}}, "required": ["thinking"]},
        {"properties": {"thinking": {"const": "low"}, "max_tokens": {"minimum": 2049}}, "required": ["thinking"]},
        {"properties": {"thinking": {"const": "medium"}, "max_tokens": {"minimum": 8193}}, "required": ["thinking"]},
        {"properties": {"thinking": {"const": "high"}, "max_tokens": {"minimum": 16385}}, "required": ["thinking"]},
        {"properties": {"thinking": {"const": "max"}, "max_tokens": {"minimum": 24577}}, "required": ["thinking"]},
        {"properties": {"thinking": {"const": "off"}}, "required": ["thinking"]},
        {"not": {"required": ["thinking"]}, "properties": {"reasoning": {"not": {"enum": ["minimal", "low", "medium", "high", "max"]}}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "minimal"}, "max_tokens": {"minimum": 1025}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "low"}, "max_tokens": {"minimum": 2049}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "medium"}, "max_tokens": {"minimum": 8193}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "high"}, "max_tokens": {"minimum": 16385}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "max"}, "max_tokens": {"minimum": 24577}}}
      ]}
    }
  ]
}`

// advanced is the decoded advanced_parameters object.
type advanced struct {
	Temperature    *float64            `json:"temperature"`
	TopP           *float64            `json:"top_p"`
	TopK           *int                `json:"top_k"`
	MaxTokens      *int                `json:"max_tokens"`
	StopSequences  []string            `json:"stop_sequences"`
	Thinking       string              `json:"thinking"`
	ThinkingBudget *int                `json:"thinking_budget"`
	Reasoning      *provider.Reasoning `json:"-"` // the object form
	ReasoningLevel string              `json:"-"` // the string form
}

func parseAdvanced(raw json.RawMessage) (advanced, error) {
	return provider.ParseAdvanced(raw, decodeAdvanced)
}

// level is the thinking level asked for: thinking wins, then reasoning
// (its string form, or the object: enabled:false or effort none → off,
// xhigh → max, a bare max_tokens or enabled:true → medium). "" means not
// asked, which is off: Anthropic thinks only when asked to.
func (a advanced) level() string {
	return provider.AskedLevel(a.Thinking, a.ReasoningLevel, a.Reasoning, "medium")
}

// budgetFor is budget_tokens for each level. The largest leaves room for
// a 4096-token reply under 32000, the smallest output limit of Anthropic's
// current thinking models (Claude Opus 4), so the default max_tokens
// (budget + default_max_tokens) is accepted by every one of them.
var budgetFor = map[string]int{"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "max": 24576}

// Thinking limits from Anthropic's documentation.
const (
	minThinkingBudget = 1024
	minThinkingTopP   = 0.95
)

// plan is what one call asks of the API, after defaults: the numbers the
// constraints are checked on.
type plan struct {
	MaxTokens     int
	Budget        int // budget_tokens; 0 means thinking off
	Temperature   *float64
	TopP          *float64
	TopK          *int
	StopSequences []string
}

// fieldError is a request the API would refuse, named by the parameter a
// user changes to fix it.
type fieldError struct {
	Field string
	Rule  string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Rule }

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// makePlan resolves the request's settings against the personality's
// advanced parameters and the plugin's defaults, then checks the rules
// Anthropic enforces, so a call it would refuse is never made.
func makePlan(defaultMax int, reqTemp *float64, reqMax *int, a advanced) (plan, error) {
	p := plan{Temperature: a.Temperature, TopP: a.TopP, TopK: a.TopK, StopSequences: a.StopSequences}
	// The request's own fields win over the personality's parameters.
	if reqTemp != nil {
		p.Temperature = reqTemp
	}
	maxTokens := a.MaxTokens
	if reqMax != nil {
		maxTokens = reqMax
	}
	level := a.level()
	budgetField := "thinking"
	if level != "" && level != "off" {
		p.Budget = budgetFor[level]
	}
	explicit := a.ThinkingBudget
	if explicit == nil && a.Reasoning != nil && a.Reasoning.MaxTokens != nil && level != "off" {
		explicit, budgetField = a.Reasoning.MaxTokens, "reasoning.max_tokens"
	} else if explicit != nil {
		budgetField = "thinking_budget"
	}
	if explicit != nil {
		if level == "off" {
			return p, &fieldError{budgetField, "is set but thinking is off; remove one of the two"}
		}
		p.Budget = *explicit
	}
	if maxTokens != nil {
		p.MaxTokens = *maxTokens
	} else {
		p.MaxTokens = defaultMax + p.Budget
	}
	return p, p.check(budgetField, maxTokens != nil)
}

// check applies Anthropic's rules (docs: "Building with extended
// thinking", "Messages API").
func (p plan) check(budgetField string, maxSet bool) error {
	if p.MaxTokens < 1 {
		return &fieldError{"max_tokens", fmt.Sprintf("must be at least 1 (it is %d)", p.MaxTokens)}
	}
	if t := p.Temperature; t != nil && (*t < 0 || *t > 1) {
		return &fieldError{"temperature", fmt.Sprintf("must be between 0 and 1 for Anthropic (it is %s)", num(*t))}
	}
	if v := p.TopP; v != nil && (*v < 0 || *v > 1) {
		return &fieldError{"top_p", fmt.Sprintf("must be between 0 and 1 (it is %s)", num(*v))}
	}
	if k := p.TopK; k != nil && *k < 1 {
		return &fieldError{"top_k", fmt.Sprintf("must be at least 1 (it is %d)", *k)}
	}
	for _, s := range p.StopSequences {
		if s == "" {
			return &fieldError{"stop_sequences", "must not contain an empty string"}
		}
	}
	if p.Budget == 0 {
		return nil
	}
	if t := p.Temperature; t != nil && *t != 1 {
		return &fieldError{"temperature", fmt.Sprintf("must be 1 or unset when thinking is on (it is %s); remove temperature or turn thinking off", num(*t))}
	}
	if p.TopK != nil {
		return &fieldError{"top_k", "cannot be used when thinking is on; remove top_k or turn thinking off"}
	}
	if v := p.TopP; v != nil && *v < minThinkingTopP {
		return &fieldError{"top_p", fmt.Sprintf("must be between 0.95 and 1 when thinking is on (it is %s)", num(*v))}
	}
	if p.Budget < minThinkingBudget {
		return &fieldError{budgetField, fmt.Sprintf("the thinking budget must be at least %d tokens (it is %d)", minThinkingBudget, p.Budget)}
	}
	if p.Budget >= p.MaxTokens {
		field := "max_tokens"
		if !maxSet {
			field = budgetField
		}
		return &fieldError{field, fmt.Sprintf("max_tokens (%d) must be more than the thinking budget (%d tokens), which it includes; raise max_tokens or lower the thinking level", p.MaxTokens, p.Budget)}
	}
	return nil
}
