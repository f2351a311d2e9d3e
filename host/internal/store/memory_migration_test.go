package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

const memorySearchVersion = 11

// TestMemorySearchMigrationBackfillsImports: memories and stories imported
// before migration 11 become searchable, are the owner's (or nobody's for
// an ownerless personality), DMs where they had no channel, and a memory
// over the new cap is cut with its whole text kept in source; down and up
// again end where the first up did.
func TestMemorySearchMigrationBackfillsImports(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	pool := pgtest.Pool(t, dsn)
	p := migrator(t, dsn)
	if _, err := p.UpTo(ctx, memorySearchVersion-1); err != nil {
		t.Fatal(err)
	}
	var owner, owned, ownerless int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ('123') RETURNING id`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name, owner_user_id, custom_fields) VALUES ('owned', 'Owned', $1, '{"shapesExtra": {"language_preset": "es"}}') RETURNING id`, owner).Scan(&owned); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('ownerless', 'Ownerless') RETURNING id`).Scan(&ownerless); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("ola ", 10000) // 40000 characters
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO personality_memories (personality_id, source_system, source_id, content) VALUES ($1, 'shapes', 'dm', 'Hablamos de los gatos del puerto.')`, []any{owned}},
		{`INSERT INTO personality_memories (personality_id, source_system, source_id, content, discord_channel_id, discord_guild_id) VALUES ($1, 'shapes', 'guild', 'Cantamos en el coro.', '55', '66')`, []any{owned}},
		{`INSERT INTO personality_memories (personality_id, source_system, source_id, content, source) VALUES ($1, 'shapes', 'huge', $2, '{"group": true}')`, []any{owned, huge}},
		{`INSERT INTO personality_memories (personality_id, source_system, source_id, content) VALUES ($1, 'shapes', 'nobody', 'Nobody knows.')`, []any{ownerless}},
		{`INSERT INTO personality_stories (personality_id, source_system, source_id, title, content) VALUES ($1, 'shapes', 's1', 'El faro', 'El faro nunca se apaga.')`, []any{owned}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	check := func(stage string) {
		t.Helper()
		var lang string
		if err := pool.QueryRow(ctx, `SELECT memory_language FROM personalities WHERE id = $1`, owned).Scan(&lang); err != nil || lang != "spanish" {
			t.Errorf("%s: language %q (%v), want spanish from language_preset es", stage, lang, err)
		}
		type row struct {
			about, present []int64
			dm             bool
			formed, lang   string
			n              int
		}
		get := func(id string) row {
			var r row
			if err := pool.QueryRow(ctx, `SELECT about_user_ids, present_user_ids, is_dm, formed_by, language::text, char_length(content)
				FROM personality_memories WHERE source_id = $1`, id).Scan(&r.about, &r.present, &r.dm, &r.formed, &r.lang, &r.n); err != nil {
				t.Fatalf("%s: %s: %v", stage, id, err)
			}
			return r
		}
		if r := get("dm"); len(r.about) != 1 || r.about[0] != owner || len(r.present) != 1 || !r.dm || r.formed != "import" || r.lang != "spanish" {
			t.Errorf("%s: dm memory %+v", stage, r)
		}
		if r := get("guild"); r.dm || len(r.about) != 1 {
			t.Errorf("%s: guild memory %+v", stage, r)
		}
		if r := get("nobody"); len(r.about) != 0 || len(r.present) != 0 {
			t.Errorf("%s: an ownerless import's memory is about %v", stage, r.about)
		}
		if r := get("huge"); r.n != 16000 {
			t.Errorf("%s: the huge memory has %d characters, want 16000", stage, r.n)
		}
		var whole string
		if err := pool.QueryRow(ctx, `SELECT source->>'result' FROM personality_memories WHERE source_id = 'huge' AND source->>'group' = 'true'`).Scan(&whole); err != nil || whole != huge {
			t.Errorf("%s: the huge memory's whole text is not in its source (%v)", stage, err)
		}
		// Stemmed Spanish search finds "gatos" for "gato", and the story.
		var n int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM personality_memories WHERE tsv @@ websearch_to_tsquery('spanish', 'gato'))
			+ (SELECT count(*) FROM personality_stories WHERE tsv @@ websearch_to_tsquery('spanish', 'faros'))`).Scan(&n); err != nil || n != 2 {
			t.Errorf("%s: %d search hits (%v), want 2", stage, n, err)
		}
	}
	if _, err := p.UpTo(ctx, memorySearchVersion); err != nil {
		t.Fatal(err)
	}
	check("up")
	if _, err := p.DownTo(ctx, memorySearchVersion-1); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM personality_memories`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("down: %d memories (%v)", n, err)
	}
	if _, err := p.UpTo(ctx, memorySearchVersion); err != nil {
		t.Fatal(err)
	}
	check("up again")
}
