package shapes

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
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
