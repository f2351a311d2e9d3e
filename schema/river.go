package schema

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// MigrateRiver applies River's own migrations (its job queue tables: river_job, river_queue,
// river_leader, ...) to the database at dsn. River ships and versions them itself, so they are
// run by its migrator rather than copied into schema/migrations; Migrate runs this right after
// the project's migrations, holding the same advisory lock (LockID), so any number of processes
// may start at once and exactly one of them migrates. Serving with --role gateway or worker needs
// these tables; a single process (--role all) does not use them but they cost nothing.
func MigrateRiver(ctx context.Context, dsn string, logger *slog.Logger) error {
	return withRiverMigrator(ctx, dsn, logger, rivermigrate.DirectionUp, nil)
}

// RollbackRiver removes River's tables (every River migration down), under the migration lock.
// `tzurot migrate down -to 0` runs it after the project's own migrations, so rolling everything
// back leaves an empty database; queued jobs are lost with the tables.
func RollbackRiver(ctx context.Context, dsn string, logger *slog.Logger) error {
	return withRiverMigrator(ctx, dsn, logger, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1})
}

func withRiverMigrator(ctx context.Context, dsn string, logger *slog.Logger, dir rivermigrate.Direction, opts *rivermigrate.MigrateOpts) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxConfig(dsn)
	if err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	pcfg.ConnConfig = cfg
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return explain("connect for River's migrations", err)
	}
	defer pool.Close()

	// A session lock on one pinned connection: the migrator runs on the pool's other
	// connection, and other processes wait here until it is done.
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		return explain("connect for River's migrations", err)
	}
	defer lockConn.Release()
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", LockID); err != nil {
		return explain("take the migration lock for River's migrations", err)
	}
	defer func() {
		// Released with the session anyway if this fails (the pool closes right after).
		_, _ = lockConn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", LockID)
	}()

	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger.With("component", "river-migrate")})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	res, err := m.Migrate(ctx, dir, opts)
	if err != nil {
		return explain(fmt.Sprintf("run River's migrations (%s)", dir), err)
	}
	if len(res.Versions) > 0 {
		logger.LogAttrs(ctx, slog.LevelInfo, "ran River's job queue migrations", slog.String("direction", string(dir)), slog.Int("versions", len(res.Versions)))
	}
	return nil
}
