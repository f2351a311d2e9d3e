package schema

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgxConfig parses dsn without ever echoing it: a DSN can carry a password,
// and pgx's own parse errors quote the input.
func pgxConfig(dsn string) (*pgx.ConnConfig, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no database URL: set DATABASE_URL (for example postgres://tzurot@127.0.0.1:5432/tzurot)")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("the database URL is not a valid PostgreSQL connection string (value hidden)")
	}
	return cfg, nil
}
