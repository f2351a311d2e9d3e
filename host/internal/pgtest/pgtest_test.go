package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// Two tests' databases are distinct, migrated, and gone after the test.
func TestDatabasesAreIsolatedAndDropped(t *testing.T) {
	ctx := context.Background()
	var names []string
	t.Run("a", func(t *testing.T) {
		pool := pgtest.New(t)
		var name string
		if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "INSERT INTO users (discord_id) VALUES ('1')"); err != nil {
			t.Fatalf("fresh database is not migrated: %v", err)
		}
		names = append(names, name)
	})
	t.Run("b", func(t *testing.T) {
		pool := pgtest.New(t)
		var name string
		var n int
		if err := pool.QueryRow(ctx, "SELECT current_database(), (SELECT count(*) FROM users)").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("second test sees %d users from the first", n)
		}
		names = append(names, name)
	})
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases not distinct: %v", names)
	}
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var left int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d test databases were not dropped", left)
	}
}
