package store

// Handles: every string that can call a personality (its name, display
// name, slug and each alias), normalised as the mention index reads it
// (trigger.Key; tzurot_handle_key in SQL), has exactly one holder. The
// database enforces it (personality_handles, migration 00005); these are the
// Go views of that rule: the error a refused write returns, who holds a
// string, and the clashes rows from before the rule still have.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrNameTaken: the string already calls another personality.
var ErrNameTaken = errors.New("name already calls another personality")

// NameTakenError is a write refused because one of its strings already calls
// another personality. Error() names only the string, never the holder (the
// holder may be private); Holder is for callers that decide what to show.
type NameTakenError struct {
	// Handle is the refused string as normalised (trigger.Key of it).
	Handle string
	// Holder is the personality it calls; ID 0 when it could not be read.
	Holder PersonalitySummary
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("%q already calls another personality (names, display names, slugs and aliases each call exactly one personality, regardless of case)", e.Handle)
}

// Is makes errors.Is(err, ErrNameTaken) true.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// withHolder fills in the holder of a *NameTakenError (read after the
// failed statement) and returns err, wrapped as it was.
func (s *Store) withHolder(ctx context.Context, err error) error {
	var e *NameTakenError
	if errors.As(err, &e) && e.Handle != "" && e.Holder.ID == 0 {
		if h, ok, herr := s.HandleHolder(ctx, e.Handle); herr == nil && ok {
			e.Holder = h
		}
	}
	return err
}

// HandleHolder returns the personality that name calls (after
// normalisation), if any.
func (s *Store) HandleHolder(ctx context.Context, name string) (PersonalitySummary, bool, error) {
	var p PersonalitySummary
	err := s.pool.QueryRow(ctx, `
SELECT p.id, p.slug, p.name, p.display_name, p.avatar_url, p.is_public, p.owner_user_id
FROM personality_handles h JOIN personalities p ON p.id = h.personality_id
WHERE h.handle = tzurot_handle_key($1)`, name).Scan(&p.ID, &p.Slug, &p.Name, &p.DisplayName, &p.AvatarURL, &p.IsPublic, &p.OwnerUserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return PersonalitySummary{}, false, nil
	}
	if err != nil {
		return PersonalitySummary{}, false, fmt.Errorf("find who %q calls: %w", name, mapError(err))
	}
	return p, true, nil
}

// PersonalityHandles lists the handles a personality holds, for the mention
// index.
func (s *Store) PersonalityHandles(ctx context.Context, id int64) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT handle FROM personality_handles WHERE personality_id = $1 ORDER BY handle`, id)
	if err != nil {
		return nil, fmt.Errorf("list the handles of personality %d: %w", id, mapError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the handles of personality %d: %w", id, mapError(err))
	}
	return out, nil
}

// NameClaim is one string of a personality that calls (or would call) it.
type NameClaim struct {
	PersonalityID int64
	Slug          string
	Name          string
	OwnerDiscord  string // "" when it has no owner
	IsPublic      bool
	Kind          string // "name", "display name", "slug" or "alias"
	Value         string // the string as stored
	// Holds is true when this personality is the recorded holder.
	Holds bool
}

// NameConflict is a handle that several personalities' strings give, or
// that one gives without being recorded as its holder (its holder released
// it and the personality was not saved since): rows from before the rule
// (migration 00005). HolderID is who "@handle" calls now (0: nobody).
type NameConflict struct {
	Handle   string
	HolderID int64
	Claims   []NameClaim
}

// NameConflicts lists every handle whose claims the rule does not cover, in
// handle order. Each row of the database is read, so this is for
// `tzurot doctor`, not for a request path.
func (s *Store) NameConflicts(ctx context.Context) ([]NameConflict, error) {
	rows, err := s.pool.Query(ctx, `
WITH claims AS (
    SELECT tzurot_handle_key(p.name) AS handle, p.id, 1 AS ord, 'name' AS kind, p.name AS value FROM personalities p
    UNION ALL SELECT tzurot_handle_key(p.display_name), p.id, 2, 'display name', p.display_name FROM personalities p
    UNION ALL SELECT tzurot_handle_key(p.slug), p.id, 3, 'slug', p.slug FROM personalities p
    UNION ALL SELECT tzurot_handle_key(a.alias), a.personality_id, 4, 'alias', a.alias FROM personality_aliases a
), valid AS (
    SELECT * FROM claims WHERE char_length(handle) BETWEEN 1 AND 100
), flagged AS (
    SELECT v.handle FROM valid v LEFT JOIN personality_handles h ON h.handle = v.handle
    GROUP BY v.handle
    HAVING count(DISTINCT v.id) > 1 OR bool_or(h.personality_id IS DISTINCT FROM v.id)
)
SELECT v.handle, COALESCE(h.personality_id, 0), v.id, p.slug, p.name, COALESCE(u.discord_id, ''), p.is_public,
       v.kind, v.value, h.personality_id IS NOT DISTINCT FROM v.id
FROM valid v
JOIN flagged f ON f.handle = v.handle
JOIN personalities p ON p.id = v.id
LEFT JOIN users u ON u.id = p.owner_user_id
LEFT JOIN personality_handles h ON h.handle = v.handle
ORDER BY v.handle, (h.personality_id IS NOT DISTINCT FROM v.id) DESC, v.id, v.ord, v.value`)
	if err != nil {
		return nil, fmt.Errorf("list name conflicts: %w", mapError(err))
	}
	defer rows.Close()
	var out []NameConflict
	for rows.Next() {
		var (
			handle string
			holder int64
			c      NameClaim
		)
		if err := rows.Scan(&handle, &holder, &c.PersonalityID, &c.Slug, &c.Name, &c.OwnerDiscord, &c.IsPublic, &c.Kind, &c.Value, &c.Holds); err != nil {
			return nil, fmt.Errorf("list name conflicts: %w", mapError(err))
		}
		if len(out) == 0 || out[len(out)-1].Handle != handle {
			out = append(out, NameConflict{Handle: handle, HolderID: holder})
		}
		last := &out[len(out)-1]
		last.Claims = append(last.Claims, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list name conflicts: %w", mapError(err))
	}
	return out, nil
}
