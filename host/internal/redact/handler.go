package redact

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
)

// Handler is a slog.Handler that masks secrets before the records reach
// the handler it wraps (tint on a terminal, JSON otherwise). It redacts
// the message, every attribute key and value, groups at any depth, and
// attributes added with WithAttrs and WithGroup.
//
// Values that are not plain strings are turned into text first, so that
// nothing reaches the wrapped handler that it could render unredacted:
// errors become their redacted message, fmt.Stringer and
// encoding.TextMarshaler values their redacted text, and structs, maps,
// slices and pointers their redacted JSON (which the JSON handler embeds
// as JSON and a text handler prints as it is). Numbers, booleans, times
// and durations pass through untouched.
type Handler struct {
	next slog.Handler
	r    *Redactor
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler wraps next so that every record is redacted by r first.
func NewHandler(next slog.Handler, r *Redactor) *Handler {
	return &Handler{next: next, r: r}
}

// Enabled reports whether the wrapped handler takes records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts rec and passes it on.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.Attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs once, here, rather than on every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	redacted := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		redacted[i] = h.r.Attr(a)
	}
	return &Handler{next: h.next.WithAttrs(redacted), r: h.r}
}

// WithGroup opens a group whose name is redacted too.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{next: h.next.WithGroup(h.r.String(name)), r: h.r}
}

// Attr returns a with its key and value redacted. A string value of an
// attribute whose key is a secret name (IsSecretName) is masked whole;
// numbers under such keys ("output_tokens") are kept.
func (r *Redactor) Attr(a slog.Attr) slog.Attr {
	secretName := IsSecretName(a.Key)
	a.Key = r.String(a.Key)
	a.Value = r.value(a.Value, secretName)
	return a
}

func (r *Redactor) value(v slog.Value, secretName bool) slog.Value {
	v = v.Resolve() // a LogValuer's value; a panicking one becomes an error value
	switch v.Kind() {
	case slog.KindString:
		return r.text(v.String(), secretName)
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, a := range group {
			out[i] = r.Attr(a)
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return r.anyValue(v.Any(), secretName)
	default: // numbers, bools, durations, times
		return v
	}
}

func (r *Redactor) text(s string, secretName bool) slog.Value {
	if secretName && s != "" {
		return slog.StringValue(Mask)
	}
	return slog.StringValue(r.String(s))
}

// anyValue turns x into a value that renders the same in every handler
// and carries no secret.
func (r *Redactor) anyValue(x any, secretName bool) (out slog.Value) {
	defer func() {
		// A String or MarshalJSON method may panic, typically on a nil
		// pointer receiver; print what fmt would rather than crash.
		if p := recover(); p != nil {
			if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
				out = slog.StringValue("<nil>")
				return
			}
			out = slog.StringValue(r.String(fmt.Sprintf("!PANIC: %v", p)))
		}
	}()
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		if secretName {
			return slog.AnyValue(redactedError(Mask))
		}
		return slog.AnyValue(redactedError(r.String(t.Error())))
	case []byte:
		return r.text(string(t), secretName)
	case json.Marshaler:
		if secretName {
			return slog.StringValue(Mask)
		}
		return r.jsonValue(x)
	case encoding.TextMarshaler:
		b, err := t.MarshalText()
		if err != nil {
			return slog.StringValue(r.String(fmt.Sprintf("!ERROR: %v", err)))
		}
		return r.text(string(b), secretName)
	case fmt.Stringer:
		return r.text(t.String(), secretName)
	}
	switch rv := reflect.ValueOf(x); rv.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return slog.AnyValue(x) // numbers cannot carry a key
	case reflect.String:
		return r.text(rv.String(), secretName)
	}
	if secretName {
		return slog.StringValue(Mask)
	}
	return r.jsonValue(x)
}

// jsonValue renders x as JSON, the way the JSON handler would, then
// redacts every string in it as plain text (see redactJSON). Values JSON
// cannot encode (channels, funcs, cycles) fall back to fmt's %+v, redacted.
func (r *Redactor) jsonValue(x any) slog.Value {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as slog's JSON handler: keeps the text greppable
	if err := enc.Encode(x); err != nil {
		return slog.StringValue(r.String(fmt.Sprintf("%+v", x)))
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	// Fast path: without escapes every string reads the same raw as
	// decoded, and the field rule sees the same names, so if the text rules
	// find nothing in the whole document, nothing is there to find.
	if bytes.IndexByte(raw, '\\') < 0 {
		if text := string(raw); r.String(text) == text {
			return slog.AnyValue(jsonText(text))
		}
	}
	redacted, err := r.redactJSON(raw)
	if err != nil { // cannot happen for encoding/json's own output; stay safe anyway
		return slog.StringValue(r.String(buf.String()))
	}
	return slog.AnyValue(jsonText(redacted))
}

// redactJSON re-emits a JSON document with each string redacted in its
// decoded form, so escapes ("\nsk-...", "\u003c") cannot hide a secret
// from the rules, and with the string values of secret-named fields (and
// the strings of lists under them) masked whole. Member order is kept.
func (r *Redactor) redactJSON(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // numbers pass through digit for digit
	type level struct {
		object bool
		n      int  // tokens seen at this level
		secret bool // object: the current member's name is a secret name; list: it is under one
	}
	var (
		out   bytes.Buffer
		enc   = json.NewEncoder(&out)
		stack []level
	)
	enc.SetEscapeHTML(false)
	writeString := func(s string) {
		_ = enc.Encode(s)           // a string always encodes
		out.Truncate(out.Len() - 1) // Encode's newline
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out.String(), nil
		}
		if err != nil {
			return "", fmt.Errorf("re-reading encoded value: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}
		var top *level
		isName, secret := false, false
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 0:
				isName = true
				if top.n > 0 {
					out.WriteByte(',')
				}
			case top.object:
				out.WriteByte(':')
			case top.n > 0:
				out.WriteByte(',')
			}
			secret = top.secret && !isName
			top.n++
		}
		switch t := tok.(type) {
		case json.Delim: // '{' or '['
			out.WriteByte(byte(t))
			stack = append(stack, level{object: t == '{', secret: t == '[' && secret})
		case string:
			switch {
			case isName:
				top.secret = IsSecretName(t)
				writeString(r.String(t))
			case secret && t != "":
				writeString(Mask)
			default:
				writeString(r.String(t))
			}
		case json.Number:
			out.WriteString(t.String())
		case bool:
			out.WriteString(strconv.FormatBool(t))
		case nil:
			out.WriteString("null")
		}
	}
}

// redactedError stands in for an error whose message was redacted; it is
// still an error, so handlers (tint) can show it as one.
type redactedError string

func (e redactedError) Error() string { return string(e) }

// jsonText is JSON that has been redacted: the JSON handler embeds it as
// it is, text handlers print it through String.
type jsonText string

func (j jsonText) MarshalJSON() ([]byte, error) { return []byte(j), nil }
func (j jsonText) String() string               { return string(j) }
