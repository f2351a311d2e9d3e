package paramschema

import (
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestProblemsNameTheField(t *testing.T) {
	s, err := Compile([]byte(`{"type":"object","additionalProperties":false,"properties":{
		"stability":{"type":"number","minimum":0,"maximum":1},
		"speed":{"type":"number","exclusiveMinimum":0},
		"format":{"enum":["mp3","wav"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"stability":1.2,"speed":0,"format":"ogg","stabilty":0.5}`))
	var ve *jsonschema.ValidationError
	if err := s.Validate(inst); !errors.As(err, &ve) {
		t.Fatalf("validate: %v", err)
	}
	got := strings.Join(Problems(ve), "\n")
	for _, want := range []string{
		"stability: must be at most 1 (it is 1.2)",
		"speed: must be more than 0 (it is 0)",
		`format: must be one of "mp3", "wav" (it is "ogg")`,
		"stabilty is not a setting this plugin takes",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}
