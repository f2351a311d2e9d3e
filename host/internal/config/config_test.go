package config_test

import (
	"errors"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/config"
)

func TestDatabaseURL(t *testing.T) {
	if _, err := config.DatabaseURL(func(string) string { return " " }); !errors.Is(err, config.ErrNoDatabaseURL) {
		t.Fatalf("missing: %v", err)
	}
	got, err := config.DatabaseURL(func(k string) string {
		if k == config.EnvDatabaseURL {
			return " postgres://u@h/db\n"
		}
		return ""
	})
	if err != nil || got != "postgres://u@h/db" {
		t.Fatalf("got %q, %v", got, err)
	}
}
