package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

func dataTestEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestMigrateCommandUpStatusDown(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	env := dataTestEnv(map[string]string{"DATABASE_URL": dsn})
	var out, errOut bytes.Buffer

	if err := migrate(ctx, []string{"status"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pending") || strings.Contains(out.String(), "applied") {
		t.Fatalf("status before up:\n%s", out.String())
	}
	if err := migrate(ctx, []string{"up"}, env, &out, &errOut); err != nil {
		t.Fatalf("up: %v\n%s", err, errOut.String())
	}
	out.Reset()
	if err := migrate(ctx, []string{"status"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "pending") || !strings.Contains(out.String(), "00001_core.sql") {
		t.Fatalf("status after up:\n%s", out.String())
	}

	err := migrate(ctx, []string{"down"}, env, &out, &errOut)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-yes") {
		t.Fatalf("down without -yes: %v", err)
	}
	out.Reset()
	if err := migrate(ctx, []string{"down", "-yes", "-to", "0"}, env, &out, &errOut); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !strings.Contains(out.String(), "00001_core.sql") {
		t.Fatalf("down output:\n%s", out.String())
	}
	out.Reset()
	if err := migrate(ctx, []string{"status"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "applied") {
		t.Fatalf("status after down:\n%s", out.String())
	}

	if err := migrate(ctx, []string{"up"}, dataTestEnv(nil), &out, &errOut); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("no DATABASE_URL: %v", err)
	}
	if err := migrate(ctx, []string{"sideways"}, env, &out, &errOut); !errors.Is(err, errUsage) {
		t.Fatalf("unknown subcommand: %v", err)
	}
	if err := migrate(ctx, []string{"up"}, dataTestEnv(map[string]string{"DATABASE_URL": "postgres://user:hunter2@[::1"}), &out, &errOut); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("malformed URL: %v", err)
	}
}

func TestMigrateUnreachableDatabaseSaysWhatToCheck(t *testing.T) {
	var out, errOut bytes.Buffer
	// Port 1 on loopback: nothing listens there.
	env := dataTestEnv(map[string]string{"DATABASE_URL": "postgres://tzurot:hunter2@127.0.0.1:1/tzurot?connect_timeout=2"})
	err := migrate(context.Background(), []string{"up"}, env, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "is it running") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable database: %v", err)
	}
}
