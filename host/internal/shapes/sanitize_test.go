package shapes

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// TestTextPostgreSQLCannotStoreIsReplacedEverywhereWithAWarning: bytes
// that are not UTF-8, NUL characters and unpaired surrogate escapes are
// replaced with U+FFFD in every field (names, prompts, custom fields,
// aliases, records, record file headers) and each replacement is a
// warning naming the file and the field; nothing fails the personality.
func TestTextPostgreSQLCannotStoreIsReplacedEverywhereWithAWarning(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	const id = "77777777-7777-4777-8777-777777777777"
	dir := filepath.Join(t.TempDir(), "badbytes")
	profile := filepath.Join(dir, "badbytes.json")
	memories := filepath.Join(dir, "badbytes_memories.json")
	stories := filepath.Join(dir, "badbytes_knowledge.json")
	chat := filepath.Join(dir, "badbytes_chat_history.json")
	writeFile(t, profile, rawBytes(`{"id": "`+id+`", "name": "Bad\xffName", "username": "badbytes",
		"jailbreak": "You are \xc3\x28 here", "personality_tone": "a\u0000b",
		"shape_settings": {"status": "hi\ud800there"}, "tagline": "x\xfe\xfdy", "aliases": ["al\xffias"],
		"odd\u0000key": "kept", "fine": "caf\u00e9 \ud83c\udf19"}`))
	writeFile(t, memories, rawBytes(`[{"id": "m1", "result": "mem\xff", "metadata": {"note": "n\u0000"}},
		{"id": "m2", "result": "ok", "summary_type": "\udc00"}]`))
	writeFile(t, stories, rawBytes(`[{"id": "s1", "title": "T\u0000", "content": "c\xe2\x82"}]`))
	writeFile(t, chat, rawBytes(`{"shape_id": "`+id+`", "shape_name": "B\xffd", "odd\u0000": 1, "k\xff": 2,
		"messages": [{"id": "c1", "message": "hi\xff", "reply": null, "ts": 1}]}`))

	sum, report := importShapes(t, pool, dir, Options{})
	if sum.Created != 1 || sum.Failed != 0 || sum.Errors != 0 {
		t.Fatalf("want the personality imported with warnings only:\n%s", report)
	}

	const r = "\ufffd"
	var name, prompt, tone string
	var custom json.RawMessage
	if err := pool.QueryRow(ctx, `SELECT name, system_prompt, tone, custom_fields FROM personalities WHERE slug = 'badbytes'`).Scan(&name, &prompt, &tone, &custom); err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{name: "Bad" + r + "Name", prompt: "You are " + r + "( here", tone: "a" + r + "b"} {
		if got != want {
			t.Errorf("column %q, want %q", got, want)
		}
	}
	cf := object(t, custom)
	for key, want := range map[string]string{
		"shapeSettings":     `{"status": "hi` + r + `there"}`,
		"shapesExtra":       `{"tagline": "x` + r + `y", "odd` + r + `key": "kept", "fine": "café 🌙"}`,
		"shapesChatHistory": `{"shape_id": "` + id + `", "shape_name": "B` + r + `d", "odd` + r + `": 1, "k` + r + `": 2}`,
	} {
		if !sameJSON(cf[key], json.RawMessage(want)) {
			t.Errorf("custom_fields.%s = %s, want %s", key, cf[key], want)
		}
	}
	for _, q := range []struct{ sql, want string }{
		{`SELECT alias FROM personality_aliases`, "al" + r + "ias"},
		{`SELECT content || '|' || (source -> 'metadata' ->> 'note') FROM personality_memories WHERE source_id = 'm1'`, "mem" + r + "|n" + r},
		{`SELECT summary_type FROM personality_memories WHERE source_id = 'm2'`, r},
		{`SELECT title || '|' || content FROM personality_stories`, "T" + r + "|c" + r},
		{`SELECT message FROM personality_chat_messages`, "hi" + r},
	} {
		var got string
		if err := pool.QueryRow(ctx, q.sql).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if got != q.want {
			t.Errorf("%s = %q, want %q", q.sql, got, q.want)
		}
	}

	for _, w := range []struct{ file, field, words string }{
		{profile, "name", "not valid UTF-8"},
		{profile, "jailbreak", "not valid UTF-8"},
		{profile, "personality_tone", "NUL character"},
		{profile, "shape_settings.status", "unpaired UTF-16 surrogate"},
		{profile, "tagline", "1 byte sequence that is not valid UTF-8"},
		{profile, "aliases[0]", "not valid UTF-8"},
		{profile, "odd" + r + "key", "the field name"},
		{memories, "[0].result", "not valid UTF-8"},
		{memories, "[0].metadata.note", "NUL character"},
		{memories, "[1].summary_type", "unpaired UTF-16 surrogate"},
		{stories, "[0].title", "NUL character"},
		{stories, "[0].content", "not valid UTF-8"},
		{chat, "messages[0].message", "not valid UTF-8"},
		{chat, "shape_name", "not valid UTF-8"},
		{chat, "odd" + r, "NUL character"},
		{chat, "k" + r, "field name"},
	} {
		found := false
		for _, i := range sum.Issues {
			found = found || (i.Severity == Warning && i.File == w.file && i.Field == w.field &&
				strings.Contains(i.Message, w.words) && strings.Contains(i.Message, "U+FFFD"))
		}
		if !found {
			t.Errorf("no warning for %s %s (%s):\n%s", filepath.Base(w.file), w.field, w.words, report)
		}
	}
	if strings.Contains(report, "fine") {
		t.Errorf("valid text (escaped é, a surrogate pair) was reported:\n%s", report)
	}

	// A re-import repairs the same way and finds everything unchanged.
	again, report := importShapes(t, pool, dir, Options{})
	if again.Unchanged != 1 {
		t.Errorf("re-import:\n%s", report)
	}
}

// rawBytes turns each \xHH in s into that byte (JSON escapes such as
// \u0000 stay as they are): how a file with bytes that are not UTF-8 is
// written.
func rawBytes(s string) []byte {
	return regexp.MustCompile(`\\x[0-9a-f]{2}`).ReplaceAllFunc([]byte(s), func(m []byte) []byte {
		b, _ := strconv.ParseUint(string(m[2:]), 16, 8)
		return []byte{byte(b)}
	})
}

func TestV2StoreTextIsRepairedTheSameWay(t *testing.T) {
	pool := pgtest.New(t)
	store := filepath.Join(t.TempDir(), "personalities.json")
	writeFile(t, store, rawBytes(`{"personalities": {"p1": {"id": "p1", "profile": {"name": "v2-bytes", "displayName": "V2\xff", "bio": "b\u0000"}}}}`))
	sum, err := NewImporter(pool, Options{}).ImportV2(context.Background(), store)
	if err != nil || sum.Created != 1 {
		t.Fatalf("v2 import: %v %+v", err, sum)
	}
	var name, bio string
	if err := pool.QueryRow(context.Background(), `SELECT name, custom_fields -> 'v2' ->> 'profile.bio' FROM personalities WHERE slug = 'v2-bytes'`).Scan(&name, &bio); err != nil {
		t.Fatal(err)
	}
	if name != "V2\ufffd" || bio != "b\ufffd" {
		t.Errorf("name %q, bio %q", name, bio)
	}
	for _, field := range []string{"personalities.p1.profile.displayName", "personalities.p1.profile.bio"} {
		if _, ok := findIssue(sum.Issues, Warning, store, field, "U+FFFD"); !ok {
			t.Errorf("no warning for %s: %+v", field, sum.Issues)
		}
	}
}

func TestSanitizeJSONLeavesValidJSONAlone(t *testing.T) {
	for _, in := range []string{
		`{"a": "plain", "b": [1, 2.5e3, true, null, {"c": "é\u00e9\ud83c\udf19\\u0000"}]}`,
		`"just a string"`, `[]`, `{}`, `42`,
	} {
		out, fixes := sanitizeJSON([]byte(in), "")
		if string(out) != in || len(fixes) != 0 {
			t.Errorf("sanitizeJSON(%s) = %s, %+v; want it unchanged", in, out, fixes)
		}
	}
	out, fixes := sanitizeJSON(rawBytes(`{"k": ["x", "\u0000\xff", {"\ud800": 1}]}`), "p")
	if string(out) != `{"k": ["x", "\ufffd\ufffd", {"\ufffd": 1}]}` || len(fixes) != 2 ||
		fixes[0].path != "p.k[1]" || fixes[1].path != "p.k[2].\ufffd" || !fixes[1].key {
		t.Errorf("got %s %+v", out, fixes)
	}
	if !json.Valid(out) {
		t.Errorf("repaired JSON is not valid: %s", out)
	}
}
