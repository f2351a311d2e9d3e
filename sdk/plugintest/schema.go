package plugintest

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ParamsSchema compiles a plugin's parameters_schema (describe's
// parameters_schema) for a test and returns a function that checks one
// advanced_parameters document against it: nil when the host would
// accept the document, the validation error otherwise. It fails the test
// when the schema is not JSON or does not compile.
//
// Like the host, it never loads anything a schema names: a reference
// outside the schema itself fails the compile here, as it refuses the
// plugin at load (docs/plugin-abi.md §5.2).
func ParamsSchema(tb testing.TB, schema []byte) func(params string) error {
	tb.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		tb.Fatalf("parameters_schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	const url = "tzurot-plugin:///parameters.json"
	if err := c.AddResource(url, doc); err != nil {
		tb.Fatalf("parameters_schema: %v", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		tb.Fatalf("parameters_schema does not compile: %v", err)
	}
	return func(params string) error {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(params))
		if err != nil {
			return err
		}
		return s.Validate(v)
	}
}

// noLoader refuses every URL: the compiler's default loader opens files.
type noLoader struct{}

func (noLoader) Load(string) (any, error) {
	return nil, errors.New("parameters_schema may refer only to itself (#…)")
}

// RandomParams is one random advanced_parameters object for checking a
// plugin against its schema: each key of opts with a one-in-three chance,
// with one of its JSON values. Keys go in sorted order, so a seeded r gives
// the same objects every run and a failure can be replayed.
func RandomParams(r *rand.Rand, opts map[string][]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if r.IntN(3) == 0 {
			vs := opts[k]
			parts = append(parts, `"`+k+`":`+vs[r.IntN(len(vs))])
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}
