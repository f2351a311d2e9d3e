package provider

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/abijson"
)

func TestIsLevel(t *testing.T) {
	for _, l := range []string{"off", "minimal", "low", "medium", "high", "max"} {
		if !IsLevel(l) {
			t.Errorf("IsLevel(%q) = false", l)
		}
	}
	for _, l := range []string{"", "none", "xhigh", "High", "extreme"} {
		if IsLevel(l) {
			t.Errorf("IsLevel(%q) = true", l)
		}
	}
}

var reasoningInputs = []string{
	`{"effort":"high","max_tokens":2000,"exclude":true,"enabled":false}`,
	`{"effort":null,"max_tokens":null,"exclude":null,"enabled":null}`,
	`{}`, `null`, `{"other":[1,{"x":2}]}`, `{"effort":"a","effort":"b"}`, `{"Effort":"low"}`,
	`{"max_tokens":1.5}`, `{"max_tokens":99999999999999999999}`, `{"enabled":"yes"}`, `{"effort":3}`,
	`[]`, `{"effort":"low"`, `{"effort":"\u00e9"}`,
}

// decodeReasoning is how a plugin uses Read: the fast path, then
// encoding/json for whatever it hands over.
func decodeReasoning(data []byte) (Reasoning, error) {
	d := abijson.NewDecoder(data)
	var r Reasoning
	r.Read(d)
	if d.End() != nil {
		r = Reasoning{}
		return r, json.Unmarshal(data, &r)
	}
	return r, nil
}

func sameAsEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := decodeReasoning(data)
	var want Reasoning
	wantErr := json.Unmarshal(data, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, encoding/json: %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

func TestReasoningReadMatchesEncodingJSON(t *testing.T) {
	for _, in := range reasoningInputs {
		sameAsEncodingJSON(t, []byte(in))
	}
}

func FuzzReasoningRead(f *testing.F) {
	for _, in := range reasoningInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAsEncodingJSON(t, data) })
}

func TestReasoningLevel(t *testing.T) {
	yes, no, n := true, false, 2000
	for _, c := range []struct {
		r    *Reasoning
		want string
	}{
		{nil, ""},
		{&Reasoning{}, ""},
		{&Reasoning{Enabled: &no, Effort: "high"}, "off"},
		{&Reasoning{Effort: "none"}, "off"},
		{&Reasoning{Effort: "xhigh"}, "max"},
		{&Reasoning{Effort: "minimal"}, "minimal"},
		{&Reasoning{Effort: "low", MaxTokens: &n}, "low"},
		{&Reasoning{Effort: "medium"}, "medium"},
		{&Reasoning{Effort: "high"}, "high"},
		{&Reasoning{Effort: "big"}, ""},
		{&Reasoning{MaxTokens: &n}, "BUDGET"},
		{&Reasoning{MaxTokens: &n, Enabled: &yes}, "BUDGET"},
		{&Reasoning{Enabled: &yes}, "medium"},
		{&Reasoning{Exclude: &yes}, ""},
	} {
		if got := c.r.Level("BUDGET"); got != c.want {
			t.Errorf("%+v.Level = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestAskedLevel(t *testing.T) {
	yes, n := true, 2000
	for _, c := range []struct {
		thinking, reasoningLevel string
		r                        *Reasoning
		want                     string
	}{
		{"", "", nil, ""},
		{"low", "high", &Reasoning{Effort: "max"}, "low"},      // thinking wins
		{"bogus", "high", &Reasoning{Effort: "low"}, "high"},   // then the string form
		{"", "nope", &Reasoning{Effort: "minimal"}, "minimal"}, // then the object
		{"", "", &Reasoning{MaxTokens: &n}, "budget"},
		{"", "", &Reasoning{Enabled: &yes}, "medium"},
		{"off", "", &Reasoning{Enabled: &yes}, "off"},
	} {
		if got := AskedLevel(c.thinking, c.reasoningLevel, c.r, "budget"); got != c.want {
			t.Errorf("AskedLevel(%q, %q, %+v) = %q, want %q", c.thinking, c.reasoningLevel, c.r, got, c.want)
		}
	}
}

func TestParseAdvanced(t *testing.T) {
	calls := 0
	decode := func(b []byte) (map[string]int, error) {
		calls++
		var m map[string]int
		return m, json.Unmarshal(b, &m)
	}
	for _, raw := range []string{"", "null"} {
		if m, err := ParseAdvanced([]byte(raw), decode); m != nil || err != nil || calls != 0 {
			t.Fatalf("ParseAdvanced(%q) = %v, %v after %d decodes; want nothing asked", raw, m, err, calls)
		}
	}
	if m, err := ParseAdvanced([]byte(`{"top_k":3}`), decode); err != nil || m["top_k"] != 3 {
		t.Fatalf("ParseAdvanced = %v, %v", m, err)
	}
	m, err := ParseAdvanced([]byte(`{"top_k":"x"}`), decode)
	if m != nil || err == nil || !strings.HasPrefix(err.Error(), "advanced_parameters: json: cannot unmarshal") {
		t.Fatalf("a bad document gave %v, %v; want the zero value and an error naming advanced_parameters", m, err)
	}
}
