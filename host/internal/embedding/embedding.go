// Package embedding is memory search by meaning: vectors for a
// personality's memories, made in the background by the deployment's
// embedding plugin (capability llm.embed), kept in PostgreSQL
// (memory_embeddings, one row per memory and model) and compared in the
// host by cosine similarity. It implements memory.VectorSearcher; without
// it, retrieval is full text only.
//
// Who pays: embedding is the deployment's cost, never a user's. Every
// embed call is made for plugin.DeploymentCaller, which the key source
// serves the deployment's fallback key for the plugin's slot (none for a
// local server without a key slot), and each call is one usage row of
// kind embed with no user (docs/pipeline.md, "Memory embeddings").
//
// Why the host computes the similarity: PostgreSQL's vector extension is
// not in every distribution's packages, a deployment may change model
// (vectors of several lengths side by side), and one personality's
// vectors fit in memory (100k memories of 256 dimensions are 100 MB).
// Vectors are normalised when loaded, so cosine is a dot product over a
// flat []float32.
package embedding

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Embedder is the part of plugin.Host the package uses.
type Embedder interface {
	Embed(ctx context.Context, name string, req abi.EmbedRequest) (abi.EmbedResponse, []abi.Usage, error)
}

// UsageWriter records usage rows; *store.Store implements it.
type UsageWriter interface {
	InsertUsage(ctx context.Context, u store.Usage) (bool, error)
}

// Config is the deployment's embedding setup (docs/pipeline.md lists the
// environment variables).
type Config struct {
	// Plugin is the plugins.toml entry granted llm.embed
	// (TZUROT_EMBED_PLUGIN). Empty turns embeddings off.
	Plugin string
	// Model is the embedding model (TZUROT_EMBED_MODEL); empty is the
	// plugin's default.
	Model string
	// Dimensions, when > 0, asks for vectors of this length
	// (TZUROT_EMBED_DIMENSIONS): 256 is a sixth of the memory and time of
	// text-embedding-3-small's 1536 for most of its quality.
	Dimensions int
	// Batch is the most memories embedded in one call (default 64).
	Batch int
	// Interval is how often the backfill looks for memories without a
	// vector when nothing woke it (default 30s).
	Interval time.Duration
	// QueryChars is how much of the end of the conversation a search
	// embeds (default 2000 characters).
	QueryChars int
	// Refresh is how old a personality's loaded vectors may get before a
	// search reads the rows added since (default 30s): another process's
	// backfill may have written them.
	Refresh time.Duration
	// PGVector is PGVectorAuto (use PostgreSQL's vector extension when the
	// server has it) or PGVectorOff (TZUROT_EMBED_PGVECTOR=off: search in
	// the host even so).
	PGVector string
}

// The values of Config.PGVector.
const (
	PGVectorAuto = "auto"
	PGVectorOff  = "off"
)

func (c *Config) defaults() {
	if c.Batch <= 0 || c.Batch > abi.MaxEmbedInputs {
		c.Batch = 64
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.QueryChars <= 0 {
		c.QueryChars = 2000
	}
	if c.Refresh <= 0 {
		c.Refresh = 30 * time.Second
	}
}

// Service embeds memories in the background and searches them.
type Service struct {
	pool  *pgxpool.Pool
	emb   Embedder
	usage UsageWriter
	cfg   Config
	log   *slog.Logger

	// model is the name vectors are stored under: cfg.Model, else the
	// model the plugin said answered (learned from the first call).
	model atomic.Pointer[string]

	mu   sync.Mutex
	sets map[setKey]*vectorSet

	wake chan struct{}
	seq  atomic.Int64 // request ids of usage rows

	// pg is what search knows of PostgreSQL's vector extension
	// (pgvector.go); pairsKnown the (model, length) pairs stored, nil
	// until listed. recheck: the PostgreSQL path failed and is off until
	// Run detects the extension again.
	pgMu       sync.Mutex
	pg         pgState
	pairsKnown []pairKey
	recheck    atomic.Bool

	// Searches made in PostgreSQL and in the host (tests and the log
	// read them).
	pgSearches, hostSearches atomic.Int64
}

type setKey struct {
	personality int64
	model       string
}

// New returns a Service; call Run for the backfill.
func New(pool *pgxpool.Pool, emb Embedder, usage UsageWriter, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	s := &Service{pool: pool, emb: emb, usage: usage, cfg: cfg, log: log, sets: map[setKey]*vectorSet{}, wake: make(chan struct{}, 1)}
	if cfg.Model != "" {
		m := cfg.Model
		s.model.Store(&m)
	}
	return s
}

// Kick wakes the backfill now (a memory was just stored or imported). It
// never blocks.
func (s *Service) Kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// modelName is the name vectors are stored under, "" before it is known.
func (s *Service) modelName() string {
	if p := s.model.Load(); p != nil {
		return *p
	}
	return ""
}

// embed makes one embed call for the deployment and records its usage.
func (s *Service) embed(ctx context.Context, personalityID int64, inputs []string) (abi.EmbedResponse, error) {
	start := time.Now()
	ctx = plugin.WithCall(ctx, plugin.Call{UserID: plugin.DeploymentCaller, PersonalityID: strconv.FormatInt(personalityID, 10),
		RequestID: fmt.Sprintf("embed-%d-%d", start.UnixNano(), s.seq.Add(1))})
	resp, usage, err := s.emb.Embed(ctx, s.cfg.Plugin, abi.EmbedRequest{Model: s.cfg.Model, Inputs: inputs, Dimensions: s.cfg.Dimensions})
	c, _ := plugin.CallFrom(ctx)
	for i, u := range usage {
		row := store.Usage{RequestID: c.RequestID + "#" + strconv.Itoa(i), PersonalityID: personalityID,
			Provider: u.Provider, Model: u.Model, Kind: store.KindEmbed, InputTokens: int(u.InputTokens), Latency: time.Since(start)}
		if _, uerr := s.usage.InsertUsage(context.WithoutCancel(ctx), row); uerr != nil {
			s.log.WarnContext(ctx, "embedding usage not recorded", slog.Any("err", uerr))
		}
	}
	if err != nil {
		return resp, err
	}
	if s.modelName() == "" && resp.Model != "" {
		m := resp.Model
		s.model.CompareAndSwap(nil, &m)
	}
	return resp, nil
}

// encode is a vector as memory_embeddings.vector: little-endian float32s.
func encode(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// errNoModel: no embed call has said which model answers yet.
var errNoModel = errors.New("the embedding model is not known yet")

// Backfill embeds up to one batch of memories that have no vector for the
// current model and stores the vectors; it returns how many it stored.
// All of a batch is stored in one statement, or none of it.
func (s *Service) Backfill(ctx context.Context) (int, error) {
	model := s.modelName()
	rows, err := s.pool.Query(ctx, `
SELECT m.id, m.personality_id, m.content FROM personality_memories m
WHERE NOT EXISTS (SELECT 1 FROM memory_embeddings e WHERE e.memory_id = m.id AND e.model = $1)
ORDER BY m.personality_id, m.id LIMIT $2`, model, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("find memories to embed: %w", err)
	}
	var (
		ids, pers []int64
		texts     []string
	)
	for rows.Next() {
		var id, p int64
		var text string
		if err := rows.Scan(&id, &p, &text); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find memories to embed: %w", err)
		}
		ids, pers, texts = append(ids, id), append(pers, p), append(texts, text)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find memories to embed: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	resp, err := s.embed(ctx, pers[0], texts)
	if err != nil {
		return 0, fmt.Errorf("embed %d memories: %w", len(ids), err)
	}
	stored := resp.Model
	if s.cfg.Model != "" || stored == "" {
		stored = s.modelName()
	}
	if stored == "" {
		return 0, errNoModel
	}
	vecs := make([][]byte, len(ids))
	for i, v := range resp.Vectors {
		vecs[i] = encode(v)
	}
	dims := len(resp.Vectors[0])
	tag, err := s.store(ctx, ids, pers, stored, dims, vecs, resp.Vectors)
	if err != nil {
		return 0, fmt.Errorf("store %d vectors: %w", len(ids), err)
	}
	s.notePair(stored, dims)
	// Searches in this process see the new vectors at once.
	s.mu.Lock()
	for i, id := range ids {
		if set := s.sets[setKey{pers[i], stored}]; set != nil {
			set.add(id, resp.Vectors[i])
		}
	}
	s.mu.Unlock()
	return int(tag.RowsAffected()), nil
}

const insertSQL = `
INSERT INTO memory_embeddings (memory_id, personality_id, model, dims, vector)
SELECT u.id, u.p, $3, $4, u.v FROM unnest($1::bigint[], $2::bigint[], $5::bytea[]) AS u (id, p, v)
WHERE EXISTS (SELECT 1 FROM personality_memories m WHERE m.id = u.id)
ON CONFLICT (memory_id, model) DO NOTHING`

// store inserts a batch of vectors in one statement. With the vector
// extension in use the embedding column is written in the same statement
// (no row is ever searchable in the host and missing in PostgreSQL); if
// that fails because the extension was dropped meanwhile, the PostgreSQL
// path is turned off and the batch stored as before.
func (s *Service) store(ctx context.Context, ids, pers []int64, model string, dims int, vecs [][]byte, raw [][]float32) (pgconn.CommandTag, error) {
	s.pgMu.Lock()
	on, schema := s.pg.on, s.pg.schema
	s.pgMu.Unlock()
	if on {
		texts := make([]string, len(raw))
		for i, v := range raw {
			texts[i] = vectorText(v)
		}
		tag, err := s.pool.Exec(ctx, `
INSERT INTO memory_embeddings (memory_id, personality_id, model, dims, vector, embedding)
SELECT u.id, u.p, $3, $4, u.v, u.t::`+pgx.Identifier{schema}.Sanitize()+`.vector
FROM unnest($1::bigint[], $2::bigint[], $5::bytea[], $6::text[]) AS u (id, p, v, t)
WHERE EXISTS (SELECT 1 FROM personality_memories m WHERE m.id = u.id)
ON CONFLICT (memory_id, model) DO NOTHING`, ids, pers, model, dims, vecs, texts)
		if !pgGone(err) {
			return tag, err
		}
		s.log.WarnContext(ctx, "the vector extension is gone; memory vector search goes back to the host", slog.Any("err", err))
		s.pgOff()
	}
	return s.pool.Exec(ctx, insertSQL, ids, pers, model, dims, vecs)
}

// pgGone reports whether err says the vector extension, its column or its
// type no longer exist (undefined column, object, function or schema).
func pgGone(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42703", "42704", "42883", "3F000", "58P01": // 58P01: the library file is missing
		return true
	}
	return false
}

// Run backfills until ctx ends: a batch at a time while there is work,
// then every Interval or when kicked. A failing plugin is retried with
// backoff (up to 10 minutes between tries); replies never wait for it.
func (s *Service) Run(ctx context.Context) {
	backoff := time.Duration(0)
	// The vector extension's upkeep runs beside the backfill, one at a
	// time: building an HNSW index of 100k vectors takes minutes (tens on
	// a busy small machine), and new memories must get their vectors
	// meanwhile. Run returns after it (a cancelled build leaves an invalid
	// index, which the next start drops and builds again).
	var (
		upkeep  sync.WaitGroup
		running atomic.Bool
	)
	defer upkeep.Wait()
	maintain := func() {
		if !running.CompareAndSwap(false, true) {
			return
		}
		upkeep.Add(1)
		go func() {
			defer upkeep.Done()
			defer running.Store(false)
			if err := s.MaintainPGVector(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "preparing memory vector search in PostgreSQL failed; searching in the host meanwhile", slog.Any("err", err))
				if pgGone(err) {
					s.pgOff()
				}
			}
		}()
	}
	for {
		if s.recheck.Swap(false) {
			st, err := s.EnablePGVector(ctx)
			s.logPGVector(ctx, st, err)
		}
		n, err := s.Backfill(ctx)
		if n < s.cfg.Batch {
			// Nothing more to embed now (or the plugin fails): copy what
			// is not yet in the vector extension's column and build its
			// indexes (a no-op without it).
			maintain()
		}
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, 5*time.Second), 10*time.Minute)
			wait = backoff
			s.log.WarnContext(ctx, "embedding memories failed; trying again later", slog.Any("err", err), slog.Duration("retry_in", wait))
		case n > 0:
			backoff = 0
			continue
		default:
			backoff = 0
			wait = s.cfg.Interval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.wake:
			t.Stop()
		}
	}
}

// compile-time check: Service is what memory retrieval takes.
var _ memory.VectorSearcher = (*Service)(nil)
