package main

import (
	"context"
	"errors"
)

// runMigrate is not built yet; its issue replaces this file.
func runMigrate(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
