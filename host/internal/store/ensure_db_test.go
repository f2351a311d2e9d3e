package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/schema"
)

// A fresh machine has no tzurot database yet: serve creates it instead of
// failing, and a second start finds it and changes nothing.
func TestEnsureDatabaseCreatesAMissingDatabaseOnce(t *testing.T) {
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tzurot_ensure_" + hex.EncodeToString(b)
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dsn := u.String()
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, pgtest.AdminURL())
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Fatalf("database %s exists before the test", name)
	}
	for i := range 2 {
		if err := schema.EnsureDatabase(ctx, dsn, nil); err != nil {
			t.Fatalf("EnsureDatabase (run %d): %v", i+1, err)
		}
	}
	if err := schema.Migrate(ctx, dsn, nil); err != nil {
		t.Fatalf("migrate the created database: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("the database was not created: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM personalities").Scan(&n); err != nil || n != 0 {
		t.Fatalf("migrated database: %d personalities, %v", n, err)
	}
}

func TestEnsureDatabaseSaysWhatIsWrongWithABadURL(t *testing.T) {
	err := schema.EnsureDatabase(context.Background(), "postgres://user:hunter2secret@[::1", nil)
	if err == nil {
		t.Fatal("a malformed URL was accepted")
	}
	if got := err.Error(); got == "" || strings.Contains(got, "hunter2secret") {
		t.Fatalf("error %q leaks the password or says nothing", got)
	}
}
