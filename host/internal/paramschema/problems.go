package paramschema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Problems lists the leaf failures of a validation, one per field, in
// words a user understands and naming the field:
// "stability: must be at most 1 (it is 1.2)". At most 10 are listed.
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
		line := problemWords(e.ErrorKind, p)
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

// problemWords says what is wrong for the failures people make by hand;
// anything rarer gets the library's own wording.
func problemWords(k jsonschema.ErrorKind, p *message.Printer) string {
	num := func(r *big.Rat) string { return trimZeros(r.FloatString(6)) }
	switch k := k.(type) {
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s (it is %s)", num(k.Want), num(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s (it is %s)", num(k.Want), num(k.Got))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s (it is %s)", num(k.Want), num(k.Got))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be more than %s (it is %s)", num(k.Want), num(k.Got))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			b, _ := json.Marshal(w)
			want[i] = string(b)
		}
		got, _ := json.Marshal(k.Got)
		return fmt.Sprintf("must be one of %s (it is %s)", strings.Join(want, ", "), got)
	case *kind.Const:
		want, _ := json.Marshal(k.Want)
		return fmt.Sprintf("can only be %s", want)
	case *kind.AdditionalProperties:
		return fmt.Sprintf("%s is not a setting this plugin takes (check the spelling)", strings.Join(k.Properties, ", "))
	case *kind.Type:
		return fmt.Sprintf("must be %s (it is %s)", strings.Join(k.Want, " or "), k.Got)
	case *kind.Required:
		return fmt.Sprintf("needs %s", strings.Join(k.Missing, ", "))
	}
	return k.LocalizedString(p)
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
