package provider

import (
	"fmt"

	"github.com/tzurot-go/tzurot/sdk/abijson"
)

// levels are tzurot's portable thinking levels, the values of a
// personality's advanced_parameters.thinking (docs/providers.md). Every
// provider maps them onto its own knobs.
var levels = map[string]bool{"off": true, "minimal": true, "low": true, "medium": true, "high": true, "max": true}

// IsLevel reports whether s is one of tzurot's thinking levels: off,
// minimal, low, medium, high or max.
func IsLevel(s string) bool { return levels[s] }

// Reasoning is the object form of advanced_parameters.reasoning
// (OpenRouter's shape, which imported personalities carry).
type Reasoning struct {
	Effort    string `json:"effort"`
	MaxTokens *int   `json:"max_tokens"`
	Exclude   *bool  `json:"exclude"`
	Enabled   *bool  `json:"enabled"`
}

// reasoningFields are Reasoning's JSON names, for Decoder.Unknown.
var reasoningFields = []string{"effort", "max_tokens", "exclude", "enabled"}

// Read reads the object that comes next in d into r, as json.Unmarshal
// fills a zero Reasoning. As with every abijson read, the document goes to
// encoding/json when d.End reports abijson.ErrFallback.
func (r *Reasoning) Read(d *abijson.Decoder) {
	var seen uint64
	for key := range d.Object() {
		switch key {
		case "effort":
			d.Once(&seen, 0)
			r.Effort = d.String()
		case "max_tokens":
			d.Once(&seen, 1)
			r.MaxTokens = d.OptInt()
		case "exclude":
			d.Once(&seen, 2)
			r.Exclude = d.OptBool()
		case "enabled":
			d.Once(&seen, 3)
			r.Enabled = d.OptBool()
		default:
			d.Unknown(key, reasoningFields...)
		}
	}
}

// Level is the thinking level r asks for, "" when it asks for none (or r
// is nil): enabled:false or effort "none" is off, effort "xhigh" is max,
// effort minimal … high is itself; otherwise a max_tokens budget gives
// budgetLevel (providers disagree on how much thinking a bare budget
// means) and enabled:true gives medium.
func (r *Reasoning) Level(budgetLevel string) string {
	if r == nil {
		return ""
	}
	if r.Enabled != nil && !*r.Enabled {
		return "off"
	}
	switch r.Effort {
	case "none":
		return "off"
	case "xhigh":
		return "max"
	case "minimal", "low", "medium", "high":
		return r.Effort
	}
	if r.MaxTokens != nil {
		return budgetLevel
	}
	if r.Enabled != nil && *r.Enabled {
		return "medium"
	}
	return ""
}

// AskedLevel is the thinking level a personality asks for, in the order
// every provider plugin reads it: thinking wins when it is a level, then
// reasoning's string form (reasoningLevel, "" where a provider has none),
// then its object form r (r.Level(budgetLevel)). "" means not asked: each
// provider's own default.
func AskedLevel(thinking, reasoningLevel string, r *Reasoning, budgetLevel string) string {
	if IsLevel(thinking) {
		return thinking
	}
	if IsLevel(reasoningLevel) {
		return reasoningLevel
	}
	return r.Level(budgetLevel)
}

// ParseAdvanced reads a personality's advanced_parameters (sent with every
// call) with decode, the plugin's own reader: absent or null is the zero T
// (nothing asked), and decode's error comes back prefixed with
// "advanced_parameters: ", so the user sees where the problem is.
func ParseAdvanced[T any](raw []byte, decode func([]byte) (T, error)) (T, error) {
	var zero T
	if len(raw) == 0 || string(raw) == "null" {
		return zero, nil
	}
	a, err := decode(raw)
	if err != nil {
		return zero, fmt.Errorf("advanced_parameters: %w", err)
	}
	return a, nil
}
