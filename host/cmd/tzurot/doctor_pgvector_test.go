package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/embedding"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// TestDoctorPGVector: `tzurot doctor pgvector` says where memory vector
// search runs. On a server with the vector extension: serve will create
// it; once created, stored vectors not yet copied to its column are a
// warning (with what to do), and with the index built all is ok. On a
// server without it: ok (it is never required), in words that say search
// runs in the host and how to get the extension.
func TestDoctorPGVector(t *testing.T) {
	ctx := context.Background()
	s := newDoctorSetup(t)
	pool := pgtest.Pool(t, s.env["DATABASE_URL"])
	var has bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&has); err != nil {
		t.Fatal(err)
	}

	out, err := s.run(t, "pgvector")
	if err != nil {
		t.Fatalf("embeddings off: %v\n%s", err, out)
	}
	if has {
		wantLines(t, out, "ok    database", "ok    pgvector   memory vector search is off (TZUROT_EMBED_PLUGIN is not set: full-text search only); the server has PostgreSQL's vector extension")
	} else {
		wantLines(t, out, "ok    pgvector   memory vector search is off (TZUROT_EMBED_PLUGIN is not set: full-text search only); the server does not have PostgreSQL's vector extension")
	}

	s.env["TZUROT_EMBED_PLUGIN"] = "echo"
	out, err = s.run(t, "pgvector")
	if err != nil {
		t.Fatalf("embeddings on: %v\n%s", err, out)
	}
	if !has {
		wantLines(t, out, "ok    pgvector   memory vector search runs in the host (cosine over vectors loaded into memory): PostgreSQL's vector extension (pgvector) is not installed on the database server; install your distribution's package")
		return
	}
	wantLines(t, out, "ok    pgvector   PostgreSQL's vector extension", "is available: serve creates it at start and searches memories with it")

	// As serve starts: the extension and its column; then a vector stored
	// by a process that did not write the column.
	svc := embedding.New(pool, nil, store.New(pool, nil, nil), embedding.Config{Plugin: "echo", Model: "m"}, slog.New(slog.DiscardHandler))
	if st, err := svc.EnablePGVector(ctx); err != nil || !st.Usable() {
		t.Fatalf("%+v %v", st, err)
	}
	var pers, mem int64
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name) VALUES ('luna', 'Luna') RETURNING id`).Scan(&pers); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO personality_memories (personality_id, source_system, content, formed_by, is_dm) VALUES ($1, 'test', 'x', 'summary', true) RETURNING id`, pers).Scan(&mem); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO memory_embeddings (memory_id, personality_id, model, dims, vector) VALUES ($1, $2, 'm', 2, '\x0000803f00000000'::bytea)`, mem, pers); err != nil {
		t.Fatal(err)
	}
	out, err = s.run(t, "pgvector")
	if err != nil {
		t.Fatalf("not yet copied: %v\n%s", err, out)
	}
	wantLines(t, out, "ok    pgvector   PostgreSQL's vector extension", "memory vector search runs in PostgreSQL (HNSW, iterative scans)",
		"WARN  pgvector   1 stored vector(s) not yet copied to the extension's column, 0 HNSW index(es) ready", "fix: keep `tzurot serve` running")

	if err := svc.MaintainPGVector(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = s.run(t, "pgvector")
	if err != nil || strings.Contains(out, "WARN") {
		t.Fatalf("after maintenance: %v\n%s", err, out)
	}
	wantLines(t, out, "ok    pgvector   1 HNSW index(es) ready, every stored vector copied")

	s.env["TZUROT_EMBED_PGVECTOR"] = "off"
	out, _ = s.run(t, "pgvector")
	wantLines(t, out, "ok    pgvector   memory vector search runs in the host: TZUROT_EMBED_PGVECTOR=off")
}
