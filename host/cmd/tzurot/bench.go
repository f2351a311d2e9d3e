package main

import (
	"context"
	"errors"
)

// runBench is not built yet; its issue replaces this file.
func runBench(ctx context.Context, args []string) error {
	return errors.New("not available yet in this build")
}
