package main

import (
	"context"
	"errors"
)

// runPlugins is not built yet; its issue replaces this file.
func runPlugins(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
