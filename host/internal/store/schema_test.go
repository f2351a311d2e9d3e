package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/schema"
)

// childMigrateEnv makes the test binary act as another process that runs the
// migrations (see TestMigrateFromTwoProcessesAtOnce).
const childMigrateEnv = "TZUROT_TEST_MIGRATE_CHILD_DSN"

func TestMain(m *testing.M) {
	if dsn := os.Getenv(childMigrateEnv); dsn != "" {
		if err := schema.Migrate(context.Background(), dsn, slog.New(slog.DiscardHandler)); err != nil {
			fmt.Fprintln(os.Stderr, "child migrate:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func latestVersion(t *testing.T) int64 {
	t.Helper()
	entries, err := fs.ReadDir(schema.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	for _, e := range entries {
		var n int64
		if _, err := fmt.Sscanf(e.Name(), "%05d_", &n); err == nil && n > v {
			v = n
		}
	}
	if v == 0 {
		t.Fatal("no migrations found")
	}
	return v
}

// migrator returns a goose provider on dsn for stepping through versions.
func migrator(t *testing.T, dsn string) *goose.Provider {
	t.Helper()
	db, err := schema.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := schema.NewProvider(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func dbVersion(t *testing.T, p *goose.Provider) int64 {
	t.Helper()
	v, err := p.GetDBVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func userTables(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> $1 ORDER BY 1`, schema.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMigrateUpDownToZeroAndUpAgain(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	latest := latestVersion(t)

	if err := schema.Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	if v := dbVersion(t, p); v != latest {
		t.Fatalf("after up: version %d, want %d", v, latest)
	}
	first := userTables(t, pool)
	if len(first) < 10 {
		t.Fatalf("after up only tables %v", first)
	}
	// Running again applies nothing and fails nothing.
	if err := schema.Migrate(ctx, dsn, nil); err != nil {
		t.Fatalf("second up: %v", err)
	}

	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	// River's job queue tables are River's migrator's; `tzurot migrate down -to 0` removes them
	// after ours.
	if err := schema.RollbackRiver(ctx, dsn, nil); err != nil {
		t.Fatalf("River down: %v", err)
	}
	if v := dbVersion(t, p); v != 0 {
		t.Fatalf("after down: version %d", v)
	}
	if left := userTables(t, pool); len(left) != 0 {
		t.Fatalf("down to 0 left tables %v", left)
	}
	var funcs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`).Scan(&funcs); err != nil {
		t.Fatal(err)
	}
	if funcs != 0 {
		t.Fatalf("down to 0 left %d functions", funcs)
	}

	if err := schema.Migrate(ctx, dsn, nil); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if again := userTables(t, pool); strings.Join(again, ",") != strings.Join(first, ",") {
		t.Fatalf("tables after up/down/up differ:\n%v\n%v", first, again)
	}
}

func TestMigrateFromManyGoroutinesAtOnce(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = schema.Migrate(context.Background(), dsn, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	assertMigratedOnce(t, dsn)
}

func TestMigrateFromTwoProcessesAtOnce(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	cmds := make([]*exec.Cmd, 2)
	outs := make([]strings.Builder, 2)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), childMigrateEnv+"="+dsn)
		cmds[i].Stdout = &outs[i]
		cmds[i].Stderr = &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	assertMigratedOnce(t, dsn)
}

// assertMigratedOnce checks the schema is at the latest version and each
// migration is recorded exactly once.
func assertMigratedOnce(t *testing.T, dsn string) {
	t.Helper()
	pool := pgtest.Pool(t, dsn)
	rows, err := pool.Query(context.Background(),
		`SELECT version_id, count(*) FROM `+schema.VersionTable+` WHERE version_id > 0 AND is_applied GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int64
	for rows.Next() {
		var v, n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("migration %d recorded %d times", v, n)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1] != latestVersion(t) {
		t.Fatalf("applied versions %v, want up to %d", got, latestVersion(t))
	}
}

// errorMessageVersion is the data migration moving custom_fields.errorMessage
// into personalities.error_message.
const errorMessageVersion = 2

type seeded struct {
	slug   string
	custom map[string]any
	errMsg string // "" for the one personality without the key
}

// productionShaped returns 67 personalities shaped like the production ones:
// 66 carry custom_fields.errorMessage among other imported keys, one has none.
func productionShaped() []seeded {
	out := make([]seeded, 0, 67)
	for i := range 66 {
		msg := fmt.Sprintf("*%d sparks fly* Something went wrong — try again? 🌩️ \"quoted\" \\ backslash", i)
		custom := map[string]any{
			"errorMessage":       msg,
			"importSource":       "shapes_inc",
			"shapesUsername":     fmt.Sprintf("shape-%02d", i),
			"keywords":           []any{"archive", fmt.Sprintf("k%d", i)},
			"favoriteReacts":     []any{"📚"},
			"personalityHistory": strings.Repeat("history ", i%5),
			"wackMessage":        "Memory wiped.",
		}
		out = append(out, seeded{slug: fmt.Sprintf("shape-%02d", i), custom: custom, errMsg: msg})
	}
	out = append(out, seeded{slug: "no-error-message", custom: map[string]any{"importSource": "shapes_inc", "keywords": []any{}}})
	return out
}

func TestErrorMessageDataMigrationLosesNothingAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	if _, err := p.UpTo(ctx, errorMessageVersion-1); err != nil {
		t.Fatal(err)
	}
	seeds := productionShaped()
	for _, s := range seeds {
		raw, _ := json.Marshal(s.custom)
		if _, err := pool.Exec(ctx, `INSERT INTO personalities (slug, name, custom_fields) VALUES ($1, $1, $2)`, s.slug, raw); err != nil {
			t.Fatal(err)
		}
	}

	check := func(stage string) {
		t.Helper()
		for _, s := range seeds {
			var col *string
			var raw []byte
			if err := pool.QueryRow(ctx, `SELECT error_message, custom_fields FROM personalities WHERE slug = $1`, s.slug).Scan(&col, &raw); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{}
			for k, v := range s.custom {
				if k != "errorMessage" {
					want[k] = v
				}
			}
			wantRaw, _ := json.Marshal(want)
			gotRaw, _ := json.Marshal(got)
			if string(gotRaw) != string(wantRaw) {
				t.Errorf("%s: %s custom_fields = %s, want %s", stage, s.slug, gotRaw, wantRaw)
			}
			switch {
			case s.errMsg == "" && col != nil:
				t.Errorf("%s: %s got error_message %q from nowhere", stage, s.slug, *col)
			case s.errMsg != "" && (col == nil || *col != s.errMsg):
				t.Errorf("%s: %s error_message = %v, want %q", stage, s.slug, col, s.errMsg)
			}
		}
	}

	if _, err := p.UpTo(ctx, errorMessageVersion); err != nil {
		t.Fatal(err)
	}
	check("first run")

	// The statement itself, run again by hand: nothing changes.
	if _, err := pool.Exec(ctx, upSQL(t, errorMessageVersion)); err != nil {
		t.Fatal(err)
	}
	check("second run")

	// Down puts the key back (the column keeps its value); up again is clean.
	if _, err := p.DownTo(ctx, errorMessageVersion-1); err != nil {
		t.Fatal(err)
	}
	var withKey int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM personalities WHERE custom_fields ? 'errorMessage' AND custom_fields->>'errorMessage' = error_message`).Scan(&withKey); err != nil {
		t.Fatal(err)
	}
	if withKey != 66 {
		t.Fatalf("after down: %d personalities have the key back, want 66", withKey)
	}
	if _, err := p.UpTo(ctx, errorMessageVersion); err != nil {
		t.Fatal(err)
	}
	check("after down and up")
}

// A personality whose column already holds a different message keeps both:
// the key is removed only once the column holds its value.
func TestErrorMessageDataMigrationNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	if _, err := p.UpTo(ctx, errorMessageVersion-1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO personalities (slug, name, error_message, custom_fields)
		VALUES ('edited', 'Edited', 'the newer message', '{"errorMessage": "the older message"}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, errorMessageVersion); err != nil {
		t.Fatal(err)
	}
	var col, key string
	if err := pool.QueryRow(ctx, `SELECT error_message, custom_fields->>'errorMessage' FROM personalities`).Scan(&col, &key); err != nil {
		t.Fatal(err)
	}
	if col != "the newer message" || key != "the older message" {
		t.Fatalf("column %q, key %q: a message was lost", col, key)
	}
}

// upSQL returns the Up section of migration version.
func upSQL(t *testing.T, version int64) string {
	t.Helper()
	entries, err := fs.ReadDir(schema.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), fmt.Sprintf("%05d_", version)) {
			continue
		}
		b, err := fs.ReadFile(schema.Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		up := strings.Index(s, "-- +goose Up")
		down := strings.Index(s, "-- +goose Down")
		return s[up+len("-- +goose Up") : down]
	}
	t.Fatalf("migration %d not found", version)
	return ""
}

// transcriptionVersion adds voice_configs.transcription_enabled and moves
// custom_fields.voiceTranscriptionEnabled (written by earlier shapes.inc
// imports) into it.
const transcriptionVersion = 4

func TestTranscriptionMigrationMovesTheImportedFlag(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	if _, err := p.UpTo(ctx, transcriptionVersion-1); err != nil {
		t.Fatal(err)
	}
	type seed struct {
		slug     string
		custom   string // custom_fields before the migration
		voiceID  string // "" for no voice config before the migration
		wantRow  bool   // a voice config after the migration
		wantOn   bool   // its transcription_enabled
		wantKeep string // custom_fields after the migration
	}
	seeds := []seed{
		{"voiced-on", `{"importSource": "shapes_inc", "voiceTranscriptionEnabled": true}`, "VOICE1", true, true, `{"importSource": "shapes_inc"}`},
		{"voiced-off", `{"importSource": "shapes_inc", "voiceTranscriptionEnabled": false}`, "VOICE2", true, false, `{"importSource": "shapes_inc"}`},
		{"only-on", `{"voiceTranscriptionEnabled": true}`, "", true, true, `{}`},
		{"only-off", `{"voiceTranscriptionEnabled": false}`, "", false, false, `{}`},
		// Not a boolean: the old importer kept it verbatim; it stays.
		{"odd-value", `{"voiceTranscriptionEnabled": "yes"}`, "", false, false, `{"voiceTranscriptionEnabled": "yes"}`},
		{"untouched", `{"keywords": ["a"]}`, "VOICE3", true, false, `{"keywords": ["a"]}`},
	}
	for _, s := range seeds {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name, custom_fields) VALUES ($1, $1, $2) RETURNING id`,
			s.slug, s.custom).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if s.voiceID != "" {
			if _, err := pool.Exec(ctx, `INSERT INTO voice_configs (personality_id, voice_id, stability) VALUES ($1, $2, 0.3)`, id, s.voiceID); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		for _, s := range seeds {
			var custom string
			var voiceID *string
			var stability *float64
			var on *bool
			if err := pool.QueryRow(ctx, `SELECT p.custom_fields::text, v.voice_id, v.stability, v.transcription_enabled
				FROM personalities p LEFT JOIN voice_configs v ON v.personality_id = p.id WHERE p.slug = $1`, s.slug).
				Scan(&custom, &voiceID, &stability, &on); err != nil {
				t.Fatal(err)
			}
			var got, want any
			_ = json.Unmarshal([]byte(custom), &got)
			_ = json.Unmarshal([]byte(s.wantKeep), &want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s custom_fields = %s, want %s", stage, s.slug, custom, s.wantKeep)
			}
			switch {
			case !s.wantRow && on != nil:
				t.Errorf("%s: %s got a voice config from nothing", stage, s.slug)
			case s.wantRow && (on == nil || *on != s.wantOn):
				t.Errorf("%s: %s transcription_enabled = %v, want %v", stage, s.slug, on, s.wantOn)
			case s.voiceID != "" && (*voiceID != s.voiceID || *stability != 0.3):
				t.Errorf("%s: %s voice config changed: voice_id %s, stability %v", stage, s.slug, *voiceID, *stability)
			}
		}
	}
	if _, err := p.UpTo(ctx, transcriptionVersion); err != nil {
		t.Fatal(err)
	}
	check("up")

	// Down puts true back under the key; up again ends where the first did.
	if _, err := p.DownTo(ctx, transcriptionVersion-1); err != nil {
		t.Fatal(err)
	}
	var restored []string
	rows, err := pool.Query(ctx, `SELECT slug FROM personalities WHERE custom_fields -> 'voiceTranscriptionEnabled' = 'true' ORDER BY slug`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			t.Fatal(err)
		}
		restored = append(restored, slug)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(restored, ",") != "only-on,voiced-on" {
		t.Fatalf("after down the key is back on %v, want [only-on voiced-on]", restored)
	}
	if _, err := p.UpTo(ctx, transcriptionVersion); err != nil {
		t.Fatal(err)
	}
	check("down and up")
}
