package paramschema

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCompileAcceptsSelfContainedSchemas(t *testing.T) {
	for _, raw := range []string{
		`{"type":"object","properties":{"temperature":{"type":"number","maximum":2}}}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`,
		`{"$defs":{"t":{"type":"number"}},"properties":{"temperature":{"$ref":"#/$defs/t"}}}`,
		// A property may be called "$ref" or "$schema"; data may hold any string.
		`{"properties":{"$ref":{"type":"string"},"$schema":{"const":"file:///etc/passwd"}}}`,
		`{"properties":{"x":{"default":{"$ref":"file:///etc/passwd"},"enum":[{"$ref":"http://x"}]}}}`,
		// An $id does not make "#" refs load anything: they stay in the document.
		`{"$id":"file:///etc/passwd","$defs":{"a":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`,
	} {
		if _, err := Compile(json.RawMessage(raw)); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestCompileValidates(t *testing.T) {
	s, err := Compile(json.RawMessage(`{"$defs":{"t":{"type":"number","maximum":2}},"properties":{"temperature":{"$ref":"#/$defs/t"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(map[string]any{"temperature": json.Number("3")}); err == nil {
		t.Error("temperature 3 passed a maximum of 2")
	}
}

// TestCompileLoadsNothing is the guarantee: whatever a schema names, the
// host opens no file and makes no request, and says why it refused.
func TestCompileLoadsNothing(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string","description":"HOST-SECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"type":"string"}`)
	}))
	defer srv.Close()
	fileURL := "file://" + secret
	for _, raw := range []string{
		`{"$ref":"` + fileURL + `"}`,
		`{"properties":{"x":{"$ref":"` + fileURL + `"}}}`,
		`{"$schema":"` + fileURL + `"}`,
		`{"$id":"file://` + dir + `/","properties":{"x":{"$ref":"secret.json"}}}`,
		`{"$defs":{"a":{"$dynamicRef":"` + fileURL + `"}}}`,
		`{"items":[{"$ref":"` + srv.URL + `/schema.json"}]}`,
		`{"$schema":"` + srv.URL + `/meta.json"}`,
	} {
		_, err := Compile(json.RawMessage(raw))
		if err == nil {
			t.Errorf("%s compiled", raw)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "the host loads no") || strings.Contains(msg, "HOST-SECRET") {
			t.Errorf("%s: error %q does not say the host loads nothing (or leaks the file)", raw, msg)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the schema compiler made %d HTTP requests", hits.Load())
	}
}

// TestCompilerLoaderRefusesEverything checks the second line of defence on
// its own: even a reference the walk let through loads nothing.
func TestCompilerLoaderRefusesEverything(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := compile(map[string]any{"$ref": "file://" + secret})
	if err == nil || !strings.Contains(err.Error(), "self-contained") {
		t.Fatalf("compile without the walk = %v, want the loader's refusal", err)
	}
}

func TestCompileRefusesNonJSON(t *testing.T) {
	if _, err := Compile(json.RawMessage(`{"type":`)); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("err = %v", err)
	}
}
