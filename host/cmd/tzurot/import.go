package main

import (
	"context"
	"errors"
)

// runImport is not built yet; its issue replaces this file.
func runImport(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
