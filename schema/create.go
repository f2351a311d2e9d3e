package schema

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrDatabaseMissing is returned by CheckDatabase when the server answers
// but the database named in the connection string does not exist.
var ErrDatabaseMissing = errors.New("the database does not exist")

// CheckDatabase connects to the database named in dsn once and says in
// words what is wrong when it cannot: the database is missing
// (ErrDatabaseMissing), the server refused the login, or the server cannot
// be reached. It creates nothing, for callers that must write nothing (a
// dry run).
func CheckDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgxConfig(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		return fmt.Errorf("database %q: %w", cfg.Database, ErrDatabaseMissing)
	}
	return explain("connect to the database", err)
}

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
