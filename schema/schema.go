// Package schema holds the database schema as goose SQL migrations embedded in
// the binary, and applies them. Every process may call Migrate at start: a
// PostgreSQL session-level advisory lock makes concurrent callers take turns,
// and the one that comes second finds nothing left to do.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var embedded embed.FS

// LockID is the advisory lock key migrations hold while they run. It is ours
// (not goose's default) so another goose-managed schema in the same database
// never waits on us or we on it. It is the first 8 bytes of
// sha256("tzurot-go schema migrations") read as a signed int64, written out
// so that it can never change by accident.
const LockID int64 = -6804848463437409088

// VersionTable is where goose records applied migrations.
const VersionTable = "goose_db_version"

// Migrations returns the embedded migration files (NNNNN_name.sql).
func Migrations() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		// fs.Sub fails only on an invalid path literal, which is fixed above.
		panic(err)
	}
	return sub
}

// Open returns a database/sql handle on dsn through pgx, the form goose needs.
func Open(dsn string) (*sql.DB, error) {
	cfg, err := pgxConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

// NewProvider returns a goose provider over db that locks with LockID. The
// lock is polled once a second for up to ten minutes: a long migration in
// another process delays this one rather than failing it.
func NewProvider(db *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(LockID),
		lock.WithLockTimeout(1, 600),
	)
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithTableName(VersionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger.With("component", "migrate")))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(), opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration to the database at dsn and logs
// what it applied, then River's job queue migrations (MigrateRiver) under the same lock. It is
// what `tzurot serve` and `tzurot migrate up` run.
func Migrate(ctx context.Context, dsn string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Nearly every start finds nothing to apply. Seeing that takes one
	// connection and two reads, without the lock: the full path below opens
	// three connections and takes and releases the lock twice, which was a
	// fifth of serve's start (docs/performance.md, "Start to ready").
	// Anything else, an error included, takes the full path, which says
	// what is wrong in its own words.
	if version, ok := upToDate(ctx, dsn); ok {
		logger.LogAttrs(ctx, slog.LevelInfo, "database schema is up to date",
			slog.Int("applied", 0), slog.Int64("version", version))
		return nil
	}
	db, err := Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := MigrateDB(ctx, db, logger); err != nil {
		return err
	}
	return MigrateRiver(ctx, dsn, logger)
}

// MigrateDB is Migrate over an open handle.
func MigrateDB(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p, err := NewProvider(db, logger)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return explain("apply migrations", err)
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return explain("read schema version", err)
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "database schema is up to date",
		slog.Int("applied", len(results)), slog.Int64("version", current))
	return nil
}

// Pending reports whether the database at dsn has migrations still to
// apply. Commands that only read (doctor, an import's dry run) refuse to run
// on an old schema instead of migrating it.
func Pending(ctx context.Context, dsn string) (bool, error) {
	db, err := Open(dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	return PendingDB(ctx, db)
}

// PendingDB is Pending over an open handle: on a pool the process holds
// already (stdlib.OpenDBFromPool), a readiness check opens no connection.
func PendingDB(ctx context.Context, db *sql.DB) (bool, error) {
	p, err := NewProvider(db, nil)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, explain("check the database schema", err)
	}
	return pending, nil
}

// upToDate reports whether every migration of this binary, the project's
// and River's, is applied at dsn, reading without the migration lock: a
// migration applied is recorded in the same transaction, so what it reads
// is never half done. It returns the schema version when so.
func upToDate(ctx context.Context, dsn string) (int64, bool) {
	cfg, err := pgxConfig(dsn)
	if err != nil {
		return 0, false
	}
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return 0, false
	}
	pcfg.ConnConfig = cfg
	pcfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return 0, false
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := NewProvider(db, nil)
	if err != nil {
		return 0, false
	}
	if pending, err := p.HasPending(ctx); err != nil || pending {
		return 0, false
	}
	version, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, false
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, false
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return 0, false
	}
	applied := make(map[int]bool, len(existing))
	for _, e := range existing {
		applied[e.Version] = true
	}
	for _, v := range m.AllVersions() {
		if !applied[v.Version] {
			return 0, false
		}
	}
	return version, true
}

// explain wraps a goose error with context, and says in plain words what a
// self-hoster should check when the database cannot be reached at all.
func explain(what string, err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// A server that answered with an error is reachable: saying it is
		// not would send the self-hoster to check the wrong thing.
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			if pe.Code == "3D000" { // invalid_catalog_name
				return fmt.Errorf("%s: PostgreSQL answered, but the database named in DATABASE_URL does not exist: %w", what, err)
			}
			return fmt.Errorf("%s: PostgreSQL refused the connection (check the user, password and database in DATABASE_URL): %w", what, err)
		}
		return fmt.Errorf("%s: cannot reach PostgreSQL (is it running, and is DATABASE_URL right?): %w", what, err)
	}
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
		return fmt.Errorf("%s: migration %s failed (everything before it was applied): %w",
			what, pe.Failed.Source.Path, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
