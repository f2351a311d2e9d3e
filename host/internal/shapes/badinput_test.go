package shapes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// findIssue returns the first issue about file (a path suffix) whose text
// contains every part.
func findIssue(issues []Issue, sev Severity, fileSuffix string, parts ...string) (Issue, bool) {
	for _, i := range issues {
		if i.Severity != sev || !strings.HasSuffix(i.File, fileSuffix) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(i.String(), p)
		}
		if all {
			return i, true
		}
	}
	return Issue{}, false
}

// TestBadInput imports a backup holding two good personalities and every
// broken case, and checks that each case is reported with its file and
// field, that the rest is imported, and that the database never holds
// half a personality.
func TestBadInput(t *testing.T) {
	pool := pgtest.New(t)
	g := generateBackup(t, genOptions{Personalities: 2, Memories: 6, Broken: true, Seed: 7})
	sum, report := importShapes(t, pool, g.Root, Options{})
	t.Logf("report:\n%s", report)
	personality := func(slug string) int {
		return queryInt(t, pool, `SELECT count(*) FROM personalities WHERE slug = $1`, slug)
	}

	t.Run("the rest is imported", func(t *testing.T) {
		if sum.Created != 7 { // 2 good + voice, birthday, alias a and b, records
			t.Errorf("created %d, want 7", sum.Created)
		}
		for _, p := range g.Good {
			if personality(p.Slug) != 1 {
				t.Errorf("good personality %s not imported", p.Slug)
			}
		}
	})

	t.Run("truncated profile JSON", func(t *testing.T) {
		file := filepath.Join(brokenTruncated, brokenTruncated+".json")
		if _, ok := findIssue(sum.Issues, Error, file, "truncated after", "personality not imported"); !ok {
			t.Errorf("no error naming %s as truncated", file)
		}
		if personality(brokenTruncated) != 0 {
			t.Error("a truncated profile was imported")
		}
	})

	t.Run("invalid profile JSON", func(t *testing.T) {
		file := filepath.Join(brokenGarbage, brokenGarbage+".json")
		if _, ok := findIssue(sum.Issues, Error, file, "invalid JSON at byte"); !ok {
			t.Errorf("no error naming %s as invalid JSON with a position", file)
		}
	})

	t.Run("profile that is not an object", func(t *testing.T) {
		file := filepath.Join(brokenArray, brokenArray+".json")
		if _, ok := findIssue(sum.Issues, Error, file, "expected a JSON object"); !ok {
			t.Errorf("no error for %s", file)
		}
	})

	t.Run("profile missing required fields", func(t *testing.T) {
		file := filepath.Join(brokenMissing, brokenMissing+".json")
		for _, field := range []string{"id", "name"} {
			found := false
			for _, is := range sum.Issues {
				found = found || (is.Severity == Error && strings.HasSuffix(is.File, file) && is.Field == field)
			}
			if !found {
				t.Errorf("no error naming the missing field %q", field)
			}
		}
		if personality(brokenMissing) != 0 {
			t.Error("a profile without id and name was imported")
		}
	})

	t.Run("voice stability 1.7", func(t *testing.T) {
		file := filepath.Join(brokenVoice, brokenVoice+".json")
		i, ok := findIssue(sum.Issues, Warning, file, "1.7", "outside the allowed range", CustomRejected)
		if !ok || i.Field != "voice_stability" {
			t.Fatalf("no warning for voice_stability in %s (got %+v)", file, i)
		}
		var stability, similarity float64
		var rejected json.RawMessage
		err := pool.QueryRow(context.Background(), `SELECT v.stability, v.similarity, p.custom_fields -> 'shapesRejected' -> 'voice_stability'
			FROM voice_configs v JOIN personalities p ON p.id = v.personality_id WHERE p.slug = $1`, brokenVoice).Scan(&stability, &similarity, &rejected)
		if err != nil {
			t.Fatal(err)
		}
		if stability != 0.5 || similarity != 0.5 || string(rejected) != "1.7" {
			t.Errorf("voice stability %v (want the default 0.5), similarity %v, kept value %s", stability, similarity, rejected)
		}
	})

	t.Run(`voice transcription "yes"`, func(t *testing.T) {
		file := filepath.Join(brokenVoice, brokenVoice+".json")
		i, ok := findIssue(sum.Issues, Warning, file, "should be true or false but is text", CustomRejected)
		if !ok || i.Field != "voice_transcription_enabled" {
			t.Fatalf("no warning for voice_transcription_enabled in %s (got %+v)", file, i)
		}
		var on bool
		var rejected json.RawMessage
		err := pool.QueryRow(context.Background(), `SELECT v.transcription_enabled, p.custom_fields -> 'shapesRejected' -> 'voice_transcription_enabled'
			FROM voice_configs v JOIN personalities p ON p.id = v.personality_id WHERE p.slug = $1`, brokenVoice).Scan(&on, &rejected)
		if err != nil {
			t.Fatal(err)
		}
		if on || string(rejected) != `"yes"` {
			t.Errorf("transcription %v (want the default off), kept value %s", on, rejected)
		}
	})

	t.Run("birthday 13-45", func(t *testing.T) {
		file := filepath.Join(brokenBirthday, brokenBirthday+".json")
		i, ok := findIssue(sum.Issues, Warning, file, `"13-45"`, "month 13")
		if !ok || i.Field != "birthday" {
			t.Fatalf("no warning for birthday in %s", file)
		}
		var kept string
		var month *int16
		if err := pool.QueryRow(context.Background(), `SELECT custom_fields ->> 'birthday', birth_month FROM personalities WHERE slug = $1`,
			brokenBirthday).Scan(&kept, &month); err != nil {
			t.Fatal(err)
		}
		if kept != "13-45" || month != nil {
			t.Errorf("birthday kept as %q with month %v; want it verbatim in custom_fields and no month", kept, month)
		}
	})

	t.Run("two personalities claim one alias", func(t *testing.T) {
		i, ok := findIssue(sum.Issues, Warning, filepath.Join(brokenAliasB, brokenAliasB+".json"), `"twin"`, brokenAliasA, brokenAliasB)
		if !ok || i.Field != "aliases[0]" {
			t.Fatalf("no warning naming both personalities for the alias (got %+v)", i)
		}
		var holder string
		if err := pool.QueryRow(context.Background(), `SELECT p.slug FROM personality_aliases a JOIN personalities p ON p.id = a.personality_id
			WHERE lower(a.alias) = 'twin'`).Scan(&holder); err != nil {
			t.Fatal(err)
		}
		if holder != brokenAliasA {
			t.Errorf("alias held by %s, want the first claimant %s", holder, brokenAliasA)
		}
		if n := queryInt(t, pool, `SELECT count(*) FROM personality_aliases WHERE alias IN ('only-a', 'only-b')`); n != 2 {
			t.Errorf("the claimants' other aliases: %d stored, want 2", n)
		}
	})

	t.Run("memory file for a personality not in the backup", func(t *testing.T) {
		file := filepath.Join(brokenOrphan, "ghost_memories.json")
		if _, ok := findIssue(sum.Issues, Error, file, `memories for "ghost"`, "no profile ghost.json"); !ok {
			t.Errorf("no error naming %s", file)
		}
		if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories WHERE content = 'a ghost''s memory'`); n != 0 {
			t.Error("an orphan memory was stored")
		}
	})

	t.Run("truncated memory file fails its whole personality", func(t *testing.T) {
		file := filepath.Join(brokenTruncatedRecords, brokenTruncatedRecords+"_memories.json")
		if _, ok := findIssue(sum.Issues, Error, file, "truncated after", "nothing of this personality was written"); !ok {
			t.Errorf("no error naming %s as truncated", file)
		}
		if sum.Failed != 1 {
			t.Errorf("failed = %d, want 1", sum.Failed)
		}
		if personality(brokenTruncatedRecords) != 0 {
			t.Error("the personality of a truncated memory file was written")
		}
		if n := queryInt(t, pool, `SELECT count(*) FROM personality_aliases WHERE alias = 'half-written'`); n != 0 {
			t.Error("half a personality: its alias was written")
		}
	})

	t.Run("records that are not objects", func(t *testing.T) {
		file := filepath.Join(brokenRecords, brokenRecords+"_memories.json")
		if _, ok := findIssue(sum.Issues, Warning, file, "should be an object but is a number; skipped"); !ok {
			t.Errorf("no warning for the number record in %s", file)
		}
		if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories WHERE content = 'A bare string memory.'`); n != 1 {
			t.Error("a bare string memory was not kept as a memory")
		}
	})

	t.Run("deleted profile skipped", func(t *testing.T) {
		if sum.Skipped != 1 || personality(brokenDeleted) != 0 {
			t.Errorf("skipped %d; deleted personality rows %d", sum.Skipped, personality(brokenDeleted))
		}
	})
}

func TestAliasHeldByAnExistingPersonalityIsReportedNotTaken(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('local', 'Local Hero') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO personality_aliases (personality_id, alias) VALUES ($1, 'SPROUT')`, id); err != nil {
		t.Fatal(err)
	}
	sum, report := importShapes(t, pool, exampleBackup(t), Options{})
	if sum.Created != 3 {
		t.Fatalf("created %d:\n%s", sum.Created, report)
	}
	i, ok := findIssue(sum.Issues, Warning, "example-gardener.json", `"Sprout"`, "Local Hero", "Example Gardener")
	if !ok || i.Field != "aliases[1]" {
		t.Errorf("collision with an existing alias not reported naming both:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_aliases WHERE lower(alias) = 'sprout' AND personality_id = $1`, id); n != 1 {
		t.Error("the existing holder lost its alias")
	}
}

func TestSlugTakenByAnotherPersonalityGetsASuffix(t *testing.T) {
	pool := pgtest.New(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO personalities (slug, name) VALUES ('example-gardener', 'Someone Else')`); err != nil {
		t.Fatal(err)
	}
	sum, report := importShapes(t, pool, exampleBackup(t), Options{})
	if sum.Created != 3 || queryInt(t, pool, `SELECT count(*) FROM personalities WHERE slug = 'example-gardener-2' AND name = 'Example Gardener'`) != 1 {
		t.Fatalf("gardener not imported as example-gardener-2:\n%s", report)
	}
	if _, ok := findIssue(sum.Issues, Warning, "example-gardener.json", `imported as "example-gardener-2"`); !ok {
		t.Errorf("slug change not reported:\n%s", report)
	}
	// The re-import finds it by its shapes.inc id, not its slug.
	again, report := importShapes(t, pool, exampleBackup(t), Options{})
	if again.Unchanged != 3 {
		t.Fatalf("re-import after a slug change:\n%s", report)
	}
}

func TestRecordReaderSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"empty", "", "the file is empty"},
		{"truncated list", `[{"id": 1}, {"id": 2`, "truncated after"},
		{"truncated object", `{"messages": [{"id": 1}]`, "truncated after"},
		{"garbage", `[{"id": 1}, nope]`, "invalid JSON at byte"},
		{"scalar", `42`, "expected a JSON list or object, found a number"},
		{"list key holding an object", `{"messages": {"id": 1}}`, `field "messages" should be a list of records`},
		{"two documents", `[] []`, "unexpected data after the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := newRecordReader(strings.NewReader(tc.input), "messages")
			var err error
			for err == nil {
				_, err = rr.Next()
			}
			if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRecordReaderKeepsTheHeaderWhereverItIs(t *testing.T) {
	rr := newRecordReader(strings.NewReader(`{"shape_id": "s", "messages": [{"id": "a"}, {"id": "b"}], "message_count": 2, "items": null}`), "messages", "items")
	var ids []string
	for {
		raw, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		obj, _ := asObject(raw)
		id, _ := asString(obj["id"])
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "a,b" || string(rr.Header["shape_id"]) != `"s"` || string(rr.Header["message_count"]) != "2" || string(rr.Header["items"]) != "null" {
		t.Errorf("records %v, header %v", ids, rr.Header)
	}
}

func TestBirthdayForms(t *testing.T) {
	for in, want := range map[string]string{
		"12-24": "12/24/0", "1990-04-02": "4/2/1990", "--07-04": "7/4/0", "02-29": "2/29/0", "2000-02-29": "2/29/2000",
		"13-45": "error", "02-30": "error", "1999-02-29": "error", "0000-01-01": "error", "tomorrow": "error", "12/24": "error",
	} {
		b, err := parseBirthday(in)
		got := "error"
		if err == nil {
			got = strings.Join([]string{itoa(b.Month), itoa(b.Day), itoa(b.Year)}, "/")
		}
		if got != want {
			t.Errorf("parseBirthday(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Replace(string(mustJSON(i)), "\"", "", -1)) }

func TestV2StoreThatIsNotAStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"truncated.json": `{"personalities": {"a": {"id": "a"`,
		"shapes.json":    `{"id": "x", "name": "a shapes profile, not a v2 store"}`,
		"list.json":      `[1, 2]`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := NewImporter(nil, Options{}).ImportV2(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func TestCredentialLookingKeysAreNotStored(t *testing.T) {
	pool := pgtest.New(t)
	dir := filepath.Join(t.TempDir(), "keyholder")
	writeJSON(t, filepath.Join(dir, "keyholder.json"), map[string]any{
		"id": "55555555-6666-4777-8888-999999999999", "name": "Key Holder", "username": "keyholder",
		"api_key": "sk-live-DO-NOT-STORE", "sessionCookie": "cookie-DO-NOT-STORE", "x_auth_url": "https://x.example/?token=DO-NOT-STORE",
		"max_tokens": 4096, "token_hint": "", "favourite_colour": "teal",
	})
	sum, report := importShapes(t, pool, dir, Options{})
	if sum.Created != 1 {
		t.Fatalf("not imported:\n%s", report)
	}
	var custom string
	if err := pool.QueryRow(context.Background(), `SELECT custom_fields::text FROM personalities`).Scan(&custom); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(custom, "DO-NOT-STORE") {
		t.Errorf("a credential was stored: %s", custom)
	}
	for _, kept := range []string{`"max_tokens": 4096`, `"favourite_colour": "teal"`, `"token_hint": ""`} {
		if !strings.Contains(custom, kept) {
			t.Errorf("%s was not kept: %s", kept, custom)
		}
	}
	for _, key := range []string{"api_key", "sessionCookie"} {
		reported := false
		for _, i := range sum.Issues {
			reported = reported || (i.Field == key && strings.Contains(i.Message, "looks like a credential"))
		}
		if !reported {
			t.Errorf("dropping %s was not reported:\n%s", key, report)
		}
	}
}

func TestDryRunAnnouncesANewOwnerOnceAndWritesNothing(t *testing.T) {
	pool := pgtest.New(t)
	sum, report := importShapes(t, pool, exampleBackup(t), Options{DryRun: true, OwnerDiscordID: "987654321"})
	if sum.Created != 3 || strings.Count(report, "new user 987654321 (owner)") != 1 {
		t.Fatalf("dry run report:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM personalities) + (SELECT count(*) FROM personality_memories)`); n != 0 {
		t.Errorf("dry run wrote %d rows", n)
	}
}

// TestHiddenFoldersAndLinksAreReportedAndLinksNeverFollowed: a backup is
// the files under the path given. A hidden folder is skipped with a
// warning; a symbolic link is never followed (it could point anywhere the
// operator's account can read) and each is named in a warning.
func TestHiddenFoldersAndLinksAreReportedAndLinksNeverFollowed(t *testing.T) {
	pool := pgtest.New(t)
	root := filepath.Join(t.TempDir(), "backups")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	profile := func(slug string) map[string]any {
		return map[string]any{"id": "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(slug)) + slug, "name": "P " + slug, "username": slug}
	}
	writeJSON(t, filepath.Join(root, "keeper", "keeper.json"), profile("keeper"))
	writeJSON(t, filepath.Join(root, ".hidden", ".hidden.json"), profile("hidden"))
	writeJSON(t, filepath.Join(root, "keeper", ".notes.json"), profile("notes"))
	writeJSON(t, filepath.Join(root, "keeper", "nested", "nested.json"), profile("nested"))
	// Outside the backup: a whole backup folder, a profile and a memory file.
	writeJSON(t, filepath.Join(outside, "far", "far.json"), profile("far"))
	writeJSON(t, filepath.Join(outside, "stray.json"), profile("stray"))
	writeJSON(t, filepath.Join(outside, "secret_memories.json"), []any{map[string]any{"id": "m1", "result": "read from outside the backup"}})
	links := map[string]string{
		filepath.Join(root, "far"):                            filepath.Join(outside, "far"),
		filepath.Join(root, "keeper", "stray.json"):           filepath.Join(outside, "stray.json"),
		filepath.Join(root, "keeper", "keeper_memories.json"): filepath.Join(outside, "secret_memories.json"),
		// A link that stays inside the backup is refused too.
		filepath.Join(root, "keeper", "twin.json"): filepath.Join(root, "keeper", "keeper.json"),
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	sum, report := importShapes(t, pool, root, Options{})
	if sum.Created != 1 || sum.Failed != 0 || queryInt(t, pool, `SELECT count(*) FROM personalities WHERE slug = 'keeper'`) != 1 {
		t.Fatalf("want keeper (and only keeper) imported:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories`); n != 0 {
		t.Errorf("%d memories read through a link to a file outside the backup", n)
	}
	for link := range links {
		if _, ok := findIssue(sum.Issues, Warning, link, "symbolic link", "not followed"); !ok {
			t.Errorf("the link %s is not reported:\n%s", link, report)
		}
	}
	for file, words := range map[string]string{
		filepath.Join(root, ".hidden"):               "hidden folder",
		filepath.Join(root, "keeper", ".notes.json"): "hidden file",
		filepath.Join(root, "keeper", "nested"):      "folder inside a backup folder",
	} {
		if _, ok := findIssue(sum.Issues, Warning, file, words, "skipped"); !ok {
			t.Errorf("%s is skipped without a word:\n%s", file, report)
		}
	}
}

// TestAliasTooLongIsKeptNotDropped: an alias over 100 characters cannot
// call a personality, but like every unusable value it is kept (shapes.inc:
// custom_fields.shapesRejected.aliases; v2: custom_fields.v2.unusableAliases),
// with a warning naming the file and field.
func TestAliasTooLongIsKeptNotDropped(t *testing.T) {
	pool := pgtest.New(t)
	long := "L" + strings.Repeat("o", 99) + "ng" // 102 characters
	dir := filepath.Join(t.TempDir(), "longalias")
	profile := filepath.Join(dir, "longalias.json")
	writeJSON(t, profile, map[string]any{
		"id": "66666666-6666-4666-8666-666666666666", "name": "Long Alias", "username": "longalias",
		"aliases": []any{"Shorty", long},
	})
	sum, report := importShapes(t, pool, dir, Options{})
	if sum.Created != 1 {
		t.Fatalf("not imported:\n%s", report)
	}
	var kept json.RawMessage
	if err := pool.QueryRow(context.Background(), `SELECT custom_fields -> 'shapesRejected' -> 'aliases' FROM personalities WHERE slug = 'longalias'`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(kept, mustJSON([]string{long})) {
		t.Errorf("shapesRejected.aliases = %s, want the long alias", kept)
	}
	if queryInt(t, pool, `SELECT count(*) FROM personality_aliases WHERE alias = 'Shorty'`) != 1 {
		t.Error("the usable alias was not stored")
	}
	if i, ok := findIssue(sum.Issues, Warning, profile, "longer than 100", "shapesRejected.aliases"); !ok || i.Field != "aliases[1]" {
		t.Errorf("no warning naming the file and field:\n%s", report)
	}

	store := filepath.Join(t.TempDir(), "personalities.json")
	writeJSON(t, store, map[string]any{
		"personalities": map[string]any{"p1": map[string]any{"id": "p1", "profile": map[string]any{"name": "v2-long", "displayName": "V2 Long"},
			"aliases": []any{map[string]any{"value": strings.ToLower(long) + "x", "originalCase": long + "x"}}}},
		"aliases": map[string]any{strings.ToLower(long) + "y": "p1", "fine": "p1"},
	})
	v2sum, err := NewImporter(pool, Options{}).ImportV2(context.Background(), store)
	if err != nil || v2sum.Created != 1 {
		t.Fatalf("v2 import: %v %+v", err, v2sum)
	}
	if err := pool.QueryRow(context.Background(), `SELECT custom_fields -> 'v2' -> 'unusableAliases' FROM personalities WHERE slug = 'v2-long'`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(kept, mustJSON([]string{long + "x", strings.ToLower(long) + "y"})) {
		t.Errorf("v2 unusableAliases = %s", kept)
	}
	for _, field := range []string{"personalities.p1.aliases[0]", "aliases." + strings.ToLower(long) + "y"} {
		found := false
		for _, i := range v2sum.Issues {
			found = found || (i.Field == field && strings.Contains(i.Message, "longer than 100"))
		}
		if !found {
			t.Errorf("no warning for %s: %+v", field, v2sum.Issues)
		}
	}
}

// TestOwnerOnReimportNeverSplitsAPersonalityFromItsPersonalizations: a
// re-import never changes an owner that is set, so --owner naming someone
// else changes neither the personality nor its personalizations (and says
// so); an ownerless personality takes the owner, personalizations too.
func TestOwnerOnReimportNeverSplitsAPersonalityFromItsPersonalizations(t *testing.T) {
	pool := pgtest.New(t)
	owners := func() (personality, personalization string) {
		t.Helper()
		err := pool.QueryRow(context.Background(), `
SELECT COALESCE(po.discord_id, '-'), COALESCE((SELECT string_agg(COALESCE(uu.discord_id, '-'), ',')
    FROM personality_user_personalizations up LEFT JOIN users uu ON uu.id = up.user_id WHERE up.personality_id = p.id), 'none')
FROM personalities p LEFT JOIN users po ON po.id = p.owner_user_id WHERE p.slug = 'example-archivist'`).Scan(&personality, &personalization)
		if err != nil {
			t.Fatal(err)
		}
		return personality, personalization
	}

	importShapes(t, pool, exampleBackup(t), Options{})
	if p, u := owners(); p != "-" || u != "-" {
		t.Fatalf("without --owner: personality owner %s, personalization user %s; want none", p, u)
	}
	sum, report := importShapes(t, pool, exampleBackup(t), Options{OwnerDiscordID: "111"})
	if p, u := owners(); p != "111" || u != "111" {
		t.Fatalf("--owner on an ownerless personality: personality owner %s, personalization user %s; want 111 for both\n%s", p, u, report)
	}
	if len(sum.Issues) != 0 {
		t.Errorf("taking an owner is not a problem:\n%s", report)
	}

	sum, report = importShapes(t, pool, exampleBackup(t), Options{OwnerDiscordID: "222"})
	if p, u := owners(); p != "111" || u != "111" {
		t.Errorf("--owner 222 on a re-import: personality owner %s, personalization user %s; want both to stay 111\n%s", p, u, report)
	}
	if _, ok := findIssue(sum.Issues, Warning, "example-archivist.json", "--owner", "222", "already owned by 111"); !ok {
		t.Errorf("the owner not applied is not reported:\n%s", report)
	}
	if sum.Unchanged != 3 {
		t.Errorf("a re-import with another --owner changed something:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM users WHERE discord_id = '222'`); n != 0 {
		t.Errorf("a user was created for an owner that owns nothing")
	}

	// Handing it over is a database change (docs/import.md); the next
	// re-import moves the personalizations along.
	if _, err := pool.Exec(context.Background(), `WITH u AS (INSERT INTO users (discord_id) VALUES ('333') RETURNING id)
		UPDATE personalities SET owner_user_id = (SELECT id FROM u) WHERE slug = 'example-archivist'`); err != nil {
		t.Fatal(err)
	}
	importShapes(t, pool, exampleBackup(t), Options{})
	if p, u := owners(); p != "333" || u != "333" {
		t.Errorf("after handing it to 333: personality owner %s, personalization user %s; want 333 for both", p, u)
	}
}

// TestOneMegabyteMemoryIsCutAndKeptWhole: the database takes at most
// MaxMemoryRunes of a memory's text. A 1 MB memory in a backup is imported
// cut, with a warning saying so, and its whole text stays in the row's
// source; the import as a whole succeeds.
func TestOneMegabyteMemoryIsCutAndKeptWhole(t *testing.T) {
	pool := pgtest.New(t)
	root := filepath.Join(t.TempDir(), "backups")
	big := strings.Repeat("The lighthouse keeper counted waves. ", 1<<20/37)
	writeJSON(t, filepath.Join(root, "keeper", "keeper.json"), map[string]any{"id": "00000000-0000-4000-8000-00000000beef", "name": "Keeper", "username": "keeper"})
	writeJSON(t, filepath.Join(root, "keeper", "keeper_memories.json"), []any{
		map[string]any{"id": "big", "result": big},
		map[string]any{"id": "small", "result": "A short memory."},
	})
	sum, report := importShapes(t, pool, root, Options{})
	if sum.Created != 1 || sum.Failed != 0 {
		t.Fatalf("import failed:\n%s", report)
	}
	if _, ok := findIssue(sum.Issues, Warning, "keeper_memories.json", "memory big has", "the first 16000 are used", "whole text is kept"); !ok {
		t.Fatalf("no warning about the cut:\n%s", report)
	}
	if n := queryInt(t, pool, `SELECT char_length(content) FROM personality_memories WHERE source_id = 'big'`); n != MaxMemoryRunes {
		t.Fatalf("stored %d characters", n)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories WHERE source_id = 'big' AND source->>'result' = $1`, big); n != 1 {
		t.Fatal("the whole text is not in the source")
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories`); n != 2 {
		t.Fatalf("%d memories imported, want 2", n)
	}
}
