package shapes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
)

// stored is everything the database holds about one imported personality.
type stored struct {
	Row     map[string]json.RawMessage // to_jsonb(personalities row)
	Custom  map[string]json.RawMessage
	LLM     map[string]json.RawMessage // nil when absent
	Params  map[string]json.RawMessage
	Voice   map[string]json.RawMessage // nil when absent
	Aliases []string
	// Records by kind, keyed by source_id, each to_jsonb(row).
	Records map[RecordKind]map[string]map[string]json.RawMessage
}

func loadStored(t *testing.T, pool *pgxpool.Pool, shapesID string) *stored {
	t.Helper()
	ctx := context.Background()
	s := &stored{Records: map[RecordKind]map[string]map[string]json.RawMessage{}}
	var row, llm, voice json.RawMessage
	var id int64
	err := pool.QueryRow(ctx, `SELECT p.id, to_jsonb(p), to_jsonb(l), to_jsonb(v),
		COALESCE((SELECT array_agg(alias ORDER BY alias) FROM personality_aliases a WHERE a.personality_id = p.id), '{}')
		FROM personalities p
		LEFT JOIN llm_configs l ON l.personality_id = p.id AND l.user_id IS NULL
		LEFT JOIN voice_configs v ON v.personality_id = p.id
		WHERE p.shapes_id = $1`, shapesID).Scan(&id, &row, &llm, &voice, &s.Aliases)
	if err != nil {
		t.Fatalf("load personality %s: %v", shapesID, err)
	}
	s.Row = object(t, row)
	s.Custom = object(t, s.Row["custom_fields"])
	if !isNull(llm) {
		s.LLM = object(t, llm)
		s.Params = object(t, s.LLM["advanced_parameters"])
	}
	if !isNull(voice) {
		s.Voice = object(t, voice)
	}
	for k, spec := range recordSpecs {
		rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT source_id, to_jsonb(t) FROM %s t WHERE personality_id = $1`, spec.table), id)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]map[string]json.RawMessage{}
		for rows.Next() {
			var sid string
			var raw json.RawMessage
			if err := rows.Scan(&sid, &raw); err != nil {
				t.Fatal(err)
			}
			m[sid] = object(t, raw)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		s.Records[RecordKind(k)] = m
	}
	return s
}

func object(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	if isNull(raw) {
		return map[string]json.RawMessage{}
	}
	m, ok := asObject(raw)
	if !ok {
		t.Fatalf("not an object: %s", raw)
	}
	return m
}

// sameJSON compares two JSON values by meaning: numbers by value (PostgreSQL
// may write 1.0 as 1.0 and Go as 1), objects regardless of key order.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(normalize(va), normalize(vb))
}

func normalize(v any) any {
	switch x := v.(type) {
	case string:
		// A numeric string and a number are the same value to the importer.
		return x
	case float64:
		return math.Round(x*1e9) / 1e9
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}

func numberOf(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	_, f, ok := asNumber(raw)
	if !ok {
		t.Fatalf("not a number: %s", raw)
	}
	return f
}

func marshalProfile(t *testing.T, p map[string]any) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for k, v := range p {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// rules indexes profileFields by key.
func rules() map[string]string {
	m := map[string]string{}
	for _, f := range profileFields {
		m[f.Key] = f.Dest
	}
	return m
}

// checkNothingLost asserts that every key of the source profile is where
// docs/import.md says: a column, a config, custom_fields, shapesRejected
// (with a warning), shapesExtra (unknown keys), or the drop list.
func checkNothingLost(t *testing.T, src map[string]json.RawMessage, s *stored, issues []Issue) {
	t.Helper()
	slug, _ := asString(s.Row["slug"])
	rejected := object(t, s.Custom[CustomRejected])
	extra := object(t, s.Custom[CustomExtra])
	where := rules()
	col := func(name string) json.RawMessage { return s.Row[name] }
	for key, raw := range src {
		errorf := func(format string, args ...any) {
			t.Helper()
			t.Errorf("%s: %s = %s: %s", slug, key, raw, fmt.Sprintf(format, args...))
		}
		// aliases: the usable ones are stored, only the others are kept in
		// shapesRejected (checked with the special fields below).
		if r, ok := rejected[key]; ok && key != "aliases" {
			if !sameJSON(r, raw) {
				errorf("shapesRejected holds %s", r)
			}
			if !issueMentions(issues, key) {
				errorf("rejected without a warning")
			}
			continue
		}
		dest, known := where[key]
		if !known {
			if e, ok := extra[key]; !ok || !sameJSON(e, raw) {
				errorf("unknown key not kept verbatim in custom_fields.%s (got %s)", CustomExtra, e)
			}
			continue
		}
		if isNull(raw) {
			continue // null means "not set": nothing to keep
		}
		kind, arg, _ := strings.Cut(dest, ":")
		str, _ := asString(raw)
		switch kind {
		case "column":
			for _, c := range strings.Split(arg, ",") {
				want := raw
				switch {
				case key == "jailbreak" && str == "":
					name, _ := asString(src["name"])
					want = mustJSON("You are " + name + ".")
				case key == "error_message" && str == "":
					want = json.RawMessage("null")
				case key == "avatar_url" && src["avatar"] != nil && !sameJSON(src["avatar"], raw):
					if !sameJSON(extra["avatar_url"], raw) {
						errorf("a second, different avatar is not kept in shapesExtra")
					}
					continue
				case key == "personality_appearance" && str == "":
					continue // filled from shape_settings.appearance, checked there
				}
				if !sameJSON(col(c), want) {
					errorf("column %s holds %s", c, col(c))
				}
			}
		case "custom":
			got, ok := s.Custom[arg]
			if isEmpty(raw) {
				if ok {
					errorf("empty value stored as custom_fields.%s = %s", arg, got)
				}
			} else if !ok || !sameJSON(got, raw) {
				errorf("custom_fields.%s = %s", arg, got)
			}
		case "llm":
			if s.LLM == nil {
				errorf("no llm config")
				continue
			}
			if arg == "model" {
				want := str
				if strings.TrimSpace(str) == "" {
					want = DefaultModel
				}
				if got, _ := asString(s.LLM["model"]); got != want {
					errorf("llm model = %s", got)
				}
				continue
			}
			if numberOf(t, s.Params[arg]) != numberOf(t, raw) {
				errorf("advanced_parameters.%s = %s", arg, s.Params[arg])
			}
		case "voice":
			if s.Voice == nil {
				if str == "" && (key == "voice_id" || key == "voice_model") {
					continue
				}
				if key == "voice_transcription_enabled" && string(raw) == "false" {
					continue // off is the default: no voice config needed
				}
				errorf("no voice config")
				continue
			}
			if key == "voice_transcription_enabled" {
				if got := s.Voice["transcription_enabled"]; !sameJSON(got, raw) {
					errorf("voice transcription_enabled = %s", got)
				}
				if _, ok := s.Custom["voiceTranscriptionEnabled"]; ok {
					errorf("also kept in custom_fields.voiceTranscriptionEnabled")
				}
				continue
			}
			column := strings.TrimPrefix(arg, "voice_")
			if key == "voice_id" || key == "voice_model" {
				if str == "" {
					continue
				}
				if !sameJSON(s.Voice[arg], raw) {
					errorf("voice %s = %s", arg, s.Voice[arg])
				}
				continue
			}
			if numberOf(t, s.Voice[column]) != numberOf(t, raw) {
				errorf("voice %s = %s", column, s.Voice[column])
			}
		case "special":
			checkSpecial(t, arg, key, raw, src, s, issues, errorf)
		case "drop":
			// Dropped on purpose; make sure it really went nowhere.
			if str != "" && strings.Contains(string(mustJSON(s.Custom)), str) {
				errorf("a dropped field was stored")
			}
		default:
			t.Fatalf("rule %q for %s has an unknown kind", dest, key)
		}
	}
}

func checkSpecial(t *testing.T, what, key string, raw json.RawMessage, src map[string]json.RawMessage, s *stored, issues []Issue, errorf func(string, ...any)) {
	t.Helper()
	str, _ := asString(raw)
	switch what {
	case "shapes_id":
		if !sameJSON(s.Row["shapes_id"], raw) {
			errorf("shapes_id = %s", s.Row["shapes_id"])
		}
	case "slug":
		slug, _ := asString(s.Row["slug"])
		if slug != slugify(str) || !sameJSON(s.Custom["shapesUsername"], raw) {
			errorf("slug %s, custom shapesUsername %s", slug, s.Custom["shapesUsername"])
		}
	case "birthday":
		if str == "" {
			return
		}
		b, err := parseBirthday(str)
		if err != nil {
			if !sameJSON(s.Custom[CustomBirthday], raw) {
				errorf("unparseable birthday not kept verbatim: %s", s.Custom[CustomBirthday])
			}
			return
		}
		got := fmt.Sprintf("%s/%s/%s", s.Row["birth_month"], s.Row["birth_day"], s.Row["birth_year"])
		want := fmt.Sprintf("%d/%d/%s", b.Month, b.Day, map[bool]string{true: "null", false: fmt.Sprint(b.Year)}[b.Year == 0])
		if got != want {
			errorf("birth month/day/year = %s, want %s", got, want)
		}
	case "aliases":
		names, _ := parseAliasList(raw)
		var rejected []string
		if r, ok := object(t, s.Custom[CustomRejected])["aliases"]; ok {
			if err := json.Unmarshal(r, &rejected); err != nil {
				errorf("shapesRejected.aliases is not a list of names: %s", r)
			}
		}
		for _, n := range names {
			found := false
			for _, a := range s.Aliases {
				found = found || strings.EqualFold(a, n)
			}
			kept := false
			for _, a := range rejected {
				kept = kept || a == n
			}
			heldByAnother := false
			for _, i := range issues {
				heldByAnother = heldByAnother || (strings.Contains(i.Message, fmt.Sprintf("%q", n)) &&
					(strings.Contains(i.Message, "is claimed by both") || strings.Contains(i.Message, "is already used by")))
			}
			switch {
			case !found && !kept && !heldByAnother:
				// Only an alias another personality holds may be left out
				// (it stays with its holder), and that is reported.
				errorf("alias %q neither stored nor kept in %s.aliases", n, CustomRejected)
			case kept && !issueMentions(issues, n):
				errorf("alias %q kept in %s.aliases without a warning", n, CustomRejected)
			}
		}
	case "shape_settings":
		settings, _ := asObject(raw)
		left := object(t, s.Custom["shapeSettings"])
		for k, v := range settings {
			switch {
			case k == "shape_initial_message":
				if !sameJSON(s.Custom["initialMessage"], v) {
					errorf("initialMessage = %s", s.Custom["initialMessage"])
				}
			case k == "appearance" && isEmpty(v):
			case k == "appearance" && sameJSON(s.Row["appearance"], v):
			default:
				if !sameJSON(left[k], v) {
					errorf("shape_settings.%s not kept in custom_fields.shapeSettings (got %s)", k, left[k])
				}
			}
		}
	case "deleted":
		if del, _ := asBool(raw); del {
			errorf("a deleted profile was imported")
		}
	default:
		t.Fatalf("unknown special rule %q", what)
	}
}

func issueMentions(issues []Issue, s string) bool {
	for _, i := range issues {
		if strings.Contains(i.String(), s) {
			return true
		}
	}
	return false
}

// recordColumns says which column holds each record field that leaves the
// source object.
var recordColumns = map[RecordKind]map[string]string{
	Memories:            {"result": "content", "summary_type": "summary_type", "senders": "senders"},
	Stories:             {"story_type": "story_type", "title": "title", "content": "content"},
	UserPersonalization: {"preferred_name": "preferred_name", "pronouns": "pronouns", "backstory": "backstory"},
	ChatHistory:         {"message": "message", "reply": "reply"},
}

// checkRecordsKept asserts every record of every file is stored: each field
// either in the row's source object verbatim or in its column, deleted
// records absent.
func checkRecordsKept(t *testing.T, p *genPersonality, s *stored) {
	t.Helper()
	for gk, recs := range p.Files {
		kind := RecordKind(gk)
		rows := s.Records[kind]
		for i, rec := range recs {
			raw := mustJSON(rec)
			obj, isObj := asObject(raw)
			if !isObj {
				continue // checked by the bad-input tests
			}
			if del, _ := asBool(obj["deleted"]); del {
				id, _ := recordID(obj["id"])
				if _, ok := rows[id]; ok {
					t.Errorf("%s %s[%d]: a deleted record was imported", p.Slug, kind, i)
				}
				continue
			}
			id := contentID(raw)
			switch kind {
			case UserPersonalization:
				id = "backup-owner"
				if s, ok := recordID(obj["user_id"]); ok {
					id = s
				}
			case Training:
				if s, ok := recordID(obj["id"]); ok {
					id = s
				}
			default:
				if s, ok := recordID(obj["id"]); ok {
					id = s
				}
			}
			row, ok := rows[id]
			if !ok {
				t.Errorf("%s %s[%d]: not stored (id %s)", p.Slug, kind, i, id)
				continue
			}
			source := object(t, row["source"])
			if kind == Training {
				if !sameJSON(row["source"], raw) {
					t.Errorf("%s %s[%d]: stored %s, want %s", p.Slug, kind, i, row["source"], raw)
				}
				continue
			}
			for k, v := range obj {
				if sv, ok := source[k]; ok {
					if !sameJSON(sv, v) {
						t.Errorf("%s %s[%d].%s: source holds %s, want %s", p.Slug, kind, i, k, sv, v)
					}
					continue
				}
				switch {
				case k == "id" || k == "user_id":
					continue // the row's source_id
				case k == "shape_id" && sameJSON(v, mustJSON(p.ID)):
					continue // the row's personality
				case k == "deleted":
					continue // false: the default
				}
				c, mapped := recordColumns[kind][k]
				if !mapped {
					t.Errorf("%s %s[%d].%s = %s: lost (not in source, no column)", p.Slug, kind, i, k, v)
					continue
				}
				if isNull(v) && string(row[c]) == `""` {
					continue // null is "not set", stored as an empty text column
				}
				if !sameJSON(row[c], v) {
					t.Errorf("%s %s[%d].%s: column %s holds %s, want %s", p.Slug, kind, i, k, c, row[c], v)
				}
			}
		}
	}
}

func TestGeneratedBackupLosesNothing(t *testing.T) {
	pool := pgtest.New(t)
	g := generateBackup(t, genOptions{Personalities: 66, Memories: 12, Broken: true, Seed: 66})
	sum, report := importShapes(t, pool, g.Root, Options{OwnerDiscordID: "555555555555555555"})

	// 66 good + 5 imported with warnings; the deleted one skipped; the
	// one with a truncated memory file failed whole.
	if sum.Created != 71 || sum.Skipped != 1 || sum.Failed != 1 || sum.Updated+sum.Unchanged != 0 {
		t.Fatalf("created/skipped/failed = %d/%d/%d, want 71/1/1\n%s", sum.Created, sum.Skipped, sum.Failed, report)
	}
	checked := 0
	for _, p := range append(g.Good, mapValues(g.Warned)...) {
		s := loadStored(t, pool, p.ID)
		checkNothingLost(t, marshalProfile(t, p.Profile), s, sum.Issues)
		checkRecordsKept(t, p, s)
		checked++
	}
	if checked != 71 {
		t.Fatalf("checked %d personalities", checked)
	}
	// The dropped field's secret is nowhere in the database.
	if n := queryInt(t, pool, `SELECT count(*) FROM personalities WHERE custom_fields::text LIKE '%GEN-SECRET%'`); n != 0 {
		t.Errorf("%d personalities store x_auth_url's token", n)
	}

	// Memories: everything not deleted, deleted ones counted.
	wantMem, wantDeleted := 0, 0
	for _, p := range append(g.Good, mapValues(g.Warned)...) {
		for _, m := range p.Files[shapestest.Memories] {
			if obj, ok := m.(map[string]any); ok && obj["deleted"] != true {
				wantMem++
			} else if ok {
				wantDeleted++
			}
		}
	}
	wantMem++ // the bare-string memory in broken-records
	if got := queryInt(t, pool, `SELECT count(*) FROM personality_memories`); got != wantMem {
		t.Errorf("%d memories stored, want %d", got, wantMem)
	}
	mem := sum.Records[Memories]
	if mem.Deleted != wantDeleted || mem.Invalid != 2 {
		t.Errorf("memories deleted/invalid = %d/%d, want %d/2", mem.Deleted, mem.Invalid, wantDeleted)
	}

	// A second run finds nothing to do.
	again, report := importShapes(t, pool, g.Root, Options{OwnerDiscordID: "555555555555555555"})
	if again.Unchanged != 71 || again.Created+again.Updated != 0 {
		t.Fatalf("second run: created/updated/unchanged = %d/%d/%d, want 0/0/71\n%s", again.Created, again.Updated, again.Unchanged, report)
	}
	for k, c := range again.Records {
		if c.New+c.Updated != 0 {
			t.Errorf("second run wrote %s: %+v", RecordKind(k), c)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestDocsListEveryField keeps docs/import.md honest: every key the mapping
// knows appears in its table.
func TestDocsListEveryField(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(exampleBackup(t), "..", "..", "docs", "import.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range profileFields {
		keys = append(keys, f.Key)
	}
	for _, f := range shapeSettingsFields {
		keys = append(keys, "shape_settings."+f.Key)
	}
	for _, f := range v2Fields {
		keys = append(keys, f.Key)
	}
	for _, spec := range recordSpecs {
		keys = append(keys, spec.table)
		if !bytes.Contains(doc, []byte("`<slug>"+spec.suffix+"`")) {
			t.Errorf("docs/import.md does not list the record file `<slug>%s`", spec.suffix)
		}
	}
	for _, k := range keys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/import.md does not list `%s`", k)
		}
	}
}
