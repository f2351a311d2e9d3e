package shapes

import (
	"testing"
)

// BenchmarkConvertMemory is the client-side cost of one memory record:
// decode, map to columns, re-encode the rest.
func BenchmarkConvertMemory(b *testing.B) {
	p := &genPersonality{Slug: "bench", ID: "11111111-2222-4333-8444-555555555555", Files: map[RecordKind][]any{}}
	genRecords(newGen(1), p, 0, 9)
	raws := make([][]byte, 0, len(p.Files[Memories]))
	for _, m := range p.Files[Memories] {
		raws = append(raws, mustJSON(m))
	}
	rc := &recordContext{file: "bench", shapesID: p.ID, log: &issueLog{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		convertMemory(rc, raws[i%len(raws)])
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
