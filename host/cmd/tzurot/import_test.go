package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/schema"
)

const (
	exampleShapesBackup = "../../../examples/shapes-backup"
	exampleV2Store      = "../../internal/shapes/testdata/v2-personalities.json"
)

func countRows(t *testing.T, dsn, table string) int {
	t.Helper()
	pool := pgtest.Pool(t, dsn)
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportCommandMigratesImportsAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	// An empty database: the import applies the migrations first, as serve does.
	dsn := pgtest.EmptyDSN(t)
	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn})

	var out, errOut bytes.Buffer
	if err := importCommand(ctx, []string{"shapes", exampleShapesBackup, "--owner", "123456789012345678"}, env, &out, &errOut, false); err != nil {
		t.Fatalf("import: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	if !strings.Contains(out.String(), "3 created, 0 updated, 0 unchanged, 0 skipped, 0 failed") {
		t.Fatalf("summary does not report 3 created:\n%s", &out)
	}
	if n := countRows(t, dsn, "personality_memories"); n != 3 {
		t.Errorf("%d memories stored, want 3", n)
	}

	out.Reset()
	if err := importCommand(ctx, []string{"shapes", "--database-url", dsn, exampleShapesBackup}, dataTestEnv(nil), &out, &errOut, false); err != nil {
		t.Fatalf("second import: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "0 created, 0 updated, 3 unchanged") {
		t.Fatalf("second import is not a no-op:\n%s", &out)
	}
	// No progress bar when stderr is not a terminal.
	if strings.Contains(errOut.String(), "importing") {
		t.Errorf("progress bar drawn on a non-terminal:\n%s", &errOut)
	}
}

func TestImportCommandDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn})
	var out, errOut bytes.Buffer
	if err := importCommand(ctx, []string{"shapes", "--dry-run", exampleShapesBackup}, env, &out, &errOut, false); err != nil {
		t.Fatalf("dry run: %v\n%s", err, &out)
	}
	for _, want := range []string{
		"would create example-archivist (Example Archivist): personality, llm config, voice config, memories: 2 new, 1 deleted at the source skipped",
		"Dry run: nothing was written",
		"3 created",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, &out)
		}
	}
	for _, table := range []string{"personalities", "users", "personality_memories", "personality_aliases", "llm_configs"} {
		if n := countRows(t, dsn, table); n != 0 {
			t.Errorf("dry run wrote %d rows to %s", n, table)
		}
	}
}

func TestImportCommandDryRunRefusesAnOutdatedSchema(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	var out, errOut bytes.Buffer
	err := importCommand(context.Background(), []string{"shapes", "--dry-run", "--database-url", dsn, exampleShapesBackup}, dataTestEnv(nil), &out, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "tzurot migrate up") {
		t.Fatalf("dry run on an unmigrated database: err = %v, want advice to migrate", err)
	}
}

func TestImportCommandV2AddsAliasesToTheShapesImport(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn})
	var out, errOut bytes.Buffer
	if err := importCommand(ctx, []string{"shapes", exampleShapesBackup}, env, &out, &errOut, false); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := importCommand(ctx, []string{"v2", exampleV2Store}, env, &out, &errOut, false)
	// The sample store has an alias pointing at a personality it lacks: an
	// error is reported, and everything else is imported.
	if err == nil || !strings.Contains(out.String(), `points to personality "not-in-this-file"`) {
		t.Fatalf("v2 import: err = %v; output:\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "1 created, 1 updated, 0 unchanged, 1 skipped, 0 failed") {
		t.Fatalf("v2 summary:\n%s", &out)
	}
	pool := pgtest.Pool(t, dsn)
	var aliases string
	if err := pool.QueryRow(ctx, `SELECT string_agg(a.alias, ',' ORDER BY a.alias) FROM personality_aliases a
		JOIN personalities p ON p.id = a.personality_id WHERE p.slug = 'example-archivist'`).Scan(&aliases); err != nil {
		t.Fatal(err)
	}
	if aliases != "Archie,Librarian,the archivist" {
		t.Errorf("archivist aliases after the v2 import = %q", aliases)
	}
	if n := countRows(t, dsn, "personalities"); n != 4 {
		t.Errorf("%d personalities, want 4 (3 from shapes + 1 only in v2)", n)
	}
}

func TestImportCommandRejectsBadUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"tavern"},
		{"shapes"},
		{"shapes", "a", "b"},
		{"shapes", "--owner", "not-a-snowflake", exampleShapesBackup},
	} {
		var out, errOut bytes.Buffer
		err := importCommand(ctx, args, dataTestEnv(nil), &out, &errOut, false)
		if !errors.Is(err, errUsage) {
			t.Errorf("import %q: err = %v, want a usage error", args, err)
		}
	}
}

func TestImportCommandDrawsProgressOnATerminal(t *testing.T) {
	dsn := pgtest.DSN(t)
	var out, errOut bytes.Buffer
	if err := importCommand(context.Background(), []string{"shapes", "--database-url", dsn, exampleShapesBackup}, dataTestEnv(nil), &out, &errOut, true); err != nil {
		t.Fatal(err)
	}
	// The bar goes to stderr (and clears itself at the end); stdout has
	// the report only.
	if !strings.Contains(errOut.String(), "(2/3)") || !strings.Contains(errOut.String(), "example-gardener") {
		t.Errorf("no progress bar on stderr:\n%q", errOut.String())
	}
	if strings.Contains(out.String(), "/3)") || !strings.Contains(out.String(), "3 created") {
		t.Errorf("stdout:\n%s", &out)
	}
}

// missingDSN returns the URL of a database that does not exist on the
// test server (dropped again when the test ends, should something create it).
func missingDSN(t *testing.T) string {
	t.Helper()
	dsn := pgtest.EmptyDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestImportCommandCreatesAMissingDatabase(t *testing.T) {
	dsn := missingDSN(t)
	var out, errOut bytes.Buffer
	if err := importCommand(context.Background(), []string{"shapes", "--database-url", dsn, exampleShapesBackup}, dataTestEnv(nil), &out, &errOut, false); err != nil {
		t.Fatalf("import into a database that does not exist yet: %v\n%s", err, &errOut)
	}
	if !strings.Contains(out.String(), "3 created") {
		t.Fatalf("summary:\n%s", &out)
	}
	if n := countRows(t, dsn, "personalities"); n != 3 {
		t.Errorf("%d personalities in the created database, want 3", n)
	}
}

func TestImportCommandDryRunSaysTheDatabaseIsMissing(t *testing.T) {
	dsn := missingDSN(t)
	var out, errOut bytes.Buffer
	err := importCommand(context.Background(), []string{"shapes", "--dry-run", "--database-url", dsn, exampleShapesBackup}, dataTestEnv(nil), &out, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("dry run on a missing database: err = %v, want one saying the database does not exist", err)
	}
	// The dry run created nothing: the database is still missing.
	if err := schema.CheckDatabase(context.Background(), dsn); !errors.Is(err, schema.ErrDatabaseMissing) {
		t.Errorf("after the dry run: %v, want the database still missing", err)
	}
}

func TestSchemaErrorsOnAMissingDatabaseSayItIsMissingNotUnreachable(t *testing.T) {
	dsn := missingDSN(t)
	err := schema.Migrate(context.Background(), dsn, nil)
	if err == nil || strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("migrate on a missing database: %v; want it to say the database does not exist, not that PostgreSQL is unreachable", err)
	}
}
