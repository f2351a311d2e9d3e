package shapes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DB is what the importer needs from a database handle: a transaction per
// personality. *pgxpool.Pool and *pgx.Conn both satisfy it.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Progress is told how an import advances (the command shows a bar).
type Progress interface {
	Start(total int)
	// Step is called after each personality, with its slug.
	Step(slug string)
	Finish()
}

// Options configure an import.
type Options struct {
	// DryRun imports each personality inside a transaction that is rolled
	// back: the report says exactly what would change, and nothing does.
	DryRun bool
	// OwnerDiscordID owns every imported personality (created as a user if
	// needed). Empty: v2 records keep their own ownerId, shapes.inc
	// personalities get no owner.
	OwnerDiscordID string
	// Logger receives progress at debug level and the summary at info.
	Logger *slog.Logger
	// Progress may be nil.
	Progress Progress
	// Out receives one line per personality as it is imported; nil
	// discards them.
	Out io.Writer
}

// Outcome is what happened to one personality.
type Outcome string

const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Unchanged Outcome = "unchanged"
	Skipped   Outcome = "skipped"
	Failed    Outcome = "failed"
)

// Result is one personality's import.
type Result struct {
	Slug    string
	Name    string
	File    string
	Outcome Outcome
	// Changes lists what was (or, in a dry run, would be) written:
	// "personality", column names, "custom_fields.<key>", "llm config", ...
	Changes []string
	Records [numRecordKinds]RecordCounts
	// Reason says why a personality was skipped or failed.
	Reason string
}

// Summary is a whole import.
type Summary struct {
	DryRun                                       bool
	Created, Updated, Unchanged, Skipped, Failed int
	Warnings, Errors                             int
	Records                                      [numRecordKinds]RecordCounts
	Results                                      []Result
	Issues                                       []Issue
}

// Importer writes characters to the database.
type Importer struct {
	db     DB
	opts   Options
	logger *slog.Logger
	// ownersAnnounced remembers owners reported as new: in a dry run each
	// personality's rolled-back transaction creates the user again.
	ownersAnnounced map[string]bool
	// beforeCommit, when set (tests), runs once a personality is written
	// and before its transaction ends: an interrupt can be placed exactly
	// there.
	beforeCommit func()
}

// commitTimeout bounds how long ending a personality's transaction may
// take once its work is done. The interrupt does not apply to it (the
// import stops between personalities instead), so the report can say
// what the database holds.
const commitTimeout = 30 * time.Second

// statusTimeout bounds asking the database whether a commit that returned
// an error went through.
const statusTimeout = 10 * time.Second

// NewImporter returns an importer over db.
func NewImporter(db DB, opts Options) *Importer {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	return &Importer{db: db, opts: opts, logger: logger.With("component", "import"), ownersAnnounced: map[string]bool{}}
}

// ImportShapes imports the shapes.inc backup at path (a backup directory,
// a folder of them, or one profile file).
func (im *Importer) ImportShapes(ctx context.Context, path string) (*Summary, error) {
	log := &issueLog{}
	chars, err := readBackup(path, log)
	if err != nil {
		return nil, err
	}
	if len(chars) == 0 && len(log.issues) == 0 {
		return nil, fmt.Errorf("no shapes.inc backup found in %s: expected <slug>/<slug>.json (a profile) with its <slug>_memories.json and other files", path)
	}
	return im.run(ctx, chars, log), nil
}

// ImportV2 imports a tzurot v2 personalities.json.
func (im *Importer) ImportV2(ctx context.Context, file string) (*Summary, error) {
	log := &issueLog{}
	chars, err := readV2(file, log)
	if err != nil {
		return nil, err
	}
	return im.run(ctx, chars, log), nil
}

func (im *Importer) run(ctx context.Context, chars []*Character, log *issueLog) *Summary {
	sum := &Summary{DryRun: im.opts.DryRun}
	chars = dropDuplicateIDs(chars, log)
	resolveAliasClaims(chars, log)

	if im.opts.Progress != nil {
		im.opts.Progress.Start(len(chars))
		defer im.opts.Progress.Finish()
	}
	for _, c := range chars {
		var res Result
		switch {
		case ctx.Err() != nil:
			res = Result{Slug: c.Slug, Name: c.Columns.Name, File: c.File, Outcome: Skipped, Reason: "the import was interrupted before this personality"}
		case c.Skip != "":
			res = Result{Slug: c.Slug, Name: c.Columns.Name, File: c.File, Outcome: Skipped, Reason: c.Skip}
		default:
			res = im.importOne(ctx, c, log)
		}
		sum.add(res)
		im.printResult(res)
		if im.opts.Progress != nil {
			im.opts.Progress.Step(c.Slug)
		}
	}
	sum.Issues = log.issues
	sum.Warnings, sum.Errors = log.count()
	im.logger.Info("import finished", "dry_run", sum.DryRun,
		"created", sum.Created, "updated", sum.Updated, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "failed", sum.Failed, "warnings", sum.Warnings, "errors", sum.Errors)
	return sum
}

func (s *Summary) add(r Result) {
	s.Results = append(s.Results, r)
	switch r.Outcome {
	case Created:
		s.Created++
	case Updated:
		s.Updated++
	case Unchanged:
		s.Unchanged++
	case Skipped:
		s.Skipped++
	case Failed:
		s.Failed++
	}
	if r.Outcome == Failed {
		// Nothing of a failed personality was written.
		return
	}
	for k := range r.Records {
		s.Records[k].add(r.Records[k])
	}
}

// dropDuplicateIDs keeps the first of several characters with one shapes
// id (the same shape in two backup folders) and reports the rest.
func dropDuplicateIDs(chars []*Character, log *issueLog) []*Character {
	first := map[string]*Character{}
	out := chars[:0]
	for _, c := range chars {
		if prev, ok := first[c.ShapesID]; ok {
			log.fail(c.File, "id", "the same shapes.inc id (%s) as %s; only the first is imported", c.ShapesID, prev.File)
			continue
		}
		first[c.ShapesID] = c
		out = append(out, c)
	}
	return out
}

// resolveAliasClaims gives an alias claimed by several characters of this
// import to the first and reports the others, naming both.
func resolveAliasClaims(chars []*Character, log *issueLog) {
	type claim struct {
		c *Character
		a Alias
	}
	claims := map[string]claim{}
	for _, c := range chars {
		if c.Skip != "" {
			continue
		}
		kept := c.Aliases[:0]
		for _, a := range c.Aliases {
			key := strings.ToLower(strings.TrimSpace(a.Name))
			if prev, ok := claims[key]; ok {
				if prev.c != c {
					log.warn(a.File, a.Field, "alias %q is claimed by both %q (%s) and %q (%s); it goes to %q, the first",
						a.Name, prev.c.Columns.Name, prev.c.Slug, c.Columns.Name, c.Slug, prev.c.Columns.Name)
				}
				continue
			}
			claims[key] = claim{c, a}
			kept = append(kept, a)
		}
		c.Aliases = kept
	}
}

func (im *Importer) printResult(r Result) {
	verb := string(r.Outcome)
	if im.opts.DryRun {
		switch r.Outcome {
		case Created:
			verb = "would create"
		case Updated:
			verb = "would update"
		case Skipped:
			verb = "would skip"
		case Failed:
			verb = "would fail"
		}
	}
	line := fmt.Sprintf("%-12s %s", verb, r.Slug)
	if r.Name != "" && r.Name != r.Slug {
		line += fmt.Sprintf(" (%s)", r.Name)
	}
	switch {
	case r.Reason != "":
		line += ": " + r.Reason
	case len(r.Changes) > 0:
		line += ": " + strings.Join(r.Changes, ", ")
	}
	fmt.Fprintln(im.opts.Out, line)
}

// WriteTo prints the summary: totals, record counts, then every issue.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	head := "Import summary"
	if s.DryRun {
		head = "Dry run: nothing was written. Import summary of what would happen"
	}
	fmt.Fprintf(&b, "\n%s\n", head)
	fmt.Fprintf(&b, "  personalities: %d created, %d updated, %d unchanged, %d skipped, %d failed\n",
		s.Created, s.Updated, s.Unchanged, s.Skipped, s.Failed)
	for k := RecordKind(0); k < numRecordKinds; k++ {
		rc := s.Records[k]
		if rc.Read == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s: %d read, %d new, %d updated, %d unchanged", k, rc.Read, rc.New, rc.Updated, rc.Unchanged)
		if rc.Deleted > 0 {
			fmt.Fprintf(&b, ", %d deleted at the source (skipped)", rc.Deleted)
		}
		if rc.Invalid > 0 {
			fmt.Fprintf(&b, ", %d unreadable (skipped)", rc.Invalid)
		}
		if rc.Duplicates > 0 {
			fmt.Fprintf(&b, ", %d duplicates (last kept)", rc.Duplicates)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %d warnings, %d errors\n", s.Warnings, s.Errors)
	for _, i := range s.Issues {
		b.WriteString("  ")
		b.WriteString(i.String())
		b.WriteString("\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// importOne writes one character in one transaction: all of it or none.
func (im *Importer) importOne(ctx context.Context, c *Character, log *issueLog) Result {
	res := Result{Slug: c.Slug, Name: c.Columns.Name, File: c.File}
	fail := func(file, field string, err error) Result {
		res.Outcome = Failed
		res.Changes = nil
		res.Reason = err.Error() + "; nothing of this personality was written"
		log.fail(file, field, "%v; nothing of this personality was written", err)
		im.logger.Debug("personality failed", "slug", c.Slug, "error", err)
		return res
	}

	interrupted := func() Result {
		res.Outcome = Skipped
		res.Changes = nil
		res.Records = [numRecordKinds]RecordCounts{}
		res.Reason = "the import was interrupted while this personality was being written; nothing of it was written"
		im.logger.Debug("personality interrupted", "slug", c.Slug)
		return res
	}
	if ctx.Err() != nil {
		return interrupted()
	}

	tx, err := im.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return fail(c.File, "", fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	w := &writer{tx: tx, c: c, log: log, res: &res, ownersAnnounced: im.ownersAnnounced}
	if err := w.write(ctx, im.ownerFor(c)); err != nil {
		if ctx.Err() != nil {
			// Stopped halfway: the transaction is rolled back (the
			// deferred Rollback, or the server when pgx closed the
			// connection on cancel).
			return interrupted()
		}
		var fe *fileError
		if errors.As(err, &fe) {
			return fail(fe.file, fe.field, fe.err)
		}
		return fail(c.File, "", err)
	}
	if im.beforeCommit != nil {
		im.beforeCommit()
	}

	// The work is done: from here an interrupt no longer applies to this
	// personality. Ending its transaction with the cancellable context
	// would let Ctrl-C land between the server committing and pgx
	// hearing so, and the report would call a committed personality
	// failed.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if im.opts.DryRun {
		if err := tx.Rollback(endCtx); err != nil {
			return fail(c.File, "", fmt.Errorf("roll back the dry run: %w", err))
		}
	} else {
		var xid string
		if err := tx.QueryRow(endCtx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
			return fail(c.File, "", fmt.Errorf("read the transaction id: %w", err))
		}
		if err := tx.Commit(endCtx); err != nil {
			// Asked with time of its own: the commit may have used up
			// endCtx's.
			statusCtx, cancelStatus := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
			defer cancelStatus()
			switch im.transactionStatus(statusCtx, xid) {
			case "committed":
				// The reply was lost, not the commit.
				im.logger.Debug("commit reported an error but the transaction committed", "slug", c.Slug, "error", err)
			case "aborted":
				return fail(c.File, "", fmt.Errorf("commit: %w", err))
			default:
				res.Outcome = Failed
				res.Changes = nil
				res.Reason = fmt.Sprintf("commit: %v; the database did not say whether this personality was written: run the same import again (it writes what is missing)", err)
				log.fail(c.File, "", "%s", res.Reason)
				return res
			}
		}
	}
	if w.newOwner != "" {
		im.ownersAnnounced[w.newOwner] = true
	}
	switch {
	case w.created:
		res.Outcome = Created
	case len(res.Changes) > 0:
		res.Outcome = Updated
	default:
		res.Outcome = Unchanged
	}
	res.Slug = w.slug
	im.logger.Debug("personality imported", "slug", res.Slug, "outcome", res.Outcome, "dry_run", im.opts.DryRun)
	return res
}

// transactionStatus asks the database, on another connection, what became
// of transaction xid after its commit returned an error: "committed",
// "aborted", or "" when it cannot tell. A transaction whose connection was
// cut can stay "in progress" for a moment; it is asked again until ctx ends.
func (im *Importer) transactionStatus(ctx context.Context, xid string) string {
	for {
		status, err := im.queryTransactionStatus(ctx, xid)
		if err != nil {
			im.logger.Debug("could not read the transaction status", "xid", xid, "error", err)
			return ""
		}
		if status != "in progress" {
			return status
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (im *Importer) queryTransactionStatus(ctx context.Context, xid string) (string, error) {
	tx, err := im.db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return "", err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var status *string
	if err := tx.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status); err != nil {
		return "", err
	}
	if status == nil {
		return "", nil
	}
	return *status, nil
}

func (im *Importer) ownerFor(c *Character) wantedOwner {
	if im.opts.OwnerDiscordID != "" {
		return wantedOwner{im.opts.OwnerDiscordID, "--owner"}
	}
	return wantedOwner{c.OwnerDiscordID, "ownerId"}
}

// fileError is an error about one file of a personality (a record file),
// so the report names it rather than the profile.
type fileError struct {
	file, field string
	err         error
}

func (e *fileError) Error() string { return e.file + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }
