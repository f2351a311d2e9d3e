package embedding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tzurot-go/tzurot/host/internal/memory"
)

// PostgreSQL's `vector` extension (pgvector) is used when the server has
// it, never required. Nothing in the migrations names it: a goose
// migration cannot depend on a package the server may lack, and a
// database restored onto a server without it must still migrate. So the
// extension-dependent parts are made at run time, idempotently:
//
//   - at start (EnablePGVector), under a transaction advisory lock: the
//     extension itself when the server has it and the role may create it,
//     and the nullable column memory_embeddings.embedding (type vector,
//     no fixed length: the models' lengths differ);
//   - in the background (MaintainPGVector, from Run): rows stored before
//     (or by a process without the extension) get their embedding, and
//     each (model, length) gets a partial HNSW index on the expression
//     embedding::vector(length) WHERE model = '…' AND dims = length (an
//     HNSW index needs one fixed length).
//
// DROP EXTENSION vector CASCADE takes the column and the indexes with it;
// the bytea vectors stay, and the next start searches in the host again.

// PGVectorStatus is what detection found about the vector extension in
// the database. Reason says, in words, why it is not used.
type PGVectorStatus struct {
	// Available: the server has the extension's files
	// (pg_available_extensions); Default is the version they install.
	Available bool
	Default   string
	// Installed: CREATE EXTENSION vector was run in this database; Version
	// and Schema are the installed version and the schema of its type and
	// operators.
	Installed bool
	Version   string
	Schema    string
	// Superuser: the connected role is one (only a superuser may create an
	// untrusted extension such as vector).
	Superuser bool
	Database  string
	// Column: memory_embeddings.embedding exists.
	Column bool
	// Created: this call ran CREATE EXTENSION (EnablePGVector only).
	Created bool
	// Reason is why the extension is not used ("" when it is).
	Reason string
}

// Usable reports whether search can run in PostgreSQL.
func (p PGVectorStatus) Usable() bool { return p.Reason == "" }

// Iterative reports whether the installed version continues an HNSW scan
// until enough rows pass the filters (hnsw.iterative_scan, 0.8.0).
func (p PGVectorStatus) Iterative() bool { return versionAtLeast(p.Version, 0, 8) }

// HNSW reports whether the installed version has HNSW indexes (0.5.0).
func (p PGVectorStatus) HNSW() bool { return versionAtLeast(p.Version, minMajor, minMinor) }

// Summary is one line for the log and `tzurot doctor`.
func (p PGVectorStatus) Summary() string {
	if p.Usable() {
		how := "HNSW, iterative scans"
		if !p.Iterative() {
			how = "HNSW, no iterative scans before 0.8.0: a short filtered result is searched again exactly"
		}
		return fmt.Sprintf("PostgreSQL's vector extension %s is installed (schema %s): memory vector search runs in PostgreSQL (%s)", p.Version, p.Schema, how)
	}
	return "memory vector search runs in the host (cosine over vectors loaded into memory): " + p.Reason
}

// minPGVector: HNSW indexes came in pgvector 0.5.0.
const minMajor, minMinor = 0, 5

// pgvectorLockKey serialises the run-time schema changes of every process
// sharing the database (a constant of ours; "tzvector").
const pgvectorLockKey int64 = 0x747a766563746f72

// queryRower is a pool or a connection.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DetectPGVector reads, changing nothing, whether the vector extension is
// available to the server and installed in the database.
func DetectPGVector(ctx context.Context, db queryRower) (PGVectorStatus, error) {
	var (
		p                PGVectorStatus
		def, ver, schema *string
		super            bool
	)
	err := db.QueryRow(ctx, `
SELECT (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'),
       e.extversion, n.nspname,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
       current_database(),
       EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('memory_embeddings')
               AND attname = 'embedding' AND NOT attisdropped)
FROM (SELECT 1) one
LEFT JOIN pg_extension e ON e.extname = 'vector'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace`).Scan(&def, &ver, &schema, &super, &p.Database, &p.Column)
	if err != nil {
		return p, fmt.Errorf("detect the vector extension: %w", err)
	}
	p.Superuser = super
	if def != nil {
		p.Available, p.Default = true, *def
	}
	if ver != nil {
		p.Installed, p.Version = true, *ver
	}
	if schema != nil {
		p.Schema = *schema
	}
	p.Reason = p.reason()
	return p, nil
}

// reason is why the extension cannot be used, "" when it can.
func (p PGVectorStatus) reason() string {
	switch {
	case !p.Available && !p.Installed:
		return "PostgreSQL's vector extension (pgvector) is not installed on the database server; install your distribution's package (e.g. postgresql-15-pgvector from PGDG) to search in PostgreSQL instead"
	case !p.Available:
		return fmt.Sprintf("the vector extension %s is created in database %q but the server no longer has its files (was the package removed?); reinstall it, or run DROP EXTENSION vector CASCADE", p.Version, p.Database)
	case !p.Installed && p.Superuser:
		return fmt.Sprintf("the vector extension %s is available but not created in database %q yet (serve creates it at start)", p.Default, p.Database)
	case !p.Installed:
		return fmt.Sprintf("the vector extension %s is available but not created in database %q, and the database user is not a superuser, so it cannot create it: a superuser runs `CREATE EXTENSION vector;` in that database once", p.Default, p.Database)
	case !p.HNSW():
		return fmt.Sprintf("the vector extension %s has no HNSW index (0.5.0 or later); install a newer package and run ALTER EXTENSION vector UPDATE", p.Version)
	case !p.Column:
		return "the vector extension is created, but memory_embeddings.embedding is not there yet (serve adds it at start)"
	}
	return ""
}

// versionAtLeast compares "major.minor[.patch]" with major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// EnablePGVector detects the extension and makes what search needs:
// CREATE EXTENSION vector when the server has it and the role may (a
// superuser, or a managed service's admin role that is allowed it), and
// the embedding column. It never fails start: what goes wrong is in the
// status's Reason (and the error, for the log), and search stays in the
// host. Off (Config.PGVector "off") only detects.
func (s *Service) EnablePGVector(ctx context.Context) (PGVectorStatus, error) {
	st, err := DetectPGVector(ctx, s.pool)
	if err != nil || s.cfg.PGVector == PGVectorOff {
		if err == nil {
			st.Reason = "turned off by the deployment (TZUROT_EMBED_PGVECTOR=off)"
		}
		s.setPG(pgState{})
		return st, err
	}
	needExt := st.Available && !st.Installed
	needCol := st.Installed && st.Available && !st.Column && st.HNSW()
	if needExt || needCol {
		created, err := s.createPGVector(ctx, needExt)
		if err != nil {
			st2, derr := DetectPGVector(ctx, s.pool)
			if derr == nil {
				st = st2
			}
			if st.Reason == "" {
				st.Reason = err.Error()
			}
			s.setPG(pgState{})
			return st, err
		}
		if st, err = DetectPGVector(ctx, s.pool); err != nil {
			s.setPG(pgState{})
			return st, err
		}
		st.Created = created
	}
	if !st.Usable() {
		s.setPG(pgState{})
		return st, nil
	}
	s.setPG(pgState{on: true, schema: st.Schema, iterative: st.Iterative(), ready: map[pairKey]bool{}})
	return st, nil
}

// createPGVector runs CREATE EXTENSION (when ext) and adds the column, in
// one transaction under the advisory lock, waiting at most 5 s for the
// table's lock (a long transaction on memory_embeddings must not hold
// start up: the next start tries again).
func (s *Service) createPGVector(ctx context.Context, ext bool) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("prepare the vector extension: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', '5s', true), pg_advisory_xact_lock($1)`, pgvectorLockKey); err != nil {
		return false, fmt.Errorf("prepare the vector extension: %w", err)
	}
	created := false
	if ext {
		tag, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			return false, fmt.Errorf("the database user may not create the vector extension (%s): a superuser runs `CREATE EXTENSION vector;` in this database once", pgErr.Message)
		}
		if err != nil {
			return false, fmt.Errorf("create the vector extension: %w", err)
		}
		created = tag.String() == "CREATE EXTENSION"
	}
	var schema string
	if err := tx.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'`).Scan(&schema); err != nil {
		return false, fmt.Errorf("find the vector extension's schema: %w", err)
	}
	// The column has no length: one table holds every model's vectors.
	if _, err := tx.Exec(ctx, `ALTER TABLE memory_embeddings ADD COLUMN IF NOT EXISTS embedding `+pgx.Identifier{schema}.Sanitize()+`.vector`); err != nil {
		return false, fmt.Errorf("add memory_embeddings.embedding: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("prepare the vector extension: %w", err)
	}
	return created, nil
}

// pgState is what search needs to know about the extension; on false
// means search in the host.
type pgState struct {
	on        bool
	schema    string
	iterative bool
	// ready: the (model, length) pairs whose HNSW index is built and valid.
	ready map[pairKey]bool
	// synced: every row stored before the extension was found has its
	// embedding (until then a search in PostgreSQL would miss them).
	synced bool
}

type pairKey struct {
	model string
	dims  int
}

func (s *Service) setPG(p pgState) {
	s.pgMu.Lock()
	s.pg = p
	s.pgMu.Unlock()
}

// pgFor returns the extension's schema and whether iterative scans exist
// when (model, dims) is searched in PostgreSQL, ok false otherwise.
func (s *Service) pgFor(model string, dims int) (schema string, iterative, ok bool) {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if !s.pg.on || !s.pg.synced || !s.pg.ready[pairKey{model, dims}] {
		return "", false, false
	}
	return s.pg.schema, s.pg.iterative, true
}

// pgOff turns the PostgreSQL path off after it failed (the extension was
// dropped while running): search goes back to the host until the next
// EnablePGVector finds it again.
func (s *Service) pgOff() {
	s.setPG(pgState{})
	s.recheck.Store(true)
	s.Kick()
}

// StartPGVector is EnablePGVector at start, logged: where vector search
// runs and why. It never fails: search in the host is the fallback.
func (s *Service) StartPGVector(ctx context.Context) PGVectorStatus {
	st, err := s.EnablePGVector(ctx)
	s.logPGVector(ctx, st, err)
	return st
}

// logPGVector says at start (and after a recheck) where vector search
// runs and why.
func (s *Service) logPGVector(ctx context.Context, st PGVectorStatus, err error) {
	switch {
	case err != nil:
		s.log.WarnContext(ctx, st.Summary(), slog.Any("err", err))
	case st.Created:
		s.log.InfoContext(ctx, "created PostgreSQL's vector extension; "+st.Summary())
	default:
		s.log.InfoContext(ctx, st.Summary())
	}
}

// maxHNSWDims is the longest vector an HNSW index of type vector takes.
// Longer ones (text-embedding-3-large's 3072) are searched in the host.
const maxHNSWDims = 2000

// syncBatch is how many stored vectors get their embedding per statement.
const syncBatch = 500

// MaintainPGVector gives rows without an embedding theirs and builds the
// missing HNSW indexes, then marks their (model, length) ready for search.
// It is Run's, after each backfill; tests call it directly. Index builds
// are CONCURRENTLY (forgetting a memory deletes its vector: a plain build
// would hold /memory forget for as long as it takes) and made by one
// process at a time (a session advisory lock, tried, not waited for).
func (s *Service) MaintainPGVector(ctx context.Context) error {
	s.pgMu.Lock()
	st := s.pg
	s.pgMu.Unlock()
	if !st.on {
		return nil
	}
	ext := pgx.Identifier{st.schema}.Sanitize()
	if _, err := s.ensureIndex(ctx, unsyncedIndex, `CREATE INDEX CONCURRENTLY IF NOT EXISTS `+unsyncedIndex+
		` ON memory_embeddings (memory_id, model) WHERE embedding IS NULL`); err != nil {
		return fmt.Errorf("index the vectors without an embedding: %w", err)
	}
	var after syncCursor
	for {
		n, err := s.syncEmbeddings(ctx, ext, &after)
		if err != nil {
			return err
		}
		if n < syncBatch {
			break
		}
	}
	s.pgMu.Lock()
	if s.pg.on {
		s.pg.synced = true
	}
	s.pgMu.Unlock()

	pairs, err := s.pairs(ctx)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if p.dims > maxHNSWDims {
			continue
		}
		s.pgMu.Lock()
		done := s.pg.ready[p]
		s.pgMu.Unlock()
		if done {
			continue
		}
		ok, err := s.buildIndex(ctx, ext, p)
		if err != nil {
			return err
		}
		if ok {
			s.pgMu.Lock()
			if s.pg.on {
				s.pg.ready[p] = true
			}
			s.pgMu.Unlock()
			// The host's copy of these vectors is no longer searched.
			s.mu.Lock()
			for k := range s.sets {
				if k.model == p.model {
					delete(s.sets, k)
				}
			}
			s.mu.Unlock()
		}
	}
	return nil
}

// syncCursor is the last row a sync pass read.
type syncCursor struct {
	id    int64
	model string
}

// syncEmbeddings sets the embedding of up to syncBatch rows that have
// none, after *after in key order, moves *after on and returns how many
// it set. Reading on from the last key (through the primary key or the
// partial index), not from the start each time, matters: the rows (or
// index entries) already set stay in the way until VACUUM, and a pass
// that started over read them all again on every batch, quadratic in the
// rows to copy.
func (s *Service) syncEmbeddings(ctx context.Context, ext string, after *syncCursor) (int, error) {
	rows, err := s.pool.Query(ctx, `
SELECT memory_id, model, vector FROM memory_embeddings
WHERE embedding IS NULL AND (memory_id, model) > ($2, $3)
ORDER BY memory_id, model LIMIT $1`, syncBatch, after.id, after.model)
	if err != nil {
		return 0, fmt.Errorf("find vectors without an embedding: %w", err)
	}
	var (
		ids    []int64
		models []string
		texts  []string
	)
	for rows.Next() {
		var (
			id    int64
			model string
			raw   []byte
		)
		if err := rows.Scan(&id, &model, &raw); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find vectors without an embedding: %w", err)
		}
		ids, models, texts = append(ids, id), append(models, model), append(texts, vectorText(decode(raw)))
		after.id, after.model = id, model
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find vectors without an embedding: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := s.pool.Exec(ctx, `
UPDATE memory_embeddings e SET embedding = u.v::`+ext+`.vector
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, model, v)
WHERE e.memory_id = u.id AND e.model = u.model AND e.embedding IS NULL`, ids, models, texts); err != nil {
		return 0, fmt.Errorf("store %d embeddings: %w", len(ids), err)
	}
	return len(ids), nil
}

// pairs lists the (model, length) pairs stored. A loose index scan over
// memory_embeddings_personality_model_idx would be cheaper than DISTINCT
// on millions of rows; this runs once per process until every pair is
// ready, then only when a new pair is stored.
func (s *Service) pairs(ctx context.Context) ([]pairKey, error) {
	s.pgMu.Lock()
	known := s.pairsKnown
	s.pgMu.Unlock()
	if known != nil {
		return known, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT model, dims FROM memory_embeddings ORDER BY model, dims`)
	if err != nil {
		return nil, fmt.Errorf("list embedding models: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pairKey, error) {
		var p pairKey
		return p, r.Scan(&p.model, &p.dims)
	})
	if err != nil {
		return nil, fmt.Errorf("list embedding models: %w", err)
	}
	s.pgMu.Lock()
	s.pairsKnown = out
	s.pgMu.Unlock()
	return out, nil
}

// notePair records that Backfill stored vectors of (model, dims).
func (s *Service) notePair(model string, dims int) {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pairsKnown == nil {
		return // not listed yet: the listing will include it
	}
	for _, p := range s.pairsKnown {
		if p.model == model && p.dims == dims {
			return
		}
	}
	s.pairsKnown = append(s.pairsKnown, pairKey{model, dims})
}

// indexName is the HNSW index of (model, dims): the model's name may hold
// any character, so it is named by a hash of it.
func indexName(p pairKey) string {
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(p.model); i++ {
		h ^= uint64(p.model[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("memory_embeddings_hnsw_%016x_%d", h, p.dims)
}

// literal is s as an SQL string literal. The partial index's predicate
// must be a constant for the planner to match a query to it, so the
// model's name is written into both; doubling quotes is enough with
// standard_conforming_strings on (the default since PostgreSQL 9.1, and
// checked by buildIndex).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// buildIndex makes sure the HNSW index of p exists and is valid; false
// when another process holds the lock (it is building it).
func (s *Service) buildIndex(ctx context.Context, ext string, p pairKey) (bool, error) {
	sql := fmt.Sprintf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON memory_embeddings USING hnsw ((embedding::%s.vector(%d)) %s.vector_cosine_ops) WHERE model = %s AND dims = %d`,
		indexName(p), ext, p.dims, ext, literal(p.model), p.dims)
	start := time.Now()
	ok, err := s.ensureIndex(ctx, indexName(p), sql)
	if err != nil {
		return false, fmt.Errorf("build the vector index of model %q (%d dimensions): %w", p.model, p.dims, err)
	}
	if ok {
		s.log.InfoContext(ctx, "memory vector index ready", "model", p.model, "dims", p.dims, "index", indexName(p), "took", time.Since(start).Round(time.Millisecond))
	}
	return ok, nil
}

// unsyncedIndex finds the rows without an embedding without reading the
// table: once everything is synced it is empty.
const unsyncedIndex = "memory_embeddings_unsynced_idx"

// ensureIndex runs create (CREATE INDEX CONCURRENTLY IF NOT EXISTS name …)
// unless name exists and is valid; false when another process holds the
// lock (it is building one). An invalid index, left by an interrupted
// build, is dropped and built again.
func (s *Service) ensureIndex(ctx context.Context, name, create string) (bool, error) {
	valid, _, err := s.indexValid(ctx, name)
	if err != nil || valid {
		return valid, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	var (
		locked bool
		scs    string
	)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1), current_setting('standard_conforming_strings')`, pgvectorLockKey).Scan(&locked, &scs); err != nil {
		return false, err
	}
	if !locked {
		return false, nil
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, pgvectorLockKey) }()
	if scs != "on" {
		return false, fmt.Errorf("standard_conforming_strings is %s; the vector index needs it on (the default)", scs)
	}
	// Another process may have built it since the first look.
	valid, exists, err := s.indexValid(ctx, name)
	if err != nil || valid {
		return valid, err
	}
	if exists {
		if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+name); err != nil {
			return false, fmt.Errorf("drop the unfinished index %s: %w", name, err)
		}
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Service) indexValid(ctx context.Context, name string) (valid, exists bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false), to_regclass($1) IS NOT NULL`, name).Scan(&valid, &exists)
	if err != nil {
		return false, false, fmt.Errorf("look for index %s: %w", name, err)
	}
	return valid, exists, nil
}

// vectorText is v in the vector type's text form, [1,2.5,…], each value
// printed so that it reads back as the same float32.
func vectorText(v []float32) string {
	b := make([]byte, 0, 2+len(v)*10)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

// efSearch is the HNSW candidate list for a search of limit rows: at
// least pgvector's default 40, twice the limit, at most 1,000 (its cap).
func efSearch(limit int) int { return min(max(40, 2*limit), 1000) }

// pgSearchSQL ranks one personality's vectors of (model, dims) by cosine
// distance in PostgreSQL, with the privacy rule and the personality
// filter in the same statement. With hnsw true the distance is written as
// the index's expression, so the planner can walk the HNSW graph in
// distance order and stop at the limit (or, when the filters leave few
// rows, pick the memories the user may see by their own indexes and sort
// those: an exact search of a small set). With hnsw false the expression
// does not match the index: every visible vector is compared (exact).
// Ordering again outside the MATERIALIZED CTE puts relaxed_order's
// nearly-sorted rows in order.
func pgSearchSQL(schema, model string, dims int, hnsw bool) string {
	ext := pgx.Identifier{schema}.Sanitize()
	typ := fmt.Sprintf("%s.vector(%d)", ext, dims)
	dist := fmt.Sprintf("(e.embedding::%s) OPERATOR(%s.<=>) @q::%s", typ, ext, typ)
	if !hnsw {
		dist = fmt.Sprintf("e.embedding OPERATOR(%s.<=>) @q::%s", ext, typ)
	}
	return fmt.Sprintf(`
WITH c AS MATERIALIZED (
    SELECT m.id, m.personality_id, m.content, m.importance, m.about_user_ids, m.present_user_ids, m.is_dm,
           coalesce(m.discord_channel_id, '') AS channel, coalesce(m.discord_guild_id, '') AS guild, m.formed_by,
           coalesce(m.remembered_at, m.created_at) AS at, %s AS distance
    FROM memory_embeddings e JOIN personality_memories m ON m.id = e.memory_id
    WHERE e.model = %s AND e.dims = %d AND e.personality_id = @personality AND e.embedding IS NOT NULL
      AND m.personality_id = @personality AND %s
    ORDER BY distance LIMIT @limit)
SELECT * FROM c ORDER BY distance, id`, dist, literal(model), dims, memory.VisibleSQL)
}

// searchPG is SearchMemories in PostgreSQL. A filtered HNSW scan can end
// with fewer rows than asked even though more are visible: without
// iterative scans (pgvector before 0.8.0) it stops after ef_search
// candidates, with them after hnsw.max_scan_tuples (20,000). A short
// result is therefore searched again exactly, over the memories the user
// may see, which is the right answer (and cheap: it happens when few of
// the personality's memories are theirs).
func (s *Service) searchPG(ctx context.Context, schema string, iterative bool, model string, q memory.Query, qv []float32, limit int) ([]memory.Memory, error) {
	args := pgx.NamedArgs{"personality": q.PersonalityID, "user": q.UserID, "is_dm": q.IsDM, "guild": nullable(q.GuildID),
		"q": vectorText(qv), "limit": limit}
	out, err := s.queryPG(ctx, pgSearchSQL(schema, model, len(qv), true), args, iterative, limit)
	if err != nil || len(out) >= limit {
		return out, err
	}
	return s.queryPG(ctx, pgSearchSQL(schema, model, len(qv), false), args, false, limit)
}

// queryPG runs one search statement in a transaction that sets the HNSW
// scan for it alone (SET LOCAL through set_config).
func (s *Service) queryPG(ctx context.Context, sql string, args pgx.NamedArgs, iterative bool, limit int) ([]memory.Memory, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("search vectors in PostgreSQL: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	set := `SELECT set_config('hnsw.ef_search', $1, true)`
	if iterative {
		set += `, set_config('hnsw.iterative_scan', 'relaxed_order', true)`
	}
	if _, err := tx.Exec(ctx, set, strconv.Itoa(efSearch(limit))); err != nil {
		return nil, fmt.Errorf("search vectors in PostgreSQL: %w", err)
	}
	rows, err := tx.Query(ctx, sql, args)
	if err != nil {
		return nil, fmt.Errorf("search vectors in PostgreSQL: %w", err)
	}
	var out []memory.Memory
	for rows.Next() {
		var (
			m    memory.Memory
			dist float64
		)
		if err := rows.Scan(&m.ID, &m.PersonalityID, &m.Content, &m.Importance, &m.AboutUserIDs, &m.PresentUserIDs, &m.IsDM,
			&m.ChannelID, &m.GuildID, &m.FormedBy, &m.RememberedAt, &dist); err != nil {
			rows.Close()
			return nil, fmt.Errorf("search vectors in PostgreSQL: %w", err)
		}
		// Cosine distance is 1 - similarity; Score is the similarity, as
		// the host computes it, never below 0.
		m.Score = max(1-dist, 0)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search vectors in PostgreSQL: %w", err)
	}
	return out, tx.Commit(ctx)
}
