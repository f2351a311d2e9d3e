package shapes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// writer writes one character inside its transaction and records what
// changed in res.
type writer struct {
	tx  pgx.Tx
	c   *Character
	log *issueLog
	res *Result

	id      int64
	slug    string
	created bool
	// enrich: a v2 record adding to a personality imported otherwise;
	// fill empty values only, overwrite nothing.
	enrich  bool
	ownerID *int64
	// ownersAnnounced is shared across the run (see Importer); newOwner is
	// the owner this transaction created, announced once it succeeds.
	ownersAnnounced map[string]bool
	newOwner        string
}

func (w *writer) change(format string, args ...any) {
	w.res.Changes = append(w.res.Changes, fmt.Sprintf(format, args...))
}

// wantedOwner is the owner an import asks for, and where it asked (for
// messages): "--owner" or the v2 record's ownerId field.
type wantedOwner struct {
	discordID string
	source    string
}

func (w *writer) write(ctx context.Context, owner wantedOwner) error {
	if owner.discordID != "" && !IsDiscordID(owner.discordID) {
		return fmt.Errorf("the owner %q is not a Discord user id (1 to 20 digits)", owner.discordID)
	}
	if err := w.personality(ctx, owner); err != nil {
		return err
	}
	if err := w.llm(ctx); err != nil {
		return err
	}
	if err := w.voice(ctx); err != nil {
		return err
	}
	if err := w.aliases(ctx); err != nil {
		return err
	}
	for _, rf := range w.c.Records {
		if err := w.records(ctx, rf); err != nil {
			return err
		}
	}
	return nil
}

// owner finds (or creates) the owning user.
func (w *writer) owner(ctx context.Context, discordID string) error {
	if discordID == "" {
		return nil
	}
	var id int64
	var inserted bool
	err := w.tx.QueryRow(ctx, `
WITH ins AS (
    INSERT INTO users (discord_id) VALUES ($1) ON CONFLICT (discord_id) DO NOTHING RETURNING id
)
SELECT id, true FROM ins
UNION ALL
SELECT id, false FROM users WHERE discord_id = $1
LIMIT 1`, discordID).Scan(&id, &inserted)
	if err != nil {
		return fmt.Errorf("find the owner: %w", err)
	}
	if inserted && !w.ownersAnnounced[discordID] {
		w.change("new user %s (owner)", discordID)
		w.newOwner = discordID
	}
	w.ownerID = &id
	return nil
}

// existing is the personality row an import compares against.
type existing struct {
	id           int64
	slug         string
	shapesID     *string
	owner        *int64
	ownerDiscord *string
	v2ID         *string
	cols         Columns
}

const existingSelect = `SELECT id, slug, shapes_id, owner_user_id,
       (SELECT discord_id FROM users u WHERE u.id = owner_user_id), v2_id, name, display_name, avatar_url, system_prompt,
       character_info, traits, tone, age, appearance, likes, dislikes, conversational_goals,
       conversational_examples, error_message, birth_month, birth_day, birth_year
FROM personalities `

func (w *writer) load(ctx context.Context, where string, args ...any) (*existing, error) {
	var e existing
	targets := append([]any{&e.id, &e.slug, &e.shapesID, &e.owner, &e.ownerDiscord, &e.v2ID}, e.cols.scanTargets()...)
	err := w.tx.QueryRow(ctx, existingSelect+where+" LIMIT 1 FOR UPDATE OF personalities", args...).Scan(targets...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the existing personality: %w", err)
	}
	return &e, nil
}

func (w *writer) personality(ctx context.Context, owner wantedOwner) error {
	var old *existing
	var err error
	if w.c.V2ID != "" {
		// A v2 record's id is kept in v2_id whether the record created
		// the personality or added to one imported otherwise.
		old, err = w.load(ctx, "WHERE v2_id = $1 OR shapes_id = $2", w.c.V2ID, w.c.ShapesID)
	} else {
		old, err = w.load(ctx, "WHERE shapes_id = $1", w.c.ShapesID)
	}
	if err != nil {
		return err
	}
	if old != nil && w.c.EnrichBySlug && (old.shapesID == nil || *old.shapesID != w.c.ShapesID) {
		// This record added to a personality another import created: it
		// still only adds.
		w.enrich = true
	}
	if old == nil && w.c.EnrichBySlug {
		old, err = w.load(ctx, "WHERE slug = $1", w.c.Slug)
		if err != nil {
			return err
		}
		if old != nil && (old.v2ID != nil || (old.shapesID != nil && strings.HasPrefix(*old.shapesID, "v2:"))) {
			// Another v2 record already has this slug: not the same
			// character, so this one gets a slug of its own.
			old = nil
		}
		w.enrich = old != nil
	}
	if old == nil {
		if err := w.owner(ctx, owner.discordID); err != nil {
			return err
		}
		return w.create(ctx)
	}
	w.id, w.slug = old.id, old.slug
	// A re-import never changes an owner that is set, and records that
	// belong to a user (personalizations) always follow the personality's
	// owner: the two can never disagree.
	if old.owner != nil {
		w.ownerID = old.owner
		if owner.discordID != "" && (old.ownerDiscord == nil || *old.ownerDiscord != owner.discordID) {
			w.log.warn(w.c.File, "", "%s names Discord user %s, but %q is already owned by %s; a re-import never changes an owner, so it stays with %s (its user personalizations too)",
				owner.source, owner.discordID, old.slug, deref(old.ownerDiscord), deref(old.ownerDiscord))
		}
	} else if err := w.owner(ctx, owner.discordID); err != nil {
		return err
	}
	if w.enrich {
		w.res.Name = old.cols.Name
	}

	type set struct {
		col string
		val any
	}
	var sets []set
	// Values an enriching record may not write (the column already says
	// something else) are kept beside it, named by column.
	unapplied := map[string]any{}
	newVals, oldVals := w.c.Columns.values(), old.cols.values()
	for i, nv := range newVals {
		ov := oldVals[i].Value
		if w.enrich {
			switch {
			case isBlankValue(nv.Value) || ov == nv.Value:
			case isBlankValue(ov):
				sets = append(sets, set{nv.Name, nv.Value})
			default:
				unapplied[nv.Name] = nv.Value
			}
			continue
		}
		if ov != nv.Value {
			sets = append(sets, set{nv.Name, nv.Value})
		}
	}
	if old.owner == nil && w.ownerID != nil {
		sets = append(sets, set{"owner_user_id", *w.ownerID})
	}
	if w.c.V2ID != "" && old.v2ID == nil {
		sets = append(sets, set{"v2_id", w.c.V2ID})
	}
	named := map[string]string{}
	for _, s := range sets {
		if v, ok := s.val.(string); ok && (s.col == "name" || s.col == "display_name") {
			named[s.col] = v
		}
	}
	if err := w.namesFree(ctx, named); err != nil {
		return err
	}
	for _, s := range sets {
		w.change("%s", s.col)
	}
	if len(sets) > 0 {
		sql := "UPDATE personalities SET "
		args := []any{w.id}
		for i, s := range sets {
			if i > 0 {
				sql += ", "
			}
			args = append(args, s.val)
			sql += fmt.Sprintf("%s = $%d", s.col, len(args))
		}
		if _, err := w.tx.Exec(ctx, sql+" WHERE id = $1", args...); err != nil {
			return fmt.Errorf("update the personality: %w", explainDB(err))
		}
	}

	custom := w.c.CustomFields
	if w.enrich {
		// The other import's bookkeeping (importSource, ...) stays.
		custom = map[string]any{}
		for k, v := range w.c.CustomFields {
			if k != "importSource" {
				custom[k] = v
			}
		}
		if len(unapplied) > 0 {
			custom[CustomUnapplied] = unapplied
		}
	}
	return w.mergeCustom(ctx, custom)
}

// mergeCustom writes custom fields whose value differs from the stored one
// (compared by PostgreSQL, so number formatting and key order do not count
// as changes).
func (w *writer) mergeCustom(ctx context.Context, fields map[string]any) error {
	if len(fields) == 0 {
		return nil
	}
	patch := mustJSON(fields)
	var changed []string
	err := w.tx.QueryRow(ctx, `
SELECT COALESCE(array_agg(n.key ORDER BY n.key), '{}')
FROM personalities p, jsonb_each($2::jsonb) n
WHERE p.id = $1 AND p.custom_fields -> n.key IS DISTINCT FROM n.value`, w.id, patch).Scan(&changed)
	if err != nil {
		return fmt.Errorf("compare custom fields: %w", err)
	}
	if len(changed) == 0 {
		return nil
	}
	if !w.created {
		for _, k := range changed {
			w.change("custom_fields.%s", k)
		}
	}
	if _, err := w.tx.Exec(ctx, `UPDATE personalities SET custom_fields = custom_fields || $2::jsonb WHERE id = $1`, w.id, patch); err != nil {
		return fmt.Errorf("update custom fields: %w", explainDB(err))
	}
	return nil
}

func isBlankValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}

func (w *writer) create(ctx context.Context) error {
	slug, err := w.freeSlug(ctx, w.c.Slug)
	if err != nil {
		return err
	}
	if slug != w.c.Slug {
		w.log.warn(w.c.File, "username", "the slug %q is already used by another personality; imported as %q", w.c.Slug, slug)
	}
	if err := w.namesFree(ctx, map[string]string{"name": w.c.Columns.Name, "display_name": w.c.Columns.DisplayName}); err != nil {
		return err
	}
	var v2ID *string
	if w.c.V2ID != "" {
		v2ID = &w.c.V2ID
	}
	cols := []string{"slug", "shapes_id", "v2_id", "owner_user_id", "is_public", "voice_enabled", "custom_fields"}
	args := []any{slug, w.c.ShapesID, v2ID, w.ownerID, false, false, w.c.customJSON()}
	for _, v := range w.c.Columns.values() {
		cols = append(cols, v.Name)
		args = append(args, v.Value)
	}
	placeholders := make([]string, len(args))
	for i := range args {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	sql := fmt.Sprintf("INSERT INTO personalities (%s) VALUES (%s) RETURNING id",
		strings.Join(cols, ", "), strings.Join(placeholders, ", "))
	if err := w.tx.QueryRow(ctx, sql, args...).Scan(&w.id); err != nil {
		return fmt.Errorf("create the personality: %w", explainDB(err))
	}
	w.slug, w.created = slug, true
	w.change("personality")
	return nil
}

// freeSlug returns slug, or slug-2, slug-3, ... when it is taken.
func (w *writer) freeSlug(ctx context.Context, slug string) (string, error) {
	for n := 1; n <= 1000; n++ {
		candidate := slug
		if n > 1 {
			suffix := fmt.Sprintf("-%d", n)
			base := slug
			if len(base)+len(suffix) > maxSlugLen {
				base = strings.TrimRight(base[:maxSlugLen-len(suffix)], "._-")
			}
			candidate = base + suffix
		}
		var taken bool
		// A slug calls its personality too, so it must not be another's
		// name, display name or alias either.
		if err := w.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM personalities WHERE slug = $1)
    OR EXISTS (SELECT 1 FROM personality_handles WHERE handle = tzurot_handle_key($1))`, candidate).Scan(&taken); err != nil {
			return "", fmt.Errorf("check the slug: %w", err)
		}
		if !taken {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("the slug %q and 999 numbered variants are all taken", slug)
}

func (w *writer) llm(ctx context.Context) error {
	cfg := w.c.LLM
	if cfg == nil {
		return nil
	}
	params := mustJSON(cfg.AdvancedParameters)
	var provider, model string
	var sameParams bool
	var window int32
	err := w.tx.QueryRow(ctx, `
SELECT provider, model, advanced_parameters = $2::jsonb, context_window_tokens
FROM llm_configs WHERE personality_id = $1 AND user_id IS NULL`, w.id, params).Scan(&provider, &model, &sameParams, &window)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := w.tx.Exec(ctx, `
INSERT INTO llm_configs (personality_id, user_id, provider, model, advanced_parameters, context_window_tokens)
VALUES ($1, NULL, $2, $3, $4::jsonb, $5)`, w.id, cfg.Provider, cfg.Model, params, cfg.ContextWindowTokens); err != nil {
			return fmt.Errorf("create the llm config: %w", explainDB(err))
		}
		w.change("llm config")
		return nil
	case err != nil:
		return fmt.Errorf("read the llm config: %w", err)
	}
	if w.enrich {
		return nil // the personality's own config wins
	}
	var what []string
	if provider != cfg.Provider {
		what = append(what, "provider")
	}
	if model != cfg.Model {
		what = append(what, "model")
	}
	if !sameParams {
		what = append(what, "advanced_parameters")
	}
	if int(window) != cfg.ContextWindowTokens {
		what = append(what, "context_window_tokens")
	}
	if len(what) == 0 {
		return nil
	}
	if _, err := w.tx.Exec(ctx, `
UPDATE llm_configs SET provider = $2, model = $3, advanced_parameters = $4::jsonb, context_window_tokens = $5
WHERE personality_id = $1 AND user_id IS NULL`, w.id, cfg.Provider, cfg.Model, params, cfg.ContextWindowTokens); err != nil {
		return fmt.Errorf("update the llm config: %w", explainDB(err))
	}
	w.change("llm config (%s)", strings.Join(what, ", "))
	return nil
}

func (w *writer) voice(ctx context.Context) error {
	v := w.c.Voice
	if v == nil {
		return nil
	}
	var old VoiceConfig
	err := w.tx.QueryRow(ctx, `
SELECT provider, voice_id, model, stability, similarity, style, frequency, transcription_enabled
FROM voice_configs WHERE personality_id = $1`, w.id).Scan(
		&old.Provider, &old.VoiceID, &old.Model, &old.Stability, &old.Similarity, &old.Style, &old.Frequency,
		&old.TranscriptionEnabled)
	found := true
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		found = false
	case err != nil:
		return fmt.Errorf("read the voice config: %w", err)
	}
	if found && (w.enrich || old == *v) {
		return nil
	}
	if _, err := w.tx.Exec(ctx, `
INSERT INTO voice_configs (personality_id, provider, voice_id, model, stability, similarity, style, frequency, transcription_enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (personality_id) DO UPDATE SET
    provider = excluded.provider, voice_id = excluded.voice_id, model = excluded.model,
    stability = excluded.stability, similarity = excluded.similarity,
    style = excluded.style, frequency = excluded.frequency,
    transcription_enabled = excluded.transcription_enabled`,
		w.id, v.Provider, v.VoiceID, v.Model, v.Stability, v.Similarity, v.Style, v.Frequency, v.TranscriptionEnabled); err != nil {
		return fmt.Errorf("write the voice config: %w", explainDB(err))
	}
	w.change("voice config")
	return nil
}

// nameHolder returns the personality other than this one that s already
// calls: as its name, display name, slug or alias, compared as mentions are
// (tzurot_handle_key; migration 5), or as an alias in any case.
func (w *writer) nameHolder(ctx context.Context, s string) (slug, name string, found bool, err error) {
	err = w.tx.QueryRow(ctx, `
SELECT p.slug, p.name FROM personality_handles h JOIN personalities p ON p.id = h.personality_id
WHERE h.handle = tzurot_handle_key($1) AND h.personality_id <> $2
UNION ALL
SELECT p.slug, p.name FROM personality_aliases a JOIN personalities p ON p.id = a.personality_id
WHERE lower(a.alias) = lower($1) AND a.personality_id <> $2
LIMIT 1`, s, w.id).Scan(&slug, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return slug, name, err == nil, err
}

// namesFree fails the personality when a name or display name it is about
// to write already calls another personality: each such string has one
// holder, and a personality cannot be imported without its name
// (docs/import.md, "Names").
func (w *writer) namesFree(ctx context.Context, cols map[string]string) error {
	for _, col := range []string{"name", "display_name"} {
		v, ok := cols[col]
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		slug, name, taken, err := w.nameHolder(ctx, v)
		if err != nil {
			return fmt.Errorf("check the %s: %w", col, err)
		}
		if taken {
			return &fileError{w.c.File, col, fmt.Errorf("the %s %q already calls the personality %q (%s): names, display names, slugs and aliases each call exactly one personality, regardless of case; rename one of them and import again",
				strings.ReplaceAll(col, "_", " "), v, name, slug)}
		}
	}
	return nil
}

// maxAliasLen mirrors personality_aliases_alias_length.
const maxAliasLen = 100

func (w *writer) aliases(ctx context.Context) error {
	added := 0
	for _, a := range w.c.Aliases {
		name := strings.TrimSpace(a.Name)
		if name == "" || len([]rune(name)) > maxAliasLen {
			w.log.warn(a.File, a.Field, "alias %q must be 1 to %d characters; not added", a.Name, maxAliasLen)
			continue
		}
		holderSlug, holderName, taken, err := w.nameHolder(ctx, name)
		if err != nil {
			return fmt.Errorf("look up alias %q: %w", name, err)
		}
		if taken {
			w.log.warn(a.File, a.Field, "alias %q already calls %q (%s) (names, display names, slugs and aliases each call one personality, regardless of case); not added to %q (%s)",
				name, holderName, holderSlug, w.c.Columns.Name, w.c.Slug)
			continue
		}
		var own bool
		if err := w.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM personality_aliases WHERE personality_id = $1 AND lower(alias) = lower($2))`,
			w.id, name).Scan(&own); err != nil {
			return fmt.Errorf("look up alias %q: %w", name, err)
		}
		if !own {
			if _, err := w.tx.Exec(ctx, `INSERT INTO personality_aliases (personality_id, alias) VALUES ($1, $2)`, w.id, name); err != nil {
				return &fileError{a.File, a.Field, fmt.Errorf("add alias %q: %w", name, explainDB(err))}
			}
			added++
		}
	}
	switch {
	case added == 1:
		w.change("1 alias")
	case added > 1:
		w.change("%d aliases", added)
	}
	return nil
}

// records streams one record file into its table and merges it.
func (w *writer) records(ctx context.Context, rf RecordFile) error {
	spec := recordSpecs[rf.Kind]
	f, err := os.Open(rf.Path)
	if err != nil {
		return &fileError{rf.Path, "", err}
	}
	defer f.Close()

	staging := "tzurot_import_" + spec.table
	var defs []string
	for _, c := range spec.columns {
		defs = append(defs, c.name+" "+c.sqlType)
	}
	// The staging table lives as long as the connection and empties itself
	// at every commit: creating it once per connection keeps catalog churn
	// out of the per-personality cost. (Rows of a rolled-back dry run go
	// with the rollback.)
	createSQL := fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS %s (seq bigint NOT NULL, source_id text NOT NULL, %s source jsonb NOT NULL) ON COMMIT DELETE ROWS",
		staging, joinWithTrailingComma(defs))
	if _, err := w.tx.Exec(ctx, createSQL); err != nil {
		return fmt.Errorf("prepare %s: %w", spec.noun, err)
	}

	rc := &recordContext{file: rf.Path, shapesID: w.c.ShapesID, ownerID: w.ownerID, log: w.log}
	src := newRowSource(spec, bufio.NewReaderSize(f, 64<<10), rc)
	if _, err := w.tx.CopyFrom(ctx, pgx.Identifier{staging}, spec.stagingColumns(), src); err != nil {
		w.log.flushOverflow(rf.Path)
		if src.err != nil {
			return &fileError{rf.Path, "", src.err}
		}
		return &fileError{rf.Path, "", fmt.Errorf("store %s: %w", spec.noun, explainDB(err))}
	}
	w.log.flushOverflow(rf.Path)

	var staged, distinct, inserted, updated int
	if err := w.tx.QueryRow(ctx, spec.mergeSQL(staging), w.id, SourceSystem).Scan(&staged, &distinct, &inserted, &updated); err != nil {
		return &fileError{rf.Path, "", fmt.Errorf("store %s: %w", spec.noun, explainDB(err))}
	}
	counts := rc.counts
	counts.Duplicates = staged - distinct
	counts.New, counts.Updated = inserted, updated
	counts.Unchanged = distinct - inserted - updated
	if counts.Duplicates > 0 {
		w.log.warn(rf.Path, "id", "%d %s appear more than once (same id); the last copy of each is kept", counts.Duplicates, spec.noun)
	}
	w.res.Records[rf.Kind] = counts
	if counts.changed() {
		parts := []string{}
		if counts.New > 0 {
			parts = append(parts, fmt.Sprintf("%d new", counts.New))
		}
		if counts.Updated > 0 {
			parts = append(parts, fmt.Sprintf("%d changed", counts.Updated))
		}
		if counts.Deleted > 0 {
			parts = append(parts, fmt.Sprintf("%d deleted at the source skipped", counts.Deleted))
		}
		w.change("%s: %s", spec.noun, strings.Join(parts, ", "))
	}

	header := src.rr.Header
	if len(header) > 0 {
		return w.mergeCustom(ctx, map[string]any{spec.headerKey: sanitizeHeader(header, rf.Path, w.log)})
	}
	return nil
}

func joinWithTrailingComma(defs []string) string {
	if len(defs) == 0 {
		return ""
	}
	return strings.Join(defs, ", ") + ","
}

// mergeSQL upserts the staged rows (the last copy of each source id) into
// the table, changing only rows whose content differs, and returns
// (staged, distinct, inserted, updated). $1 is the personality, $2 the
// source system.
func (spec *recordSpec) mergeSQL(staging string) string {
	var cols, sets, olds, news []string
	for _, c := range append(spec.columns, stagingColumn{name: "source"}) {
		cols = append(cols, c.name)
		value := "excluded." + c.name
		if c.sticky {
			value = fmt.Sprintf("COALESCE(excluded.%s, t.%s)", c.name, c.name)
		}
		sets = append(sets, c.name+" = "+value)
		olds = append(olds, "t."+c.name)
		news = append(news, value)
	}
	colList := strings.Join(cols, ", ")
	return fmt.Sprintf(`
WITH incoming AS (
    SELECT DISTINCT ON (source_id) * FROM %[1]s ORDER BY source_id, seq DESC
), up AS (
    INSERT INTO %[2]s AS t (personality_id, source_system, source_id, %[3]s)
    SELECT $1, $2, source_id, %[3]s FROM incoming
    ON CONFLICT (personality_id, source_system, source_id) DO UPDATE SET %[4]s
    WHERE (%[5]s) IS DISTINCT FROM (%[6]s)
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM %[1]s)::int, (SELECT count(*) FROM incoming)::int,
       (count(*) FILTER (WHERE inserted))::int, (count(*) FILTER (WHERE NOT inserted))::int
FROM up`, staging, spec.table, colList, strings.Join(sets, ", "), strings.Join(olds, ", "), strings.Join(news, ", "))
}

// explainDB names the rule a refused value broke. The database's own
// detail line (which quotes the row) is never included.
func explainDB(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName != "" {
		return fmt.Errorf("the database refused a value (rule %s): %w", pe.ConstraintName, err)
	}
	return err
}

// sanitizeHeader repairs what PostgreSQL cannot store in a record file's
// other top-level keys, as sanitizeJSON does for records. The decoder
// already turned invalid UTF-8 in these keys into U+FFFD; a NUL it leaves.
func sanitizeHeader(header map[string]json.RawMessage, file string, log *issueLog) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(header))
	for k, v := range header {
		if strings.ContainsRune(k, 0) {
			fixed := strings.ReplaceAll(k, "\x00", "\uFFFD")
			log.warn(file, fixed, "%s", textFix{key: true, nul: strings.Count(k, "\x00")}.message())
			k = fixed
		}
		if strings.ContainsRune(k, utf8.RuneError) {
			// The decoder does this repair itself, before we see the key:
			// report it all the same (a key that held U+FFFD in the file
			// is reported too; the two cannot be told apart here).
			log.warn(file, k, "the field name holds U+FFFD (\ufffd): bytes that are not valid UTF-8 there, which PostgreSQL cannot store, are replaced with it")
		}
		fixed, fixes := sanitizeJSON(v, k)
		warnFixes(log, file, fixes, false)
		out[k] = fixed
	}
	return out
}
