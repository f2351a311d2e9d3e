package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/schema"
)

const migrateUsage = `usage: tzurot migrate [up|down|status] [flags]

  up       apply every pending migration (what serve does at start)
  down     roll back the last migration, or down to -to VERSION; needs -yes
           because rolling back can delete data (see docs/schema.md)
  status   list migrations and whether each is applied

DATABASE_URL selects the database. Several processes may migrate at once:
they take turns under a PostgreSQL advisory lock.`

// runMigrate implements `tzurot migrate`.
func runMigrate(ctx context.Context, args []string) error {
	return migrate(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub := "up"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("migrate "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, migrateUsage); fs.PrintDefaults() }
	to := fs.Int64("to", -1, "down: roll back to this version (0 = everything)")
	yes := fs.Bool("yes", false, "down: confirm that rolling back may delete data")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	switch sub {
	case "up":
		if err := schema.EnsureDatabase(ctx, dsn, logger); err != nil {
			return err
		}
		return schema.Migrate(ctx, dsn, logger)
	case "down":
		if !*yes {
			return fmt.Errorf("%w: refusing to roll back without -yes (rolling back can delete data; see docs/schema.md)", errUsage)
		}
		return migrateDown(ctx, dsn, *to, logger, stdout)
	case "status":
		return migrateStatus(ctx, dsn, stdout)
	default:
		fmt.Fprintln(stderr, migrateUsage)
		return fmt.Errorf("%w: unknown migrate command %q", errUsage, sub)
	}
}

func migrateDown(ctx context.Context, dsn string, to int64, logger *slog.Logger, stdout io.Writer) error {
	db, err := schema.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := schema.NewProvider(db, logger)
	if err != nil {
		return err
	}
	if to < 0 {
		r, err := p.Down(ctx)
		if err != nil {
			return fmt.Errorf("roll back: %w", err)
		}
		fmt.Fprintln(stdout, r)
		return nil
	}
	results, err := p.DownTo(ctx, to)
	for _, r := range results {
		fmt.Fprintln(stdout, r)
	}
	if err != nil {
		return fmt.Errorf("roll back to %d: %w", to, err)
	}
	if len(results) == 0 {
		fmt.Fprintf(stdout, "nothing to roll back: already at or below version %d\n", to)
	}
	if to == 0 {
		// Everything back means River's job queue tables too (docs/schema.md).
		if err := schema.RollbackRiver(ctx, dsn, logger); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed River's job queue tables")
	}
	return nil
}

func migrateStatus(ctx context.Context, dsn string, stdout io.Writer) error {
	db, err := schema.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := schema.NewProvider(db, nil)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, s := range st {
		at := "-"
		if !s.AppliedAt.IsZero() {
			at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
	}
	return tw.Flush()
}
