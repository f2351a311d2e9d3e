// Package pgtest gives each test its own real PostgreSQL database: created
// with a random name on the server at TZUROT_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres), migrated to the current schema,
// and dropped when the test ends. Tests never share state and never mock the
// database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/schema"
)

// EnvAdminURL names the variable that overrides the admin connection URL.
const EnvAdminURL = "TZUROT_TEST_DATABASE_URL"

// DefaultAdminURL is the local server of the development machines and CI.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the URL of a database on the test server from which new
// databases can be created.
func AdminURL() string {
	if u := os.Getenv(EnvAdminURL); u != "" {
		return u
	}
	return DefaultAdminURL
}

// EmptyDSN creates a new, empty database (no migrations) and returns its
// connection string. The database is dropped, with any connections still
// open to it, when the test ends.
func EmptyDSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name := randomName()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: connect to the test PostgreSQL (set %s to override): %v", EnvAdminURL, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, name) })

	dsn, err := withDatabase(AdminURL(), name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// DSN creates a new database migrated to the latest schema and returns its
// connection string.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := EmptyDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := schema.Migrate(ctx, dsn, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return dsn
}

// New returns a pool on a new, migrated database. The pool is closed before
// the database is dropped.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Pool(t, DSN(t))
}

// Pool opens a pool on dsn, closed when the test ends.
func Pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Errorf("pgtest: connect to drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	// FORCE ends connections a test forgot to close, so one leak does not
	// leave databases behind.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

func randomName() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "tzurot_test_" + hex.EncodeToString(b[:])
}

// withDatabase returns admin with its database replaced by name. Both URL
// and keyword/value connection strings are accepted.
func withDatabase(admin, name string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvAdminURL, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return admin + " dbname=" + name, nil
}
