package schema

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnsureDatabase creates the database named in dsn when the server says it
// does not exist, so a fresh machine needs no manual `createdb` before
// `make run`. It connects to the server's "postgres" database with the same
// credentials to do so; a user without CREATEDB gets PostgreSQL's own
// refusal, wrapped with what to do instead. An existing database is left
// alone.
func EnsureDatabase(ctx context.Context, dsn string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxConfig(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" { // invalid_catalog_name
		return explain("connect to the database", err)
	}
	name := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return explain(fmt.Sprintf("database %q does not exist, and connecting to create it failed", name), err)
	}
	defer aconn.Close(ctx)
	if _, err := aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database: another process won
			return nil
		}
		return fmt.Errorf("database %q does not exist and could not be created (create it yourself, e.g. `createdb %s`): %w", name, name, err)
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "created the database", slog.String("database", name))
	return nil
}
