package main

import (
	"context"
	"errors"
)

// runServe is not built yet; its issue replaces this file.
func runServe(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
