package shapes

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// faultyDB hands out real transactions whose Commit or CopyFrom can be
// made to misbehave, to put a failure at an exact point.
type faultyDB struct {
	pool     *pgxpool.Pool
	commit   func(ctx context.Context, tx pgx.Tx) error
	copyFrom func(ctx context.Context) context.Context
}

func (d *faultyDB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := d.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &faultyTx{Tx: tx, db: d}, nil
}

type faultyTx struct {
	pgx.Tx
	db *faultyDB
}

func (t *faultyTx) Commit(ctx context.Context) error {
	if t.db.commit != nil {
		return t.db.commit(ctx, t.Tx)
	}
	return t.Tx.Commit(ctx)
}

func (t *faultyTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if t.db.copyFrom != nil {
		ctx = t.db.copyFrom(ctx)
	}
	return t.Tx.CopyFrom(ctx, table, cols, src)
}

// reportMatchesDatabase checks that every personality reported written is
// in the database and every other one is not.
func reportMatchesDatabase(t *testing.T, pool *pgxpool.Pool, sum *Summary) {
	t.Helper()
	for _, r := range sum.Results {
		n := queryInt(t, pool, `SELECT count(*) FROM personalities WHERE slug = $1`, r.Slug)
		written := r.Outcome == Created || r.Outcome == Updated || r.Outcome == Unchanged
		if written != (n == 1) {
			t.Errorf("%s reported %s (%s) but the database holds %d rows for it", r.Slug, r.Outcome, r.Reason, n)
		}
		if !written && strings.Contains(r.Reason, "nothing") && n != 0 {
			t.Errorf("%s: report says nothing was written, database disagrees", r.Slug)
		}
	}
}

// TestInterruptAfterAPersonalityIsWrittenCommitsItAndStopsBeforeTheNext:
// Ctrl-C arriving once a personality's work is done (just before its
// commit) does not turn it into a "failed, nothing written" that the
// database contradicts: it is committed and reported created, and the
// import stops before the next one.
func TestInterruptAfterAPersonalityIsWrittenCommitsItAndStopsBeforeTheNext(t *testing.T) {
	pool := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	im := NewImporter(pool, Options{})
	im.beforeCommit = cancel // the interrupt lands after the first personality's work, before its commit
	sum, err := im.ImportShapes(ctx, exampleBackup(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Results) != 3 || sum.Results[0].Outcome != Created {
		t.Fatalf("first personality: %+v; want it created (its work was done when the interrupt came)", sum.Results)
	}
	for _, r := range sum.Results[1:] {
		if r.Outcome != Skipped || !strings.Contains(r.Reason, "interrupted") {
			t.Errorf("%s after the interrupt: %s %q, want skipped as interrupted", r.Slug, r.Outcome, r.Reason)
		}
	}
	if sum.Failed != 0 || sum.Errors != 0 {
		t.Errorf("an interrupt is not a failure: %d failed, %d errors", sum.Failed, sum.Errors)
	}
	reportMatchesDatabase(t, pool, sum)
	if n := queryInt(t, pool, `SELECT count(*) FROM personality_memories`); n != sum.Records[Memories].New {
		t.Errorf("%d memories stored, report says %d", n, sum.Records[Memories].New)
	}
}

// TestInterruptWhileWritingRollsBackAndSaysSo: Ctrl-C in the middle of a
// personality's records leaves nothing of it, and the report says it was
// interrupted (not that the backup is broken).
func TestInterruptWhileWritingRollsBackAndSaysSo(t *testing.T) {
	pool := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := &faultyDB{pool: pool, copyFrom: func(c context.Context) context.Context { cancel(); return c }}
	sum, err := NewImporter(db, Options{}).ImportShapes(ctx, exampleBackup(t))
	if err != nil {
		t.Fatal(err)
	}
	// The archivist (first) has record files: interrupted in its COPY.
	if r := sum.Results[0]; r.Outcome != Skipped || !strings.Contains(r.Reason, "interrupted while this personality was being written; nothing of it was written") {
		t.Errorf("personality interrupted mid-write: %s %q", r.Outcome, r.Reason)
	}
	if sum.Failed != 0 || sum.Created != 0 {
		t.Errorf("created %d, failed %d; want neither", sum.Created, sum.Failed)
	}
	reportMatchesDatabase(t, pool, sum)
	if n := queryInt(t, pool, `SELECT (SELECT count(*) FROM personalities) + (SELECT count(*) FROM personality_aliases) + (SELECT count(*) FROM llm_configs)`); n != 0 {
		t.Errorf("%d rows left by an interrupted personality", n)
	}
}

// TestCommitWhoseReplyIsLostIsReportedFromTheDatabase: when COMMIT reaches
// the server but its answer does not come back, the importer asks the
// database what happened and reports that.
func TestCommitWhoseReplyIsLostIsReportedFromTheDatabase(t *testing.T) {
	pool := pgtest.New(t)
	lost := errors.New("connection reset by peer")
	db := &faultyDB{pool: pool}

	db.commit = func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		return lost // committed on the server; the client never heard
	}
	sum, err := NewImporter(db, Options{}).ImportShapes(context.Background(), exampleBackup(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 || sum.Failed != 0 {
		t.Errorf("commits whose reply was lost: created %d, failed %d; want 3 created (they are in the database)", sum.Created, sum.Failed)
	}
	reportMatchesDatabase(t, pool, sum)

	pool2 := pgtest.New(t)
	db = &faultyDB{pool: pool2, commit: func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.Rollback(ctx); err != nil {
			return err
		}
		return lost // never committed
	}}
	sum, err = NewImporter(db, Options{}).ImportShapes(context.Background(), exampleBackup(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 3 || !strings.Contains(sum.Results[0].Reason, "nothing of this personality was written") {
		t.Errorf("commits that failed: %+v", sum.Results)
	}
	reportMatchesDatabase(t, pool2, sum)
}
