package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
)

// checkParameters parses the advanced parameters a user typed for model and
// checks them against the plugin's rules (its parameters_schema and
// constraints_schema, compiled when it was loaded). The error names each
// field that is wrong and why, in words.
func (c *Commands) checkParameters(st plugin.PluginStatus, model, raw string) (json.RawMessage, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = `{}`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return nil, sayf("The parameters must be a JSON object such as `{\"temperature\": 0.8}`. Nothing was changed.")
		case errors.As(err, &se):
			return nil, sayf("The parameters are not valid JSON (%s, at character %d). Write them like `{\"temperature\": 0.8}`. Nothing was changed.", se.Error(), se.Offset)
		}
		return nil, sayf("The parameters are not valid JSON (%s). Write them like `{\"temperature\": 0.8}`. Nothing was changed.", err.Error())
	}
	if dec.More() {
		return nil, sayf("The parameters must be one JSON object; there is more after it. Nothing was changed.")
	}
	if obj == nil {
		return nil, sayf("The parameters must be a JSON object such as `{\"temperature\": 0.8}`. Nothing was changed.")
	}
	if err := st.Rules.Check(model, json.RawMessage(raw)); err != nil {
		var ie *paramschema.InvalidError
		if !errors.As(err, &ie) {
			return nil, sayf("The parameters are not valid (%s). Nothing was changed.", err.Error())
		}
		return nil, sayf("The **%s** provider does not accept these parameters with **%s**:\n%s\nNothing was changed.",
			st.Name, truncate(model, 200), strings.Join(problemLines(ie.Problems), "\n"))
	}
	canon, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode parameters: %w", err)
	}
	return canon, nil
}

// problemLines lists problems one a line: "- `temperature`: must be at most
// 2, but it is 7".
func problemLines(probs []paramschema.Problem) []string {
	lines := make([]string, len(probs))
	for i, p := range probs {
		if p.Field == "" {
			lines[i] = "- " + p.Message
			continue
		}
		lines[i] = fmt.Sprintf("- `%s`: %s", p.Field, p.Message)
	}
	return lines
}
