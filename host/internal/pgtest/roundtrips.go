package pgtest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundTrips counts what a pool sends to the server: each query (Exec,
// Query, QueryRow), each pipelined batch (one round trip however many
// statements it holds) and each statement preparation. It is a pgx tracer.
type RoundTrips struct {
	mu      sync.Mutex
	entries []string
}

// PoolCountingRoundTrips opens a pool of at most maxConns connections on
// dsn whose round trips are counted. Idle connections are not pinged before
// use (pgx pings one idle for a second or more), so the count depends only
// on what the code under test sends.
func PoolCountingRoundTrips(t testing.TB, dsn string, maxConns int32) (*pgxpool.Pool, *RoundTrips) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	rt := &RoundTrips{}
	cfg.ConnConfig.Tracer = rt
	cfg.MaxConns = maxConns
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, rt
}

// Take returns what was sent since the last Take (one line per round trip:
// the statement's first words, "batch of N: …" or "prepare: …") and starts
// counting again.
func (r *RoundTrips) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.entries
	r.entries = nil
	return out
}

func (r *RoundTrips) add(s string) {
	r.mu.Lock()
	r.entries = append(r.entries, s)
	r.mu.Unlock()
}

func short(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 90 {
		s = s[:90] + "…"
	}
	return s
}

// TraceQueryStart implements pgx.QueryTracer.
func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(short(d.SQL))
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer.
func (r *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	var first string
	if d.Batch != nil && d.Batch.Len() > 0 {
		first = short(d.Batch.QueuedQueries[0].SQL)
	}
	n := 0
	if d.Batch != nil {
		n = d.Batch.Len()
	}
	r.add("batch of " + strconv.Itoa(n) + ": " + first)
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (r *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (r *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TracePrepareStart implements pgx.PrepareTracer.
func (r *RoundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	r.add("prepare: " + short(d.SQL))
	return ctx
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (r *RoundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
