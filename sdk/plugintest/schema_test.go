package plugintest_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

func TestParamsSchema(t *testing.T) {
	valid := plugintest.ParamsSchema(t, []byte(`{
		"type": "object",
		"additionalProperties": false,
		"properties": {"temperature": {"$ref": "#/$defs/unit"}},
		"$defs": {"unit": {"type": "number", "minimum": 0, "maximum": 1}}
	}`))
	for params, ok := range map[string]bool{
		`{}`:                   true,
		`{"temperature":0.5}`:  true,
		`{"temperature":1.5}`:  false,
		`{"temprature":0.5}`:   false,
		`{"temperature":"hi"}`: false,
		`not json`:             false,
	} {
		if err := valid(params); (err == nil) != ok {
			t.Errorf("%s: valid=%v, want %v (%v)", params, err == nil, ok, err)
		}
	}
}

// A schema that names anything outside itself is refused, never loaded.
func TestParamsSchemaLoadsNothing(t *testing.T) {
	other := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(other, []byte(`{"type":"object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		plugintest.ParamsSchema(ft, []byte(`{"$ref":"file://`+filepath.ToSlash(other)+`"}`))
	}()
	if !ft.failed {
		t.Fatal("a schema referring to a file compiled")
	}
}

// fakeTB records Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

func (f *fakeTB) Fatal(...any) {
	f.failed = true
	panic("fatal")
}

func TestRandomParams(t *testing.T) {
	opts := map[string][]string{"b": {`1`, `2`}, "a": {`"x"`}, "c": {`[]`}}
	seen := map[string]bool{}
	for range 200 {
		p := plugintest.RandomParams(rand.New(rand.NewPCG(1, 2)), opts)
		seen[p] = true
		var m map[string]any
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			t.Fatalf("%s is not a JSON object: %v", p, err)
		}
	}
	if len(seen) != 1 {
		t.Fatalf("the same seed gave %d different objects: %v", len(seen), seen)
	}
	r := rand.New(rand.NewPCG(3, 4))
	keys := map[string]bool{}
	for range 200 {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(plugintest.RandomParams(r, opts)), &m)
		for k := range m {
			keys[k] = true
		}
	}
	if len(keys) != 3 {
		t.Fatalf("200 objects used keys %v, want all of a, b, c", keys)
	}
}
