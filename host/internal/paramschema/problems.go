package paramschema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Problems lists the leaf failures of a validation, one per field, in
// words a user understands and naming the field:
// "stability: must be at most 1, but it is 1.2". At most 10 are listed.
func Problems(ve *jsonschema.ValidationError) []string {
	p := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		line := problemWords(e.ErrorKind, p, "a setting this plugin takes")
		if field := strings.Join(e.InstanceLocation, "."); field != "" {
			line = field + ": " + line
		}
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	walk(ve)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return out
}
