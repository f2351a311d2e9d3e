package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

const keysUsage = `usage: tzurot keys <command> [flags]

  generate   print a new random master key (base64, 32 bytes) for APP_MASTER_KEY
  rotate     re-seal every stored secret with APP_MASTER_KEY; the old key goes in
             APP_MASTER_KEY_PREVIOUS until the rotation reports 0 failed.
             Safe while the bot runs, safe to interrupt and run again.

See docs/schema.md "Rotating the master key" for the full procedure.`

// runKeys implements `tzurot keys`.
func runKeys(ctx context.Context, args []string) error {
	return keys(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return fmt.Errorf("%w: missing keys command", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, keysUsage); fs.PrintDefaults() }
	batch := fs.Int("batch", store.DefaultRotationBatch, "rotate: rows re-sealed per transaction")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	switch sub {
	case "generate":
		k := make([]byte, vault.KeySize)
		if _, err := rand.Read(k); err != nil {
			return fmt.Errorf("read random bytes: %w", err)
		}
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k))
		return nil
	case "rotate":
		return rotateKeys(ctx, *batch, getenv, stdout, stderr)
	default:
		fmt.Fprintln(stderr, keysUsage)
		return fmt.Errorf("%w: unknown keys command %q", errUsage, sub)
	}
}

func rotateKeys(ctx context.Context, batch int, getenv func(string) string, stdout, stderr io.Writer) error {
	v, err := vault.FromEnv(getenv)
	if err != nil {
		return err
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if _, ok := v.PreviousVersion(); !ok {
		logger.Warn("APP_MASTER_KEY_PREVIOUS is not set: values sealed with an older key will be reported as failed")
	}
	rep, err := store.New(pool, v, logger).RotateKeys(ctx, batch, logger)
	fmt.Fprintf(stdout, "rotated %d, already current %d, failed %d\n", rep.Rotated, rep.AlreadyCurrent, rep.Failed)
	if err != nil {
		return fmt.Errorf("rotation stopped (run it again to resume): %w", err)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%w: %d value(s) could not be opened with APP_MASTER_KEY or APP_MASTER_KEY_PREVIOUS (see the log for which rows); keep APP_MASTER_KEY_PREVIOUS until resolved", store.ErrRotationIncomplete, rep.Failed)
	}
	return nil
}
