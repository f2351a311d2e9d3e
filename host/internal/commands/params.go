package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
)

// schemaCache keeps each plugin's compiled parameters_schema, keyed by the
// plugin entry and the hash of its .wasm, so a reload with a new build
// recompiles and an unchanged plugin never does.
type schemaCache struct {
	mu sync.Mutex
	m  map[string]*jsonschema.Schema
}

func (sc *schemaCache) get(st plugin.PluginStatus) (*jsonschema.Schema, error) {
	if st.Description == nil || len(bytes.TrimSpace(st.Description.ParametersSchema)) == 0 {
		return nil, nil
	}
	s, err := sc.getRaw(st.Name+"@"+st.SHA256, st.Description.ParametersSchema)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: parameters_schema does not compile: %w", st.Name, err)
	}
	return s, nil
}

// getRaw compiles raw once per key (plugin entry and build hash).
func (sc *schemaCache) getRaw(key string, raw []byte) (*jsonschema.Schema, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s, ok := sc.m[key]; ok {
		return s, nil
	}
	// The one safe compiler: a plugin's schema never makes the host load a
	// file or URL (the loader refused such schemas already; this is defence
	// in depth for a status built some other way).
	s, err := paramschema.Compile(raw)
	if err != nil {
		return nil, err
	}
	if sc.m == nil {
		sc.m = map[string]*jsonschema.Schema{}
	}
	sc.m[key] = s
	return s, nil
}

// checkParameters parses the advanced parameters a user typed and checks
// them against the plugin's declared parameters_schema. The error names
// each field that is wrong and why, in words.
func (c *Commands) checkParameters(st plugin.PluginStatus, raw string) (json.RawMessage, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return json.RawMessage(`{}`), nil
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
	schema, err := c.schemas.get(st)
	if err != nil {
		return nil, err
	}
	if schema != nil {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
		if err != nil {
			return nil, sayf("The parameters are not valid JSON (%s). Nothing was changed.", err.Error())
		}
		if err := schema.Validate(inst); err != nil {
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				return nil, fmt.Errorf("validate parameters: %w", err)
			}
			return nil, sayf("The **%s** provider does not accept these parameters:\n%s\nNothing was changed.", st.Name, strings.Join(schemaProblems(ve), "\n"))
		}
	}
	canon, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode parameters: %w", err)
	}
	return canon, nil
}

// schemaProblems lists the leaf failures of a validation, one line each:
// "- `temperature`: must be <= 2 but found 7".
func schemaProblems(ve *jsonschema.ValidationError) []string {
	p := message.NewPrinter(language.English)
	var lines []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		line := "- " + problemWords(e.ErrorKind, p)
		if field := strings.Join(e.InstanceLocation, "."); field != "" {
			line = fmt.Sprintf("- `%s`: %s", field, problemWords(e.ErrorKind, p))
		}
		if !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	walk(ve)
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("- … and %d more", len(lines)-10))
	}
	return lines
}

// problemWords says what is wrong in plain words for the failures people
// make by hand; anything rarer gets the library's own wording.
func problemWords(k jsonschema.ErrorKind, p *message.Printer) string {
	num := func(r *big.Rat) string { return r.FloatString(2) }
	switch k := k.(type) {
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s, but it is %s", trimZeros(num(k.Want)), trimZeros(num(k.Got)))
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s, but it is %s", trimZeros(num(k.Want)), trimZeros(num(k.Got)))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s, but it is %s", trimZeros(num(k.Want)), trimZeros(num(k.Got)))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be more than %s, but it is %s", trimZeros(num(k.Want)), trimZeros(num(k.Got)))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			b, _ := json.Marshal(w)
			want[i] = string(b)
		}
		got, _ := json.Marshal(k.Got)
		return fmt.Sprintf("must be one of %s, not %s", strings.Join(want, ", "), got)
	case *kind.Const:
		want, _ := json.Marshal(k.Want)
		return fmt.Sprintf("can only be %s", want)
	case *kind.AdditionalProperties:
		return fmt.Sprintf("%s is not a parameter this provider takes (check the spelling)", quoteList(k.Properties))
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Required:
		return fmt.Sprintf("needs %s", quoteList(k.Missing))
	}
	return k.LocalizedString(p)
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}
