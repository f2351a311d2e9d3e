package shapes

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/schema"
)

const sampleV2Store = "testdata/v2-personalities.json"

func importV2(t *testing.T, pool *pgxpool.Pool, opts Options) (*Summary, string) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	sum, err := NewImporter(pool, opts).ImportV2(context.Background(), sampleV2Store)
	if err != nil {
		t.Fatal(err)
	}
	sum.WriteTo(&out)
	return sum, out.String()
}

func TestV2StoreImportsIntoAnEmptyDatabase(t *testing.T) {
	pool := pgtest.New(t)
	sum, report := importV2(t, pool, Options{})
	if sum.Created != 2 || sum.Skipped != 1 || sum.Failed != 0 {
		t.Fatalf("created/skipped/failed = %d/%d/%d\n%s", sum.Created, sum.Skipped, sum.Failed, report)
	}
	ctx := context.Background()
	var name, avatar, errMsg, shapesID, owner, model string
	var params, custom json.RawMessage
	var aliases []string
	err := pool.QueryRow(ctx, `SELECT p.name, p.avatar_url, p.error_message, p.shapes_id, u.discord_id, c.model, c.advanced_parameters, p.custom_fields,
		(SELECT array_agg(alias ORDER BY alias) FROM personality_aliases a WHERE a.personality_id = p.id)
		FROM personalities p JOIN users u ON u.id = p.owner_user_id JOIN llm_configs c ON c.personality_id = p.id
		WHERE p.slug = 'example-archivist'`).Scan(&name, &avatar, &errMsg, &shapesID, &owner, &model, &params, &custom, &aliases)
	if err != nil {
		t.Fatal(err)
	}
	if name != "Archivist" || avatar != "https://files.shapes.inc/avatars/example-v2.png" || errMsg != "The card catalogue jammed." ||
		shapesID != "v2:example-archivist" || owner != "123456789012345678" {
		t.Errorf("columns: %q %q %q %q owner %q", name, avatar, errMsg, shapesID, owner)
	}
	if model != DefaultModel || !sameJSON(params, json.RawMessage(`{"temperature": 0.8, "max_tokens": 2048}`)) {
		t.Errorf("llm config %s %s", model, params)
	}
	if strings.Join(aliases, ",") != "Archie,Librarian,the archivist" {
		t.Errorf("aliases %v", aliases)
	}
	cf := object(t, custom)
	v2 := object(t, cf[CustomV2])
	for key, want := range map[string]string{
		"profile.bio": `"Keeps the stacks."`, "profile.mode": `"webhook"`, "profile.maxWordCount": `1000`,
		"model.endpoint": `"https://api.shapes.inc/v1"`, "configuration": `{"memoryEnabled": true, "contextWindow": 20}`,
		"createdAt": `"2025-01-02T03:04:05Z"`, "ownerId": `"123456789012345678"`, "profile.temperature": `0.8`,
	} {
		if !sameJSON(v2[key], json.RawMessage(want)) {
			t.Errorf("custom_fields.v2[%q] = %s, want %s", key, v2[key], want)
		}
	}
	if _, ok := findIssue(sum.Issues, Error, sampleV2Store, "not-in-this-file"); !ok {
		t.Errorf("alias to a missing personality not reported:\n%s", report)
	}

	again, report := importV2(t, pool, Options{})
	if again.Unchanged != 2 || again.Created+again.Updated != 0 {
		t.Fatalf("second v2 import:\n%s", report)
	}
}

func TestV2OwnerFlagWinsAndTheRecordsOwnerIsKept(t *testing.T) {
	pool := pgtest.New(t)
	importV2(t, pool, Options{OwnerDiscordID: "42"})
	n := queryInt(t, pool, `SELECT count(*) FROM personalities p JOIN users u ON u.id = p.owner_user_id
		WHERE u.discord_id = '42' AND p.custom_fields -> 'v2' ->> 'ownerId' IS NOT NULL`)
	if n != 2 {
		t.Errorf("%d personalities owned by --owner with the v2 ownerId kept, want 2", n)
	}
}

// TestV2RecordMergedIntoAShapesImportKeepsItsID: a v2 record that adds to a
// personality imported from shapes.inc keeps its v2 id (personalities.v2_id),
// so a later v2 import finds the personality by id even after its slug
// changed, and still only adds to it.
func TestV2RecordMergedIntoAShapesImportKeepsItsID(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	importShapes(t, pool, exampleBackup(t), Options{})
	importV2(t, pool, Options{})
	var v2ID, shapesID string
	if err := pool.QueryRow(ctx, `SELECT v2_id, shapes_id FROM personalities WHERE slug = 'example-archivist'`).Scan(&v2ID, &shapesID); err != nil {
		t.Fatal(err)
	}
	if v2ID != "example-archivist" || strings.HasPrefix(shapesID, "v2:") {
		t.Fatalf("merged personality: v2_id %q, shapes_id %q; want the v2 id kept beside the shapes.inc id", v2ID, shapesID)
	}

	// The operator renames it: only the id can find it now.
	if _, err := pool.Exec(ctx, `UPDATE personalities SET slug = 'archivist-renamed' WHERE slug = 'example-archivist'`); err != nil {
		t.Fatal(err)
	}
	before := queryInt(t, pool, `SELECT count(*) FROM personalities`)
	sum, report := importV2(t, pool, Options{})
	if sum.Created != 0 || sum.Unchanged != 2 || queryInt(t, pool, `SELECT count(*) FROM personalities`) != before {
		t.Fatalf("v2 re-import after the rename:\n%s", report)
	}
	var name string
	if err := pool.QueryRow(ctx, `SELECT name FROM personalities WHERE slug = 'archivist-renamed'`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "Example Archivist" {
		t.Errorf("the v2 re-import overwrote the name with %q: a merged record only adds", name)
	}
}

// TestV2IDMigrationKeepsTheIDsOfV2Imports: migration 7 copies the id of
// every personality a v2 import created into v2_id.
func TestV2IDMigrationKeepsTheIDsOfV2Imports(t *testing.T) {
	const v2IDVersion = 7
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	db, err := schema.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := schema.NewProvider(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, v2IDVersion-1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO personalities (slug, name, shapes_id) VALUES ('bard', 'Bard', 'v2:bard-1'), ('shaped', 'Shaped', 'abc-uuid'), ('local', 'Local', NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT slug || '=' || COALESCE(v2_id, '-') FROM personalities ORDER BY slug`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, ",") != "bard=bard-1,local=-,shaped=-" {
		t.Errorf("after migration %d: %v", v2IDVersion, got)
	}
	if _, err := p.DownTo(ctx, v2IDVersion-1); err != nil {
		t.Fatalf("roll back: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
