package paramschema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// ruleParams has the shape of a provider plugin's parameters_schema: plain
// ranges, and an if/then rule with its own words.
const ruleParams = `{
  "type": "object", "additionalProperties": false,
  "properties": {
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "top_k": {"type": "integer", "minimum": 1},
    "thinking": {"enum": ["off", "low", "high"]}
  },
  "allOf": [{
    "if": {"required": ["thinking"], "properties": {"thinking": {"enum": ["low", "high"]}}},
    "then": {
      "properties": {"temperature": {"const": 1, "x-message": "Claude's extended thinking needs temperature 1 or unset"}},
      "not": {"required": ["top_k"], "x-field": "top_k", "x-message": "cannot be used while thinking is on"}
    }
  }]
}`

// ruleConstraints states a rule that depends on the model.
const ruleConstraints = `{
  "allOf": [{
    "if": {"properties": {"model": {"pattern": "^(o[0-9]|gpt-5)"}}},
    "then": {"properties": {"parameters": {"not": {"required": ["temperature"]},
      "x-field": "temperature", "x-message": "OpenAI's reasoning models (o-series, gpt-5) take no temperature; remove it"}}}
  }]
}`

func mustRules(t *testing.T) *Rules {
	t.Helper()
	r, err := CompileRules(json.RawMessage(ruleParams), json.RawMessage(ruleConstraints))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkSays(t *testing.T, r *Rules, model, params string, want ...string) {
	t.Helper()
	err := r.Check(model, json.RawMessage(params))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("%s %s: err = %v, want a refusal", model, params, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s %s: %q does not say %q", model, params, err.Error(), w)
		}
	}
}

func TestRulesNameTheFieldInTheirOwnWords(t *testing.T) {
	r := mustRules(t)
	checkSays(t, r, "claude-sonnet-4-5", `{"thinking": "high", "temperature": 0.7}`,
		"temperature: Claude's extended thinking needs temperature 1 or unset (it is 0.7)")
	checkSays(t, r, "claude-sonnet-4-5", `{"thinking": "low", "top_k": 40}`,
		"top_k: cannot be used while thinking is on (it is 40)")
	// Both broken rules are listed, each once.
	err := r.Check("m", json.RawMessage(`{"thinking": "low", "top_k": 40, "temperature": 0.2}`))
	var ie *InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
	for _, ok := range []string{`{"thinking": "high", "temperature": 1}`, `{"thinking": "high"}`, `{"thinking": "off", "temperature": 0.7, "top_k": 3}`, `{}`, ``, `null`} {
		if err := r.Check("claude-sonnet-4-5", json.RawMessage(ok)); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func TestRulesThatDependOnTheModel(t *testing.T) {
	r := mustRules(t)
	for _, m := range []string{"o3-mini", "gpt-5", "gpt-5-mini"} {
		checkSays(t, r, m, `{"temperature": 0.7}`, "temperature: OpenAI's reasoning models (o-series, gpt-5) take no temperature; remove it (it is 0.7)")
	}
	if err := r.Check("gpt-4o", json.RawMessage(`{"temperature": 0.7}`)); err != nil {
		t.Errorf("gpt-4o with a temperature refused: %v", err)
	}
}

func TestRulesPlainFailuresInWords(t *testing.T) {
	r := mustRules(t)
	checkSays(t, r, "m", `{"temperature": 3}`, "temperature: must be at most 1, but it is 3")
	checkSays(t, r, "m", `{"temperature": "hot"}`, "temperature: must be number, not string")
	checkSays(t, r, "m", `{"thinking": "extreme"}`, `thinking: must be one of "off", "low", "high", not "extreme"`)
	checkSays(t, r, "m", `{"temprature": 1}`, "`temprature` is not a parameter this provider takes")
	if err := r.Check("m", json.RawMessage(`[1]`)); err == nil || !strings.Contains(err.Error(), "JSON object") {
		t.Errorf("an array: err = %v", err)
	}
	// A wrong type is reported alone: the model rules would only add noise.
	err := r.Check("gpt-5", json.RawMessage(`{"temperature": "hot"}`))
	var ie *InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) != 1 {
		t.Errorf("err = %v, want one problem", err)
	}
}

func TestCompileRulesNamesTheBadSchema(t *testing.T) {
	for _, tc := range []struct{ params, constraints, want string }{
		{`{"type": 12}`, ``, "its parameters_schema is not a valid JSON Schema"},
		{`{"type":`, ``, "its parameters_schema is not a valid JSON Schema: it is not JSON"},
		{`{}`, `{"minimum": "one"}`, "its constraints_schema is not a valid JSON Schema"},
		{``, `{"$ref": "https://example.com/x.json"}`, "the host loads no file and no URL"},
	} {
		_, err := CompileRules(json.RawMessage(tc.params), json.RawMessage(tc.constraints))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s / %s: err = %v, want %q", tc.params, tc.constraints, err, tc.want)
		}
	}
	if r, err := CompileRules(nil, nil); r != nil || err != nil {
		t.Errorf("no schemas = %v, %v; want nil rules that accept everything", r, err)
	}
	var none *Rules
	if err := none.Check("m", json.RawMessage(`{"anything": 1}`)); err != nil {
		t.Errorf("nil rules refused: %v", err)
	}
}

// BenchmarkRulesCheck is the check the pipeline makes before every call
// (and /personality llm on save): a personality's parameters against a
// plugin's parameters_schema and constraints_schema, compiled at load.
func BenchmarkRulesCheck(b *testing.B) {
	r, err := CompileRules(json.RawMessage(ruleParams), json.RawMessage(ruleConstraints))
	if err != nil {
		b.Fatal(err)
	}
	params := json.RawMessage(`{"thinking": "high", "temperature": 1}`)
	for b.Loop() {
		if err := r.Check("claude-sonnet-4-5", params); err != nil {
			b.Fatal(err)
		}
	}
}
