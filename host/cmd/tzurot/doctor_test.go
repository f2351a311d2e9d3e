package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/schema"
)

// A database with clashing names from before migration 5: the migration
// succeeds, and `tzurot doctor names` lists each clash with its holders and
// a fix, and fails (exit status 1) until they are fixed.
func TestDoctorNamesReportsClashesFromBeforeTheRule(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn})
	var out, errOut bytes.Buffer

	db, err := schema.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := schema.NewProvider(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Behind: doctor says to migrate and changes nothing.
	if err := doctor(ctx, []string{"names"}, env, &out, &errOut); err == nil || !strings.Contains(out.String(), "fix: run `tzurot migrate up`") ||
		!strings.Contains(out.String(), "skip  names") {
		t.Fatalf("doctor on an old schema: %v\n%s", err, out.String())
	}
	if _, err := db.ExecContext(ctx, `
INSERT INTO users (discord_id) VALUES ('111111111111111111'), ('222222222222222222');
INSERT INTO personalities (slug, name, owner_user_id, created_at) VALUES
    ('qa-nyx', 'Nyx', (SELECT id FROM users WHERE discord_id = '111111111111111111'), '2026-01-01'),
    ('impostor', 'Impostor', (SELECT id FROM users WHERE discord_id = '222222222222222222'), '2026-02-01');
UPDATE personalities SET display_name = 'NYX', is_public = true WHERE slug = 'impostor';
INSERT INTO personality_aliases (personality_id, alias) SELECT id, 'QA-Nyx' FROM personalities WHERE slug = 'impostor';`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, []string{"up"}, env, &out, &errOut); err != nil {
		t.Fatalf("migrating a database with clashes: %v\n%s", err, errOut.String())
	}

	out.Reset()
	err = doctor(ctx, []string{"names"}, env, &out, &errOut)
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "1 problem") || !strings.Contains(out.String(), "FAIL  names      2 string(s)") {
		t.Fatalf("doctor names with two clashes: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`"nyx": "@nyx" calls qa-nyx (id 1)`,
		`name "Nyx" of qa-nyx (id 1, private, owner 111111111111111111): holds it`,
		`display name "NYX" of impostor (id 2, public, owner 222222222222222222): does not call it`,
		"fix: `/personality edit personality:impostor display_name:none`",
		`"qa-nyx": "@qa-nyx" calls qa-nyx (id 1)`,
		`alias "QA-Nyx" of impostor`,
		"fix: `/personality alias remove personality:impostor alias:QA-Nyx`",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "impostor\" calls") {
		t.Errorf("a name without a clash is reported:\n%s", out.String())
	}
	if got := run(ctx, []string{"doctor", "sideways"}); got != 2 {
		t.Fatalf("unknown check: exit %d, want 2", got)
	}

	// Fixed as suggested: doctor passes.
	if _, err := db.ExecContext(ctx, `UPDATE personalities SET display_name = '' WHERE slug = 'impostor';
DELETE FROM personality_aliases;`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := doctor(ctx, []string{"names"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "ok    names") {
		t.Fatalf("doctor after the fix: %v\n%s", err, out.String())
	}
}
