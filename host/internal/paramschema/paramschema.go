// Package paramschema compiles a plugin's parameters_schema (the JSON
// Schema its describe returns) safely. The schema comes from untrusted
// plugin code, so compiling it must never make the host read a file or
// reach the network: a $ref or $schema naming file:///etc/passwd would
// otherwise be opened by the host (and a FIFO would block it forever).
// Every place that compiles a plugin's schema goes through Compile.
package paramschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// resourceURL is where the schema lives for the compiler. It is not a file
// and nothing is ever loaded from it; "#..." refs resolve inside it.
const resourceURL = "tzurot-plugin:///parameters.json"

// knownDrafts are the $schema values allowed: the standard meta-schemas,
// which the compiler carries built in, so naming one loads nothing.
var knownDrafts = map[string]bool{
	"json-schema.org/draft/2020-12/schema": true,
	"json-schema.org/draft/2019-09/schema": true,
	"json-schema.org/draft-07/schema":      true,
	"json-schema.org/draft-06/schema":      true,
	"json-schema.org/draft-04/schema":      true,
	"json-schema.org/schema":               true,
}

// refKeywords hold references that the compiler follows.
var refKeywords = []string{"$ref", "$dynamicRef", "$recursiveRef"}

// dataKeywords hold instance data, not schemas: a "$ref" inside them is
// just a value.
var dataKeywords = map[string]bool{"const": true, "enum": true, "default": true, "examples": true}

// nameMaps hold name -> subschema maps: their keys are names chosen by the
// author (a property may be called "$ref" or "const"), not keywords.
var nameMaps = map[string]bool{
	"properties": true, "patternProperties": true, "$defs": true, "definitions": true,
	"dependentSchemas": true, "dependencies": true,
}

// Compile parses raw and compiles it as a self-contained JSON Schema
// (draft 2020-12 unless $schema names another standard draft). It refuses,
// with the location and a reason a plugin author understands, any $ref
// that does not start with "#" and any $schema that is not a standard
// draft; and the compiler it uses has a loader that refuses every URL, so
// nothing this walk misses can load anything either.
func Compile(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("it is not JSON: %w", err)
	}
	if err := checkSelfContained(doc, ""); err != nil {
		return nil, err
	}
	return compile(doc)
}

// compile compiles a parsed schema with a loader that refuses every URL.
func compile(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(resourceURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(resourceURL)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// errNoLoading is what the compiler gets for any URL it tries to load.
var errNoLoading = errors.New("a plugin's parameters_schema must be self-contained: the host loads no file and no URL for it")

// noLoader refuses every URL (the compiler's default loader opens files).
type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errNoLoading }

// checkSelfContained walks a schema value. at is a JSON pointer for the
// error message.
func checkSelfContained(v any, at string) error {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			if err := checkSelfContained(e, fmt.Sprintf("%s/%d", at, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		// Sorted, so the same schema always gets the same message.
		for _, k := range slices.Sorted(maps.Keys(v)) {
			e := v[k]
			here := at + "/" + escape(k)
			switch {
			case dataKeywords[k]:
				continue
			case nameMaps[k]:
				if m, ok := e.(map[string]any); ok {
					for _, name := range slices.Sorted(maps.Keys(m)) {
						if err := checkSelfContained(m[name], here+"/"+escape(name)); err != nil {
							return err
						}
					}
					continue
				}
			case k == "$schema":
				if s, ok := e.(string); ok && !knownDrafts[draftKey(s)] {
					return fmt.Errorf("%s is %q: only a standard draft (such as https://json-schema.org/draft/2020-12/schema) may be named; the host loads no other meta-schema", here, s)
				}
				continue
			case isRefKeyword(k):
				if s, ok := e.(string); ok && !strings.HasPrefix(s, "#") {
					return fmt.Errorf("%s is %q: a reference must point inside the schema itself (start with \"#\", e.g. \"#/$defs/model\"); the host loads no file and no URL", here, s)
				}
				continue
			}
			if err := checkSelfContained(e, here); err != nil {
				return err
			}
		}
	}
	return nil
}

func isRefKeyword(k string) bool { return slices.Contains(refKeywords, k) }

// draftKey reduces a $schema URL to the form knownDrafts holds.
func draftKey(s string) string {
	s = strings.TrimSuffix(s, "#")
	if rest, ok := strings.CutPrefix(s, "https://"); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(s, "http://"); ok {
		return rest
	}
	return "" // not http(s): never a known draft
}

// escape writes a key as a JSON pointer token.
func escape(k string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}
