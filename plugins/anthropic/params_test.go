//go:build !wasip1

package main

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
	"github.com/tzurot-go/tzurot/sdk/provider"
)

// The schema states the thinking rules, so the host refuses a bad
// combination when a personality is saved, not only at reply time.
func TestSchemaStatesThinkingRules(t *testing.T) {
	valid := plugintest.ParamsSchema(t, []byte(parametersSchema))
	for params, ok := range map[string]bool{
		`{"thinking":"high","temperature":0.7}`:                       false,
		`{"thinking":"high","temperature":1}`:                         true,
		`{"reasoning":"low","top_k":3}`:                               false,
		`{"reasoning":"low","top_p":0.5}`:                             false,
		`{"reasoning":"low","top_p":0.96}`:                            true,
		`{"thinking_budget":2000,"temperature":0.2}`:                  false,
		`{"thinking":"off","thinking_budget":2000}`:                   false,
		`{"thinking":"off","temperature":0.7,"top_k":5}`:              true,
		`{"thinking":"off","reasoning":"high","temperature":0.7}`:     true, // thinking wins: off
		`{"temperature":0.7,"top_k":5,"max_tokens":100}`:              true,
		`{"thinking":"high","max_tokens":10000}`:                      false,
		`{"thinking":"high","max_tokens":16385}`:                      true,
		`{"reasoning":"medium","max_tokens":8192}`:                    false,
		`{"reasoning":{"effort":"high"},"max_tokens":500}`:            true, // left to the plugin
		`{"thinking":"low","thinking_budget":5000,"max_tokens":6000}`: true,
	} {
		if err := valid(params); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", params, err == nil, ok, err)
		}
	}
}

// Whatever the schema refuses, the plugin refuses too: a schema stricter
// than the plugin would block settings that work.
func TestSchemaNeverStricterThanThePlugin(t *testing.T) {
	valid := plugintest.ParamsSchema(t, []byte(parametersSchema))
	r := rand.New(rand.NewPCG(5, 6))
	opts := map[string][]string{
		"temperature":     {`0`, `0.7`, `1`},
		"top_p":           {`0.5`, `0.95`, `1`},
		"top_k":           {`1`, `40`},
		"max_tokens":      {`1`, `1000`, `2049`, `5000`, `8193`, `16385`, `30000`},
		"thinking":        {`"off"`, `"minimal"`, `"low"`, `"medium"`, `"high"`, `"max"`},
		"thinking_budget": {`1024`, `4000`, `20000`},
		"reasoning":       {`"off"`, `"low"`, `"high"`, `{"effort":"none"}`, `{"effort":"medium"}`, `{"enabled":true}`},
	}
	for range 3000 {
		params := plugintest.RandomParams(r, opts)
		if valid(params) == nil {
			continue
		}
		a, err := parseAdvanced(json.RawMessage(params))
		if err == nil {
			_, err = makePlan(defaultMaxTokens, nil, nil, a)
		}
		if err == nil {
			t.Fatalf("%s: the schema refuses it but the plugin would send it", params)
		}
	}
}

// The level a personality's parameters ask for: thinking, then reasoning's
// string form, then its object, where a bare budget means medium here.
func TestLevel(t *testing.T) {
	yes, no, n := true, false, 2000
	for _, c := range []struct {
		a    advanced
		want string
	}{
		{advanced{}, ""},
		{advanced{Thinking: "low", ReasoningLevel: "high"}, "low"},
		{advanced{ReasoningLevel: "high", Reasoning: &provider.Reasoning{Effort: "low"}}, "high"},
		{advanced{Reasoning: &provider.Reasoning{Effort: "xhigh"}}, "max"},
		{advanced{Reasoning: &provider.Reasoning{MaxTokens: &n}}, "medium"},
		{advanced{Reasoning: &provider.Reasoning{Enabled: &yes}}, "medium"},
		{advanced{Reasoning: &provider.Reasoning{Enabled: &no, MaxTokens: &n}}, "off"},
	} {
		if got := c.a.level(); got != c.want {
			t.Errorf("%+v: level %q, want %q", c.a, got, c.want)
		}
	}
}
