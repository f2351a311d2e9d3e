package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/config"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/schema"
)

const doctorUsage = `usage: tzurot doctor [check ...]

Looks for problems in the database and says how to fix each. Reads only;
changes nothing. With no check named, runs them all. Exit status 1 when a
problem is found.

checks:
`

// doctorCheck is one check of `tzurot doctor`. run prints what it finds to
// w and returns how many problems it found.
type doctorCheck struct {
	name    string
	summary string
	run     func(ctx context.Context, st *store.Store, w io.Writer) (problems int, err error)
}

// doctorChecks lists the checks in the order `tzurot doctor` runs them.
// A new check is one entry here.
func doctorChecks() []doctorCheck {
	return []doctorCheck{
		{"names", "strings (name, display name, slug, alias) claimed by several personalities, or recorded for none", checkNames},
	}
}

// runDoctor implements `tzurot doctor`.
func runDoctor(ctx context.Context, args []string) error {
	return doctor(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

func doctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	all := doctorChecks()
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		for _, c := range all {
			fmt.Fprintf(stderr, "  %-8s %s\n", c.name, c.summary)
		}
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	checks := all
	if fs.NArg() > 0 {
		checks = nil
		for _, name := range fs.Args() {
			i := indexCheck(all, name)
			if i < 0 {
				fs.Usage()
				return fmt.Errorf("%w: unknown check %q", errUsage, name)
			}
			checks = append(checks, all[i])
		}
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	if err := schemaCurrent(ctx, dsn); err != nil {
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
	st := store.New(pool, nil, nil)

	total := 0
	for _, c := range checks {
		n, err := c.run(ctx, st, stdout)
		if err != nil {
			return fmt.Errorf("check %s: %w", c.name, err)
		}
		if n == 0 {
			fmt.Fprintf(stdout, "%s: ok\n", c.name)
		}
		total += n
	}
	if total > 0 {
		return fmt.Errorf("%d problem(s) found (see above)", total)
	}
	return nil
}

func indexCheck(checks []doctorCheck, name string) int {
	for i, c := range checks {
		if c.name == name {
			return i
		}
	}
	return -1
}

// schemaCurrent refuses to check a database whose schema is behind: the
// checks read tables the migrations create. Doctor changes nothing, so it
// does not migrate.
func schemaCurrent(ctx context.Context, dsn string) error {
	pending, err := schema.Pending(ctx, dsn)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the database schema is not up to date: run `tzurot migrate up` (or start `tzurot serve`) first")
	}
	return nil
}

// checkNames lists every string that calls a personality and is claimed by
// more than one (rows from before migration 5, which records one holder per
// string but does not resolve older clashes), or that no personality is
// recorded as holding. Each claim gets a suggested fix.
func checkNames(ctx context.Context, st *store.Store, w io.Writer) (int, error) {
	conflicts, err := st.NameConflicts(ctx)
	if err != nil {
		return 0, err
	}
	if len(conflicts) == 0 {
		return 0, nil
	}
	fmt.Fprintf(w, "names: %d string(s) that should call exactly one personality do not (docs/security.md):\n", len(conflicts))
	for _, c := range conflicts {
		holder := "nobody"
		for _, cl := range c.Claims {
			if cl.Holds {
				holder = fmt.Sprintf("%s (id %d)", cl.Slug, cl.PersonalityID)
				break
			}
		}
		fmt.Fprintf(w, "\n  %q: \"@%s\" calls %s\n", c.Handle, c.Handle, holder)
		for _, cl := range c.Claims {
			who := fmt.Sprintf("%s (id %d, %s, owner %s)", cl.Slug, cl.PersonalityID, visibility(cl.IsPublic), orNone(cl.OwnerDiscord))
			if cl.Holds {
				fmt.Fprintf(w, "    - %s %q of %s: holds it\n", cl.Kind, cl.Value, who)
				continue
			}
			fmt.Fprintf(w, "    - %s %q of %s: does not call it\n      fix: %s\n", cl.Kind, cl.Value, who, nameFix(c, cl))
		}
	}
	return len(conflicts), nil
}

// nameFix suggests how to end one claim that is not the holder's.
func nameFix(c store.NameConflict, cl store.NameClaim) string {
	if c.HolderID == 0 && countPersonalities(c) == 1 {
		return fmt.Sprintf("save it again to record it, e.g. `/personality edit personality:%s name:%s`", cl.Slug, cl.Name)
	}
	switch cl.Kind {
	case "name":
		return fmt.Sprintf("rename it: `/personality edit personality:%s name:<another name>`", cl.Slug)
	case "display name":
		return fmt.Sprintf("`/personality edit personality:%s display_name:none` (or another display name)", cl.Slug)
	case "alias":
		return fmt.Sprintf("`/personality alias remove personality:%s alias:%s`", cl.Slug, cl.Value)
	}
	// No command changes a slug.
	return fmt.Sprintf("change the other personality's string, or the slug in SQL: UPDATE personalities SET slug = '%s-2' WHERE id = %d", strings.ReplaceAll(cl.Slug, "'", "''"), cl.PersonalityID)
}

func countPersonalities(c store.NameConflict) int {
	seen := map[int64]bool{}
	for _, cl := range c.Claims {
		seen[cl.PersonalityID] = true
	}
	return len(seen)
}

func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
