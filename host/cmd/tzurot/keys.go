package main

import (
	"context"
	"errors"
)

// runKeys is not built yet; its issue replaces this file.
func runKeys(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
