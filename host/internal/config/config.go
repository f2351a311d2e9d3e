// Package config reads the host's settings from the environment. Values are
// read once at start and passed down; nothing here is global.
package config

import (
	"errors"
	"strings"
)

// EnvDatabaseURL names the PostgreSQL connection URL variable.
const EnvDatabaseURL = "DATABASE_URL"

// ErrNoDatabaseURL says how to fix a missing DATABASE_URL.
var ErrNoDatabaseURL = errors.New(EnvDatabaseURL + " is not set: point it at PostgreSQL, for example postgres://tzurot:password@127.0.0.1:5432/tzurot")

// DatabaseURL returns DATABASE_URL. getenv is os.Getenv in production.
func DatabaseURL(getenv func(string) string) (string, error) {
	u := strings.TrimSpace(getenv(EnvDatabaseURL))
	if u == "" {
		return "", ErrNoDatabaseURL
	}
	return u, nil
}
