package shapes

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// exampleBackup is the sample backup shipped in examples/.
func exampleBackup(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "shapes-backup")
}

func importShapes(t testing.TB, pool *pgxpool.Pool, path string, opts Options) (*Summary, string) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	sum, err := NewImporter(pool, opts).ImportShapes(context.Background(), path)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	var report bytes.Buffer
	sum.WriteTo(&report)
	return sum, out.String() + report.String()
}

func queryInt(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestExampleBackupImportsEverythingOnceAndThenChangesNothing(t *testing.T) {
	pool := pgtest.New(t)
	sum, report := importShapes(t, pool, exampleBackup(t), Options{OwnerDiscordID: "123456789012345678"})
	if sum.Created != 3 || sum.Failed != 0 || sum.Errors != 0 || sum.Warnings != 0 {
		t.Fatalf("first import: want 3 created, no failures, no issues; got\n%s", report)
	}
	if got := sum.Records[Memories]; got.Read != 4 || got.New != 3 || got.Deleted != 1 {
		t.Errorf("memories: want 4 read, 3 new, 1 deleted skipped; got %+v", got)
	}
	for table, want := range map[string]int{
		"personalities": 3, "personality_aliases": 2, "llm_configs": 3, "voice_configs": 1,
		"personality_memories": 3, "personality_stories": 2, "personality_training_examples": 2,
		"personality_user_personalizations": 1, "personality_chat_messages": 3,
	} {
		if got := queryInt(t, pool, "SELECT count(*) FROM "+table); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	if got := queryInt(t, pool, `SELECT count(*) FROM personalities p JOIN users u ON u.id = p.owner_user_id WHERE u.discord_id = '123456789012345678'`); got != 3 {
		t.Errorf("%d personalities owned by --owner, want 3", got)
	}

	// Re-running the same backup is a no-op, and says so.
	again, report := importShapes(t, pool, exampleBackup(t), Options{OwnerDiscordID: "123456789012345678"})
	if again.Unchanged != 3 || again.Created+again.Updated+again.Failed != 0 {
		t.Fatalf("second import: want 3 unchanged; got\n%s", report)
	}
	if m := again.Records[Memories]; m.Unchanged != 3 || m.New+m.Updated != 0 {
		t.Errorf("second import memories: want 3 unchanged; got %+v", m)
	}
	if !strings.Contains(report, "unchanged    example-archivist") {
		t.Errorf("report does not say example-archivist is unchanged:\n%s", report)
	}
}

func TestExampleBackupFieldsLandWhereDocumented(t *testing.T) {
	pool := pgtest.New(t)
	importShapes(t, pool, exampleBackup(t), Options{})
	ctx := context.Background()

	var name, slug, systemPrompt, appearance string
	var errMsg *string
	var month, day, year *int16
	var custom json.RawMessage
	err := pool.QueryRow(ctx, `SELECT name, slug, system_prompt, appearance, error_message, birth_month, birth_day, birth_year, custom_fields
		FROM personalities WHERE shapes_id = '11111111-2222-4333-8444-555555555555'`).
		Scan(&name, &slug, &systemPrompt, &appearance, &errMsg, &month, &day, &year, &custom)
	if err != nil {
		t.Fatal(err)
	}
	if name != "Example Archivist" || slug != "example-archivist" {
		t.Errorf("name/slug = %q/%q", name, slug)
	}
	if errMsg == nil || *errMsg != "*the lamp flickers* Something went wrong in the stacks..." {
		t.Errorf("error_message = %v", errMsg)
	}
	if month == nil || *month != 12 || day == nil || *day != 24 || year != nil {
		t.Errorf("birthday 12-24 stored as %v/%v/%v", month, day, year)
	}
	var cf map[string]any
	if err := json.Unmarshal(custom, &cf); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"wackMessage": "Memory wiped.", "sleepMessage": "zzz", "initialMessage": "Hello. Mind the shelves.",
		"importSource": "shapes_inc", "shapesUsername": "example-archivist", "timezone": "America/New_York",
	} {
		if cf[key] != want {
			t.Errorf("custom_fields.%s = %v, want %v", key, cf[key], want)
		}
	}
	extra, _ := cf[CustomExtra].(map[string]any)
	if extra["tagline"] != "Everything is filed somewhere." {
		t.Errorf("an unknown profile key was not kept in custom_fields.%s: %v", CustomExtra, cf[CustomExtra])
	}

	var model string
	var params json.RawMessage
	if err := pool.QueryRow(ctx, `SELECT model, advanced_parameters FROM llm_configs c JOIN personalities p ON p.id = c.personality_id
		WHERE p.slug = 'example-gardener'`).Scan(&model, &params); err != nil {
		t.Fatal(err)
	}
	var ap map[string]float64
	if err := json.Unmarshal(params, &ap); err != nil {
		t.Fatal(err)
	}
	if model != "anthropic/claude-3.5-sonnet" || ap["temperature"] != 0.7 || ap["top_k"] != 40 || ap["repetition_penalty"] != 1.05 || ap["min_p"] != 0.05 {
		t.Errorf("gardener llm config = %s %v", model, ap)
	}

	var voiceID string
	var stability, similarity, style, frequency float64
	var transcription, keyLeft bool
	if err := pool.QueryRow(ctx, `SELECT voice_id, stability, similarity, style, frequency, transcription_enabled,
		p.custom_fields ? 'voiceTranscriptionEnabled'
		FROM voice_configs v JOIN personalities p ON p.id = v.personality_id
		WHERE p.slug = 'example-archivist'`).Scan(&voiceID, &stability, &similarity, &style, &frequency, &transcription, &keyLeft); err != nil {
		t.Fatal(err)
	}
	if voiceID != "EXAMPLEVOICEID" || stability != 0.53 || similarity != 0.74 || style != 0.16 || frequency != 1 || !transcription || keyLeft {
		t.Errorf("voice = %s %v %v %v %v, transcription %v (also in custom_fields: %v)", voiceID, stability, similarity, style, frequency, transcription, keyLeft)
	}

	var aliases []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(alias ORDER BY alias) FROM personality_aliases a JOIN personalities p ON p.id = a.personality_id
		WHERE p.slug = 'example-gardener'`).Scan(&aliases); err != nil {
		t.Fatal(err)
	}
	if strings.Join(aliases, ",") != "Gardener,Sprout" {
		t.Errorf("gardener aliases = %v", aliases)
	}
}
