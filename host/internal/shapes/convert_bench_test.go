package shapes

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
)

// BenchmarkConvertMemory is the client-side cost of one memory record:
// decode, map to columns, re-encode the rest.
func BenchmarkConvertMemory(b *testing.B) {
	p := &genPersonality{Slug: "bench", ID: "11111111-2222-4333-8444-555555555555", Files: map[shapestest.Kind][]any{}}
	shapestest.Records(1, p, 0, 9)
	raws := make([][]byte, 0, len(p.Files[shapestest.Memories]))
	for _, m := range p.Files[shapestest.Memories] {
		raws = append(raws, mustJSON(m))
	}
	rc := &recordContext{file: "bench", shapesID: p.ID, log: &issueLog{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		convertMemory(rc, raws[i%len(raws)])
	}
}

// BenchmarkSanitizeMemory is what the check for text PostgreSQL cannot
// store adds to each record: "clean" is the usual case (nothing to
// repair), "escaped" a record whose non-ASCII text is written as \u
// escapes (as Python's json.dumps does) and "repair" one that needs it.
func BenchmarkSanitizeMemory(b *testing.B) {
	p := &genPersonality{Slug: "bench", ID: "11111111-2222-4333-8444-555555555555", Files: map[shapestest.Kind][]any{}}
	shapestest.Records(1, p, 0, 9)
	clean := mustJSON(p.Files[shapestest.Memories][3])
	escaped := []byte(strings.Replace(string(clean), `"result": "`, `"result": "caf\u00e9 \ud83c\udf19 `, 1))
	escaped = []byte(strings.Replace(string(escaped), `"result":"`, `"result":"caf\u00e9 \ud83c\udf19 `, 1))
	repair := []byte(strings.Replace(string(escaped), `caf`, "caf\u0000\xff", 1))
	for name, raw := range map[string][]byte{"clean": clean, "escaped": escaped, "repair": repair} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for range b.N {
				sanitizeJSON(raw, "memories[0]")
			}
		})
	}
}

func TestAsStringDecodesEscapesAndKeepsUnicode(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`:                  "plain",
		`"Zoë 🌙"`:                  "Zoë 🌙",
		`"line\nbreak \"quoted\""`: "line\nbreak \"quoted\"",
		`"\u00e9t\u00e9"`:          "été",
		` "padded" `:               "padded",
		"\"bad \xff byte\"":        "bad \ufffd byte",
	} {
		got, ok := asString([]byte(raw))
		if !ok || got != want {
			t.Errorf("asString(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{`42`, `null`, `["x"]`, `"`} {
		if got, ok := asString([]byte(raw)); ok {
			t.Errorf("asString(%s) = %q, want not a string", raw, got)
		}
	}
}
