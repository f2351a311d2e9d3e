//go:build !wasip1

package main

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

// The models makePlan is checked against: one of each family.
var planModels = []string{"gemini-3-pro-preview", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-exp-1206"}

// Whatever the schema refuses, the plugin refuses too, for every model: a
// schema stricter than the plugin would block settings that work.
func TestSchemaNeverStricterThanThePlugin(t *testing.T) {
	valid := plugintest.ParamsSchema(t, []byte(parametersSchema))
	r := rand.New(rand.NewPCG(7, 8))
	opts := map[string][]string{
		"temperature":     {`0`, `0.7`, `2`, `2.1`, `-1`},
		"top_p":           {`0.5`, `1`, `1.5`},
		"top_k":           {`0`, `1`, `40`},
		"max_tokens":      {`0`, `1`, `1000`},
		"stop_sequences":  {`["a"]`, `[""]`, `["a","b","c","d","e","f"]`},
		"thinking":        {`"off"`, `"minimal"`, `"low"`, `"medium"`, `"high"`, `"max"`, `"huge"`},
		"thinking_level":  {`"low"`, `"high"`, `"medium"`},
		"thinking_budget": {`-2`, `-1`, `0`, `128`, `512`, `24576`, `32768`, `40000`},
		"reasoning":       {`"off"`, `"low"`, `"high"`, `"huge"`, `{"effort":"none"}`, `{"effort":"medium"}`, `{"effort":"big"}`, `{"max_tokens":1024}`, `{"exclude":true}`},
		"safety_settings": {`[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}]`, `[{"category":"HARM_CATEGORY_X","threshold":"OFF"}]`, `[{"category":"HARM_CATEGORY_HARASSMENT"}]`},
	}
	refused := 0
	for range 3000 {
		params := plugintest.RandomParams(r, opts)
		if valid(params) == nil {
			continue
		}
		refused++
		for _, model := range planModels {
			a, err := parseAdvanced(json.RawMessage(params))
			if err == nil {
				_, err = makePlan(model, nil, nil, a)
			}
			if err == nil {
				t.Fatalf("%s on %s: the schema refuses it but the plugin would send it", params, model)
			}
		}
	}
	if refused == 0 {
		t.Fatal("the generator never produced a refused document")
	}
}

// Wrong types and out-of-range values are refused naming the field, for
// the request's own fields too.
func TestPlanRefusals(t *testing.T) {
	two, neg := 2.5, 0
	for _, c := range []struct {
		model, params string
		temp          *float64
		max           *int
		field         string
	}{
		{"gemini-2.5-flash", `{"top_k":"many"}`, nil, nil, "top_k"},
		{"gemini-2.5-flash", `{"thinking_budget":1.5}`, nil, nil, "thinking_budget"},
		{"gemini-2.5-flash", `{"safety_settings":{"category":"HARM_CATEGORY_HARASSMENT"}}`, nil, nil, "safety_settings"},
		{"gemini-2.5-flash", `{"reasoning":3}`, nil, nil, "reasoning"},
		{"gemini-2.5-flash", `{"thinking":"huge"}`, nil, nil, "thinking"},
		{"gemini-2.5-flash", `{"reasoning":{"effort":"big"}}`, nil, nil, "reasoning.effort"},
		{"gemini-2.5-flash", `{}`, &two, nil, "temperature"},
		{"gemini-2.5-flash", `{}`, nil, &neg, "max_tokens"},
		{"gemini-3-pro-preview", `{"thinking_level":"medium"}`, nil, nil, "thinking_level"},
		{"gemini-3-pro-preview", `{"thinking":"off","thinking_level":"high"}`, nil, nil, "thinking_level"},
		{"gemini-2.5-flash-lite", `{"reasoning":{"max_tokens":100}}`, nil, nil, "reasoning.max_tokens"},
	} {
		a, err := parseAdvanced(json.RawMessage(c.params))
		if err == nil {
			_, err = makePlan(c.model, c.temp, c.max, a)
		}
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s %s: err = %v, want one naming %s", c.model, c.params, err, c.field)
		}
	}
}

// decodeAdvanced (abijson) gives what encoding/json gives.
func TestAdvancedMatchesSlowPath(t *testing.T) {
	for _, doc := range []string{
		`{"temperature":0.5,"top_p":1,"top_k":3,"max_tokens":10,"stop_sequences":["x"],"thinking":"low","thinking_level":"high","thinking_budget":-1}`,
		`{"temperature":null,"stop_sequences":null}`,
		`{"reasoning":"high","safety_settings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]}`,
		`{"Temperature":0.5}`,
	} {
		fast, ferr := decodeAdvanced([]byte(doc))
		slow, serr := slowAdvanced([]byte(doc))
		if (ferr == nil) != (serr == nil) || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast %+v (%v), slow %+v (%v)", doc, fast, ferr, slow, serr)
		}
	}
}

// decodeResponse (abijson) gives what encoding/json gives.
func TestDecodeResponseMatchesEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"**Plan**","thought":true},{"text":"Hi \u00e9"}],"role":"model"},"finishReason":"STOP","index":0,"safetyRatings":[]}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"totalTokenCount":17,"thoughtsTokenCount":10,"cachedContentTokenCount":1,"promptTokensDetails":[{"modality":"TEXT","tokenCount":5}]},"modelVersion":"gemini-2.5-flash","responseId":"x"}`,
		`{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":5}}`,
		`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}`,
		`{"candidates":null,"usageMetadata":null}`,
		`{"Candidates":[{"FinishReason":"STOP"}]}`,
	} {
		got, gerr := decodeResponse([]byte(doc))
		var want response
		werr := json.Unmarshal([]byte(doc), &want)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v (%v)\nwant %+v (%v)", doc, got, gerr, want, werr)
		}
	}
}

func TestSettingsFromConfig(t *testing.T) {
	cfg := map[string]string{"base_url": "https://example.test/v1beta/", "default_model": "gemini-2.5-flash"}
	s := newSettings(func(k string) (string, bool) { v, ok := cfg[k]; return v, ok })
	if s.BaseURL != "https://example.test" || s.DefaultModel != "gemini-2.5-flash" {
		t.Fatalf("settings = %+v", s)
	}
	if s := newSettings(func(string) (string, bool) { return "", false }); s.BaseURL != defaultBaseURL {
		t.Fatalf("default base_url = %q", s.BaseURL)
	}
}

// A Google key (AIza…) in an error message from the API is cut: the
// shared provider.Scrub knows only sk- keys.
func TestErrorsScrubGoogleKeys(t *testing.T) {
	e := apiError(400, &wireError{Code: 400, Status: "INVALID_ARGUMENT", Message: "API key not valid: " + keyBad,
		Details: []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}}}, "")
	if strings.Contains(e.Message, keyBad[8:]) || e.Code != "invalid_key" {
		t.Fatalf("error = %+v", e)
	}
	if g := garbage("a response", []byte(`{"oops":"`+keyGood+`"`)); strings.Contains(g.Message, keyGood[8:]) {
		t.Fatalf("garbage = %+v", g)
	}
}
