package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/logging"
	"github.com/tzurot-go/tzurot/host/internal/shapes"
	"github.com/tzurot-go/tzurot/schema"
)

const importUsage = `usage: tzurot import shapes [flags] PATH
       tzurot import v2 [flags] personalities.json

  shapes   a shapes.inc backup: one <slug>/ directory (<slug>.json with its
           _memories, _knowledge, _training, _user_personalization and
           _chat_history files), a folder of such directories, or one
           profile .json
  v2       the tzurot v2 personality store (its personalities and aliases)

Every source field lands in a column, in custom_fields, or in the drop list of
docs/import.md. Each personality is written in one transaction (all or
nothing); running the same import again changes nothing.

flags:`

// importDefaultDatabaseURL is used when neither --database-url nor
// DATABASE_URL is given: the local server of a development machine.
const importDefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/tzurot?sslmode=disable"

// runImport implements `tzurot import`.
func runImport(ctx context.Context, args []string) error {
	isTerminal := term.IsTerminal(int(os.Stderr.Fd()))
	return importCommand(ctx, args, os.Getenv, os.Stdout, os.Stderr, isTerminal)
}

func importCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, isTerminal bool) error {
	if len(args) == 0 || (args[0] != "shapes" && args[0] != "v2") {
		fmt.Fprintln(stderr, importUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: say what to import: shapes or v2", errUsage)
		}
		return fmt.Errorf("%w: unknown import source %q (use shapes or v2)", errUsage, args[0])
	}
	kind, args := args[0], args[1:]
	fs := flag.NewFlagSet("import "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, importUsage); fs.PrintDefaults() }
	dryRun := fs.Bool("dry-run", false, "print exactly what would change and write nothing")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, else "+importDefaultDatabaseURL+")")
	owner := fs.String("owner", "", "Discord user id that owns the imported personalities (created as a user if new)")
	verbose := fs.Bool("verbose", false, "log each personality as it is written (LOG_LEVEL=debug)")

	// Flags may come before or after the path.
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: give exactly one path to import (got %d)", errUsage, len(paths))
	}
	if *owner != "" && !shapes.IsDiscordID(*owner) {
		return fmt.Errorf("%w: --owner must be a Discord user id (1 to 20 digits), got %q", errUsage, *owner)
	}

	dsn := *dbURL
	if dsn == "" {
		var err error
		dsn, err = config.DatabaseURL(getenv)
		if errors.Is(err, config.ErrNoDatabaseURL) {
			dsn = importDefaultDatabaseURL
		} else if err != nil {
			return err
		}
	}

	logEnv := getenv
	if *verbose {
		logEnv = func(k string) string {
			if k == "LOG_LEVEL" {
				return "debug"
			}
			return getenv(k)
		}
	}
	logger, err := logging.New(stderr, logging.Options{Getenv: logEnv})
	if err != nil {
		return err
	}

	if err := prepareSchema(ctx, dsn, *dryRun, logger); err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx quotes the input in its parse errors; a URL can hold a password.
		return errors.New("the database URL is not a valid PostgreSQL connection string (value hidden)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer pool.Close()

	opts := shapes.Options{DryRun: *dryRun, OwnerDiscordID: *owner, Logger: logger, Out: stdout}
	if isTerminal {
		bar := &progressBar{w: stderr}
		opts.Progress = bar
		// A report line must not land in the middle of the bar.
		opts.Out = &barClearingWriter{w: stdout, bar: bar}
	}
	im := shapes.NewImporter(pool, opts)
	var sum *shapes.Summary
	if kind == "shapes" {
		sum, err = im.ImportShapes(ctx, paths[0])
	} else {
		sum, err = im.ImportV2(ctx, paths[0])
	}
	if err != nil {
		return err
	}
	if _, err := sum.WriteTo(stdout); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: personalities already written stay (each is complete); run the same command again to finish")
	}
	if sum.Failed > 0 || sum.Errors > 0 {
		return fmt.Errorf("%d personalities failed and %d errors were reported (see above); everything else was imported", sum.Failed, sum.Errors)
	}
	return nil
}

// prepareSchema creates a missing database and brings the schema up to
// date before an import, as serve does at start. A dry run writes nothing,
// the database and migrations included: it only checks and says what to
// run.
func prepareSchema(ctx context.Context, dsn string, dryRun bool, logger *slog.Logger) error {
	if !dryRun {
		// As serve and migrate do: a fresh machine needs no createdb.
		if err := schema.EnsureDatabase(ctx, dsn, logger); err != nil {
			return err
		}
		return schema.Migrate(ctx, dsn, logger)
	}
	if err := schema.CheckDatabase(ctx, dsn); err != nil {
		if errors.Is(err, schema.ErrDatabaseMissing) {
			return fmt.Errorf("%w, and a dry run creates nothing: run `tzurot migrate up` (or the import without --dry-run) first", err)
		}
		return err
	}
	pending, err := schema.Pending(ctx, dsn)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the database schema is not up to date, and a dry run changes nothing: run `tzurot migrate up` first")
	}
	return nil
}

// progressBar shows an import's progress on a terminal.
type progressBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *progressBar) Start(total int) {
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *progressBar) Step(slug string) {
	p.bar.Describe(slug)
	_ = p.bar.Add(1)
}

func (p *progressBar) Finish() { _ = p.bar.Finish() }

// barClearingWriter clears the bar before each report line, so the line
// and the bar (redrawn on the next step) do not share a terminal row.
type barClearingWriter struct {
	w   io.Writer
	bar *progressBar
}

func (c *barClearingWriter) Write(b []byte) (int, error) {
	if c.bar.bar != nil {
		_ = c.bar.bar.Clear()
	}
	return c.w.Write(b)
}
