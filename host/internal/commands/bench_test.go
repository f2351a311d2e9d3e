package commands

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// BenchmarkZoneAutocomplete is one keystroke in /timezone set: Discord
// gives autocomplete 3 seconds, and it runs for every character typed.
func BenchmarkZoneAutocomplete(b *testing.B) {
	idx := newZoneIndex()
	for b.Loop() {
		if got := idx.match("new y", 25); len(got) == 0 || got[0] != "America/New_York" {
			b.Fatalf("match = %v", got)
		}
	}
}

// benchSchema has the shape of plugins/openai's parameters_schema (bounded
// numbers, enums, a nested object, no additional properties).
const benchSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object", "additionalProperties": false,
  "properties": {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "thinking": {"enum": ["off", "minimal", "low", "medium", "high", "max"]},
    "max_tokens": {"type": "integer", "minimum": 1},
    "reasoning": {"type": "object", "additionalProperties": false,
      "properties": {"effort": {"enum": ["none", "minimal", "low", "medium", "high", "xhigh"]}, "exclude": {"type": "boolean"}}}
  }
}`

// BenchmarkCheckParameters is /personality llm's validation of advanced
// parameters against a plugin's schema (compiled once, when the plugin loads).
func BenchmarkCheckParameters(b *testing.B) {
	c := &Commands{}
	rules, err := paramschema.CompileRules(json.RawMessage(benchSchema), nil)
	if err != nil {
		b.Fatal(err)
	}
	st := plugin.PluginStatus{Name: "openai", SHA256: "x", Rules: rules}
	if _, err := c.checkParameters(st, "gpt-4o", `{"temperature": 7}`); err == nil {
		b.Fatal("temperature 7 accepted")
	}
	for b.Loop() {
		if _, err := c.checkParameters(st, "gpt-4o", `{"temperature": 0.8, "thinking": "high", "reasoning": {"exclude": true}}`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUsageChart draws /usage's 30-day PNG.
func BenchmarkUsageChart(b *testing.B) {
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	var daily []store.DailyUsage
	for i := range 30 {
		daily = append(daily, store.DailyUsage{Day: time.Date(2026, 3, 14-i, 0, 0, 0, 0, time.UTC), Provider: "openai",
			Requests: int64(i), InputTokens: int64(1000 * i), OutputTokens: int64(300 * i)})
	}
	for b.Loop() {
		png, err := dailyChart(daily, now, 30, "Your tokens per day (UTC)")
		if err != nil || len(png) < 1000 {
			b.Fatalf("chart: %d bytes, %v", len(png), err)
		}
	}
}

// BenchmarkModelAutocomplete is one keystroke in /personality llm's model
// option over a cached list the size of OpenRouter's (400 models with
// names): the filtering and ordering, without the Discord round trip.
func BenchmarkModelAutocomplete(b *testing.B) {
	models := make([]abi.Model, 0, 400)
	for i := range 400 {
		vendor := []string{"openai", "anthropic", "google", "meta-llama", "mistralai"}[i%5]
		models = append(models, abi.Model{ID: fmt.Sprintf("%s/model-%03d", vendor, i), Name: fmt.Sprintf("%s: Model %d", vendor, i)})
	}
	models = append(models, abi.Model{ID: "openai/gpt-4o", Name: "OpenAI: GPT-4o"}, abi.Model{ID: "openai/gpt-4o-mini", Name: "OpenAI: GPT-4o-mini"})
	for b.Loop() {
		if _, values := matchModels(models, "gpt-4o"); len(values) != 2 || values[0] != "openai/gpt-4o" {
			b.Fatalf("match = %v", values)
		}
	}
}
