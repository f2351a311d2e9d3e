package paramschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Keywords a plugin puts on a rule of its schemas so that a failure is
// told in its own words (docs/plugin-abi.md §5.2). The validator ignores
// them (unknown keywords are annotations).
const (
	// MessageKeyword holds the sentence shown when the rule fails, e.g.
	// "Claude's extended thinking needs temperature 1 or unset".
	MessageKeyword = "x-message"
	// FieldKeyword names the parameter a rule is about when the failure is
	// on the whole object (a "not": {"required": [...]} rule), where the
	// validator has no field to point at.
	FieldKeyword = "x-field"
)

// Rules are a plugin's compiled parameter rules: its parameters_schema
// (the advanced_parameters object alone) and its constraints_schema (the
// object {"model": ..., "parameters": ...}, for rules that depend on the
// model). Either may be absent. A nil *Rules accepts everything.
type Rules struct {
	params, constraints       *jsonschema.Schema
	paramsDoc, constraintsDoc any
}

// CompileRules compiles a plugin's two schemas the safe way (Compile). The
// error names the schema that is wrong.
func CompileRules(params, constraints json.RawMessage) (*Rules, error) {
	r := &Rules{}
	var err error
	if r.params, r.paramsDoc, err = compileDoc(params); err != nil {
		return nil, fmt.Errorf("its parameters_schema is not a valid JSON Schema: %w", err)
	}
	if r.constraints, r.constraintsDoc, err = compileDoc(constraints); err != nil {
		return nil, fmt.Errorf("its constraints_schema is not a valid JSON Schema: %w", err)
	}
	if r.params == nil && r.constraints == nil {
		return nil, nil
	}
	return r, nil
}

func compileDoc(raw json.RawMessage) (*jsonschema.Schema, any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, nil
	}
	s, err := Compile(raw)
	if err != nil {
		return nil, nil, err
	}
	// The compiler does not hand its parsed document back; the messages
	// are looked up in this copy.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	return s, doc, nil
}

// Problem is one broken rule, named by the parameter a user changes.
type Problem struct {
	// Field is the parameter ("temperature", "reasoning.effort"); "" when
	// the rule is about no single one.
	Field string
	// Message says what is wrong in words, with the value it has:
	// "Claude's extended thinking needs temperature 1 or unset (it is 0.7)".
	Message string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// InvalidError is a set of parameters the plugin's rules refuse.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// maxProblems is how many problems one refusal lists.
const maxProblems = 10

// Check checks the advanced parameters of a personality that uses model
// against both schemas. It returns nil, an *InvalidError naming every
// broken rule, or an error for parameters that are not a JSON object.
func (r *Rules) Check(model string, params json.RawMessage) error {
	if r == nil {
		return nil
	}
	raw := bytes.TrimSpace(params)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte(`{}`) // nothing stored: no parameters
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("the parameters are not valid JSON: %w", err)
	}
	if _, ok := inst.(map[string]any); !ok {
		return errors.New("the parameters must be a JSON object")
	}
	var probs []Problem
	if r.params != nil {
		probs = r.collect(probs, r.params, r.paramsDoc, inst, inst, false)
	}
	// The model rules are checked only on parameters the first schema
	// accepts: a wrong type there would make them fail in confusing ways.
	if r.constraints != nil && len(probs) == 0 {
		whole := map[string]any{"model": model, "parameters": inst}
		probs = r.collect(probs, r.constraints, r.constraintsDoc, whole, whole, true)
	}
	if len(probs) == 0 {
		return nil
	}
	if len(probs) > maxProblems {
		n := len(probs) - maxProblems
		probs = append(probs[:maxProblems], Problem{Message: fmt.Sprintf("… and %d more", n)})
	}
	return &InvalidError{Problems: probs}
}

func (r *Rules) collect(probs []Problem, s *jsonschema.Schema, doc, inst, root any, wrapped bool) []Problem {
	err := s.Validate(inst)
	if err == nil {
		return probs
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return append(probs, Problem{Message: err.Error()})
	}
	w := walker{doc: doc, root: root, wrapped: wrapped, p: message.NewPrinter(language.English)}
	w.walk(ve)
	for _, p := range w.out {
		if !slices.Contains(probs, p) {
			probs = append(probs, p)
		}
	}
	return probs
}

// walker turns a tree of validation errors into problems.
type walker struct {
	doc     any  // the schema document, for its x-message keywords
	root    any  // the instance
	wrapped bool // the instance is {"model", "parameters"}
	p       *message.Printer
	out     []Problem
}

func (w *walker) walk(e *jsonschema.ValidationError) {
	node, path := w.node(e.SchemaURL)
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		// A rule with alternatives failed as a whole: its own message says
		// it better than one line per alternative.
		if msg, field := ruleWords(node); msg != "" {
			w.add(e, msg, field)
			return
		}
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			w.walk(c)
		}
		return
	}
	// A leaf: the nearest rule around it that has words, else the library's
	// kind of failure in plain words.
	if _, isNot := e.ErrorKind.(*kind.Not); isNot {
		if sub, ok := node["not"].(map[string]any); ok {
			if msg, field := ruleWords(sub); msg != "" {
				w.add(e, msg, field)
				return
			}
		}
	}
	for i := len(path); i > 0; i-- {
		if msg, field := ruleWords(at(w.doc, path[:i])); msg != "" {
			w.add(e, msg, field)
			return
		}
	}
	field := w.field(e.InstanceLocation)
	msg := problemWords(e.ErrorKind, w.p, "a parameter this provider takes")
	if field == "" {
		if _, ok := e.ErrorKind.(*kind.Not); ok {
			if sub, ok := node["not"].(map[string]any); ok {
				if req, ok := sub["required"].([]any); ok && len(req) > 0 {
					msg = "these cannot be set together: " + quoteAny(req)
				}
			}
		}
	}
	w.out = append(w.out, Problem{Field: field, Message: msg})
}

// add records a problem told by a rule's x-message, with the value it is
// about.
func (w *walker) add(e *jsonschema.ValidationError, msg, field string) {
	loc := e.InstanceLocation
	name := w.field(loc)
	if field != "" && (name == "" || (w.wrapped && len(loc) <= 1)) {
		// The failure is on the whole object: the rule names its field.
		name = field
		loc = strings.Split(field, ".")
		if w.wrapped {
			loc = append([]string{"parameters"}, loc...)
		}
	}
	if v, ok := lookup(w.root, loc); ok && name != "" {
		msg += " (it is " + valueWords(v) + ")"
	}
	w.out = append(w.out, Problem{Field: name, Message: msg})
}

// field names an instance location the way users write parameters.
func (w *walker) field(loc []string) string {
	if w.wrapped && len(loc) > 0 && loc[0] == "parameters" {
		loc = loc[1:]
	}
	return strings.Join(loc, ".")
}

// node is the schema object at a location the validator reports, and its
// path of JSON pointer tokens.
func (w *walker) node(schemaURL string) (map[string]any, []string) {
	_, frag, _ := strings.Cut(schemaURL, "#")
	var path []string
	for _, tok := range strings.Split(frag, "/")[1:] {
		if t, err := url.PathUnescape(tok); err == nil {
			tok = t
		}
		path = append(path, strings.NewReplacer("~1", "/", "~0", "~").Replace(tok))
	}
	m, _ := at(w.doc, path).(map[string]any)
	return m, path
}

// ruleWords is the x-message (and x-field) of a schema object.
func ruleWords(v any) (msg, field string) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", ""
	}
	msg, _ = m[MessageKeyword].(string)
	field, _ = m[FieldKeyword].(string)
	return strings.TrimSpace(msg), field
}

// at follows a JSON pointer path into a parsed document.
func at(doc any, path []string) any {
	v := doc
	for _, tok := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// lookup is the instance value at loc, if there is one.
func lookup(inst any, loc []string) (any, bool) {
	if len(loc) == 0 {
		return nil, false
	}
	v := at(inst, loc)
	return v, v != nil
}

// valueWords writes an instance value as a user typed it.
func valueWords(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "…"
	}
	return string(b)
}

// problemWords says what is wrong in plain words for the failures people
// make by hand; anything rarer gets the library's own wording.
//
// noun says what an unknown property is not ("a parameter this provider
// takes" for advanced parameters, "a setting this plugin takes" for voice
// settings).
func problemWords(k jsonschema.ErrorKind, p *message.Printer, noun string) string {
	num := func(r *big.Rat) string { return trimZeros(r.FloatString(2)) }
	switch k := k.(type) {
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s, but it is %s", num(k.Want), num(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s, but it is %s", num(k.Want), num(k.Got))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s, but it is %s", num(k.Want), num(k.Got))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be more than %s, but it is %s", num(k.Want), num(k.Got))
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
		return fmt.Sprintf("%s is not %s (check the spelling)", quoteList(k.Properties), noun)
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

func quoteAny(names []any) string {
	s := make([]string, 0, len(names))
	for _, n := range names {
		s = append(s, fmt.Sprint(n))
	}
	return quoteList(s)
}
