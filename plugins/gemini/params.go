package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tzurot-go/tzurot/sdk/provider"
)

// parametersSchema is the JSON Schema of the advanced_parameters this
// plugin accepts. It is self-contained (no $ref leaves the document). The
// host validates a personality's parameters against it when they are saved
// and before a call. The rules that depend on the model (thinking_level
// only on Gemini 3, thinking_budget only on 2.5 and its range there) are
// in constraintsSchema, since the model is not one of the parameters;
// makePlan checks them, and every rule below again, before any request
// leaves the plugin.
const parametersSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Gemini generateContent advanced parameters",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "temperature":     {"type": "number", "minimum": 0, "maximum": 2, "description": "Sampling temperature, 0 to 2 (generationConfig.temperature)."},
    "top_p":           {"type": "number", "minimum": 0, "maximum": 1, "description": "Nucleus sampling (generationConfig.topP)."},
    "top_k":           {"type": "integer", "minimum": 1, "description": "Top-k sampling (generationConfig.topK)."},
    "max_tokens":      {"type": "integer", "minimum": 1, "description": "Output budget (generationConfig.maxOutputTokens); on thinking models it includes the thinking."},
    "stop_sequences":  {"type": "array", "maxItems": 5, "items": {"type": "string", "minLength": 1}, "description": "Up to 5 texts that end the reply (generationConfig.stopSequences)."},
    "thinking":        {"enum": ["off", "minimal", "low", "medium", "high", "max"], "description": "Portable thinking level (see docs/providers.md for what each becomes on Gemini 3 and 2.5)."},
    "thinking_level":  {"enum": ["low", "high"], "description": "Gemini 3 models only: thinkingConfig.thinkingLevel, exactly; wins over the level."},
    "thinking_budget": {"type": "integer", "minimum": -1, "maximum": 32768, "description": "Gemini 2.5 models only: thinkingConfig.thinkingBudget, exactly (0 off, -1 dynamic); wins over the level. 2.5 Pro: 128 to 32768; 2.5 Flash: 0 to 24576; 2.5 Flash-Lite: 0 or 512 to 24576."},
    "reasoning": {
      "description": "The portable reasoning setting (off, low, medium, high), or the OpenRouter-style object; thinking wins when both are set.",
      "oneOf": [
        {"enum": ["off", "minimal", "low", "medium", "high", "max"]},
        {"type": "object", "additionalProperties": false,
         "properties": {
           "effort":     {"enum": ["none", "minimal", "low", "medium", "high", "xhigh"]},
           "max_tokens": {"type": "integer", "minimum": -1, "maximum": 32768},
           "exclude":    {"type": "boolean"},
           "enabled":    {"type": "boolean"}
         }}
      ]
    },
    "safety_settings": {
      "type": "array",
      "description": "Passed as safetySettings: a threshold per harm category.",
      "items": {
        "type": "object", "additionalProperties": false, "required": ["category", "threshold"],
        "properties": {
          "category":  {"enum": ["HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"]},
          "threshold": {"enum": ["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"]}
        }
      }
    }
  },
  "allOf": [
    {
      "$comment": "thinking_level is Gemini 3's, thinking_budget Gemini 2.5's: no model takes both.",
      "not": {"required": ["thinking_level", "thinking_budget"]}
    },
    {
      "$comment": "Thinking off (thinking off, or reasoning off with thinking unset) contradicts a thinking_level or a non-zero thinking_budget.",
      "if": {"anyOf": [
        {"required": ["thinking"], "properties": {"thinking": {"const": "off"}}},
        {"not": {"required": ["thinking"]}, "required": ["reasoning"], "properties": {"reasoning": {"const": "off"}}}
      ]},
      "then": {
        "not": {"required": ["thinking_level"]},
        "properties": {"thinking_budget": {"const": 0}}
      }
    }
  ]
}`

// constraintsSchema states the rules that depend on the model, which the
// host checks with the parameters when they are saved and before each
// call ({"model": ..., "parameters": ...}; docs/plugin-abi.md §5.2). It
// follows modelFamily (lowercase model ids, as Google writes them);
// makePlan checks the same rules again before any request leaves.
const constraintsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Gemini rules that depend on the model",
  "allOf": [
    {
      "$comment": "Gemini 3 takes thinkingLevel, not thinkingBudget.",
      "if": {"properties": {"model": {"pattern": "^gemini-3"}}},
      "then": {"properties": {"parameters": {"not": {"required": ["thinking_budget"]}, "x-field": "thinking_budget",
        "x-message": "is for Gemini 2.5 models; Gemini 3 takes thinking_level (low or high) instead"}}}
    },
    {
      "$comment": "Gemini 2.5 (and models the plugin does not know) take thinkingBudget, not thinkingLevel.",
      "if": {"properties": {"model": {"minLength": 1, "not": {"pattern": "^(gemini-3|gemini-1\\.|gemini-2\\.0)"}}}},
      "then": {"properties": {"parameters": {"not": {"required": ["thinking_level"]}, "x-field": "thinking_level",
        "x-message": "is for Gemini 3 models; Gemini 2.5 takes thinking_budget instead"}}}
    },
    {
      "$comment": "Gemini 1.x and 2.0 do not think.",
      "if": {"properties": {"model": {"pattern": "^(gemini-1\\.|gemini-2\\.0)"}}},
      "then": {"properties": {"parameters": {"allOf": [
        {"not": {"required": ["thinking_level"]}, "x-field": "thinking_level", "x-message": "this model does not think (Gemini 1.x and 2.0); remove it or choose a Gemini 2.5 or 3 model"},
        {"not": {"required": ["thinking_budget"]}, "x-field": "thinking_budget", "x-message": "this model does not think (Gemini 1.x and 2.0); remove it or choose a Gemini 2.5 or 3 model"},
        {"properties": {"thinking": {"const": "off", "x-message": "this model does not think (Gemini 1.x and 2.0); remove it or choose a Gemini 2.5 or 3 model"}}}
      ]}}}
    },
    {
      "$comment": "2.5 Pro cannot turn thinking off: budget 128 to 32768, or -1.",
      "if": {"properties": {"model": {"pattern": "^gemini-2\\.5-pro"}}},
      "then": {"properties": {"parameters": {"properties": {"thinking_budget": {
        "anyOf": [{"const": -1}, {"minimum": 128, "maximum": 32768}],
        "x-message": "Gemini 2.5 Pro takes a thinking budget of 128 to 32768 tokens, or -1 for dynamic thinking; it cannot turn thinking off"}}}}}
    },
    {
      "$comment": "2.5 Flash-Lite: budget 0 (off), 512 to 24576, or -1.",
      "if": {"properties": {"model": {"pattern": "^gemini-2\\.5-flash-lite"}}},
      "then": {"properties": {"parameters": {"properties": {"thinking_budget": {
        "anyOf": [{"const": -1}, {"const": 0}, {"minimum": 512, "maximum": 24576}],
        "x-message": "Gemini 2.5 Flash-Lite takes a thinking budget of 0 (off) or 512 to 24576 tokens, or -1 for dynamic thinking"}}}}}
    },
    {
      "$comment": "2.5 Flash: budget 0 (off) to 24576, or -1.",
      "if": {"properties": {"model": {"pattern": "^gemini-2\\.5-flash", "not": {"pattern": "^gemini-2\\.5-flash-lite"}}}},
      "then": {"properties": {"parameters": {"properties": {"thinking_budget": {
        "anyOf": [{"const": -1}, {"minimum": 0, "maximum": 24576}],
        "x-message": "Gemini 2.5 Flash takes a thinking budget of 0 (off) to 24576 tokens, or -1 for dynamic thinking"}}}}}
    }
  ]
}`

// safetyCategories and safetyThresholds are the values the API documents
// for SafetySetting (HarmCategory, HarmBlockThreshold), without the
// _UNSPECIFIED ones.
var (
	safetyCategories = map[string]bool{"HARM_CATEGORY_HARASSMENT": true, "HARM_CATEGORY_HATE_SPEECH": true,
		"HARM_CATEGORY_SEXUALLY_EXPLICIT": true, "HARM_CATEGORY_DANGEROUS_CONTENT": true, "HARM_CATEGORY_CIVIC_INTEGRITY": true}
	safetyThresholds = map[string]bool{"BLOCK_LOW_AND_ABOVE": true, "BLOCK_MEDIUM_AND_ABOVE": true,
		"BLOCK_ONLY_HIGH": true, "BLOCK_NONE": true, "OFF": true}
)

// safetySetting is one entry of safety_settings.
type safetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

// advanced is the decoded advanced_parameters object.
type advanced struct {
	Temperature    *float64            `json:"temperature"`
	TopP           *float64            `json:"top_p"`
	TopK           *int                `json:"top_k"`
	MaxTokens      *int                `json:"max_tokens"`
	StopSequences  []string            `json:"stop_sequences"`
	Thinking       string              `json:"thinking"`
	ThinkingLevel  string              `json:"thinking_level"`
	ThinkingBudget *int                `json:"thinking_budget"`
	Safety         []safetySetting     `json:"safety_settings"`
	Reasoning      *provider.Reasoning `json:"-"` // the object form
	ReasoningLevel string              `json:"-"` // the string form
}

func parseAdvanced(raw json.RawMessage) (advanced, error) {
	return provider.ParseAdvanced(raw, decodeAdvanced)
}

// level is the thinking level asked for: thinking wins, then reasoning
// (its string form, or the object). "" means not asked: the model's own
// default (Gemini thinks by default, dynamically).
func (a advanced) level() string {
	return provider.AskedLevel(a.Thinking, a.ReasoningLevel, a.Reasoning, "medium")
}

// family is what a model takes for thinking.
type family int

const (
	famOther       family = iota // unknown to the plugin: thinking_budget, range left to the API
	famNone                      // gemini-1.x, gemini-2.0: no thinkingConfig
	famGemini3                   // thinkingLevel
	famPro25                     // thinkingBudget 128..32768 or -1; cannot be off
	famFlash25                   // thinkingBudget 0..24576 or -1
	famFlashLite25               // thinkingBudget 0, 512..24576 or -1
)

func modelFamily(model string) family {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "gemini-3"):
		return famGemini3
	case strings.HasPrefix(m, "gemini-2.5-pro"):
		return famPro25
	case strings.HasPrefix(m, "gemini-2.5-flash-lite"):
		return famFlashLite25
	case strings.HasPrefix(m, "gemini-2.5-flash"):
		return famFlash25
	case strings.HasPrefix(m, "gemini-1."), strings.HasPrefix(m, "gemini-2.0"):
		return famNone
	}
	return famOther
}

// budgetFor is thinkingBudget for each portable level on 2.5 models; the
// largest fits every 2.5 model's range.
var budgetFor = map[string]int{"minimal": 512, "low": 1024, "medium": 8192, "high": 16384, "max": 24576}

// levelFor3 is thinkingLevel for each portable level on Gemini 3 models,
// which have two levels and cannot turn thinking off: off is the lowest
// level with no thoughts returned.
var levelFor3 = map[string]string{"off": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high", "max": "high"}

// efforts are the values of reasoning.effort (the OpenRouter form).
var efforts = map[string]bool{"none": true, "minimal": true, "low": true, "medium": true, "high": true, "xhigh": true}

// minProBudget is the smallest thinkingBudget of Gemini 2.5 Pro, which
// cannot turn thinking off: the portable level off becomes this.
const minProBudget = 128

// plan is the generationConfig of one call, after defaults: the numbers
// the constraints are checked on.
type plan struct {
	Temperature     *float64
	TopP            *float64
	TopK            *int
	MaxOutputTokens *int
	StopSequences   []string
	ThinkingLevel   string // Gemini 3; "" leaves it out
	ThinkingBudget  *int   // 2.5; nil leaves it out
	IncludeThoughts bool
	Safety          []safetySetting
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
// advanced parameters for model, then checks the rules Gemini enforces,
// so a call it would refuse is never made.
func makePlan(model string, reqTemp *float64, reqMax *int, a advanced) (plan, error) {
	p := plan{Temperature: a.Temperature, TopP: a.TopP, TopK: a.TopK, MaxOutputTokens: a.MaxTokens,
		StopSequences: a.StopSequences, Safety: a.Safety}
	// The request's own fields win over the personality's parameters.
	if reqTemp != nil {
		p.Temperature = reqTemp
	}
	if reqMax != nil {
		p.MaxOutputTokens = reqMax
	}
	if err := p.checkSampling(); err != nil {
		return p, err
	}

	if a.Thinking != "" && !provider.IsLevel(a.Thinking) {
		return p, &fieldError{"thinking", fmt.Sprintf("must be off, minimal, low, medium, high or max (it is %q)", a.Thinking)}
	}
	if a.ReasoningLevel != "" && !provider.IsLevel(a.ReasoningLevel) {
		return p, &fieldError{"reasoning", fmt.Sprintf("must be off, minimal, low, medium, high or max (it is %q)", a.ReasoningLevel)}
	}
	if r := a.Reasoning; r != nil && r.Effort != "" && !efforts[r.Effort] {
		return p, &fieldError{"reasoning.effort", fmt.Sprintf("must be none, minimal, low, medium, high or xhigh (it is %q)", r.Effort)}
	}
	level := a.level()
	fam := modelFamily(model)
	budget, budgetField := a.ThinkingBudget, "thinking_budget"
	if budget == nil && a.Reasoning != nil && a.Reasoning.MaxTokens != nil && fam != famGemini3 && level != "off" {
		budget, budgetField = a.Reasoning.MaxTokens, "reasoning.max_tokens"
	}
	if a.ThinkingLevel != "" && a.ThinkingLevel != "low" && a.ThinkingLevel != "high" {
		return p, &fieldError{"thinking_level", fmt.Sprintf("must be low or high (it is %q)", a.ThinkingLevel)}
	}
	if level == "off" && a.ThinkingLevel != "" {
		return p, &fieldError{"thinking_level", "is set but thinking is off; remove one of the two"}
	}
	if level == "off" && budget != nil && *budget != 0 {
		return p, &fieldError{budgetField, "is set but thinking is off; remove one of the two"}
	}
	// Thoughts are returned when reasoning is wanted: a level other than
	// off, or an explicit setting that thinks; reasoning.exclude hides them.
	want := (level != "" && level != "off") || (level == "" && (a.ThinkingLevel != "" || (budget != nil && *budget != 0)))
	if a.Reasoning != nil && a.Reasoning.Exclude != nil && *a.Reasoning.Exclude {
		want = false
	}

	switch fam {
	case famGemini3:
		if a.ThinkingBudget != nil {
			return p, &fieldError{"thinking_budget", fmt.Sprintf("is for Gemini 2.5 models; %s takes thinking_level (low or high) instead", model)}
		}
		p.ThinkingLevel = a.ThinkingLevel
		if p.ThinkingLevel == "" {
			p.ThinkingLevel = levelFor3[level]
		}
		if level == "off" {
			want = false
		}
	case famNone:
		if a.ThinkingLevel != "" {
			return p, &fieldError{"thinking_level", fmt.Sprintf("is for Gemini 3 models; %s does not think", model)}
		}
		if budget != nil || (level != "" && level != "off") {
			field := budgetField
			if budget == nil {
				field = "thinking"
			}
			return p, &fieldError{field, fmt.Sprintf("%s does not think; remove it or choose a Gemini 2.5 or 3 model", model)}
		}
		want = false
	default: // thinkingBudget models
		if a.ThinkingLevel != "" {
			return p, &fieldError{"thinking_level", fmt.Sprintf("is for Gemini 3 models; %s takes thinking_budget instead", model)}
		}
		if budget == nil && level != "" {
			b := 0
			if level != "off" {
				b = budgetFor[level]
			} else if fam == famPro25 {
				b = minProBudget
			}
			budget = &b
		}
		if budget != nil {
			if err := checkBudget(fam, model, budgetField, *budget); err != nil {
				return p, err
			}
			p.ThinkingBudget = budget
		}
		if budget != nil && *budget == 0 {
			want = false
		}
	}
	p.IncludeThoughts = want
	return p, nil
}

// checkBudget applies the thinkingBudget range of each 2.5 model
// ("Gemini thinking" documentation).
func checkBudget(fam family, model, field string, b int) error {
	if b == -1 {
		return nil // dynamic thinking
	}
	lo, hi := 0, 32768
	switch fam {
	case famPro25:
		if b == 0 {
			return &fieldError{field, fmt.Sprintf("%s cannot turn thinking off (thinking budget 0); use %d to 32768, or -1 for dynamic thinking", model, minProBudget)}
		}
		lo = minProBudget
	case famFlash25:
		hi = 24576
	case famFlashLite25:
		if b == 0 {
			return nil
		}
		lo, hi = 512, 24576
	}
	if b < lo || b > hi {
		return &fieldError{field, fmt.Sprintf("the thinking budget of %s must be -1 (dynamic) or %d to %d tokens (it is %d)", model, lo, hi, b)}
	}
	return nil
}

// checkSampling applies the generationConfig ranges.
func (p plan) checkSampling() error {
	if t := p.Temperature; t != nil && (*t < 0 || *t > 2) {
		return &fieldError{"temperature", fmt.Sprintf("must be between 0 and 2 for Gemini (it is %s)", num(*t))}
	}
	if v := p.TopP; v != nil && (*v < 0 || *v > 1) {
		return &fieldError{"top_p", fmt.Sprintf("must be between 0 and 1 (it is %s)", num(*v))}
	}
	if k := p.TopK; k != nil && *k < 1 {
		return &fieldError{"top_k", fmt.Sprintf("must be at least 1 (it is %d)", *k)}
	}
	if m := p.MaxOutputTokens; m != nil && *m < 1 {
		return &fieldError{"max_tokens", fmt.Sprintf("must be at least 1 (it is %d)", *m)}
	}
	if len(p.StopSequences) > 5 {
		return &fieldError{"stop_sequences", fmt.Sprintf("Gemini takes at most 5 (there are %d)", len(p.StopSequences))}
	}
	for _, s := range p.StopSequences {
		if s == "" {
			return &fieldError{"stop_sequences", "must not contain an empty string"}
		}
	}
	for i, s := range p.Safety {
		if !safetyCategories[s.Category] {
			return &fieldError{fmt.Sprintf("safety_settings[%d].category", i), fmt.Sprintf("%q is not a Gemini harm category (HARM_CATEGORY_HARASSMENT, HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_SEXUALLY_EXPLICIT, HARM_CATEGORY_DANGEROUS_CONTENT, HARM_CATEGORY_CIVIC_INTEGRITY)", s.Category)}
		}
		if !safetyThresholds[s.Threshold] {
			return &fieldError{fmt.Sprintf("safety_settings[%d].threshold", i), fmt.Sprintf("%q is not a Gemini threshold (BLOCK_LOW_AND_ABOVE, BLOCK_MEDIUM_AND_ABOVE, BLOCK_ONLY_HIGH, BLOCK_NONE, OFF)", s.Threshold)}
		}
	}
	return nil
}
