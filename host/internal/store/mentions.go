package store

import (
	"context"
	"fmt"
)

// MentionName is one name users can type after "@" to call a personality:
// its name, display name, slug or one of its aliases.
type MentionName struct {
	Name          string
	PersonalityID int64
	// Alias is true for an explicit alias (which wins over a name another
	// personality happens to share).
	Alias bool
}

// MentionNames lists every name that can mention a personality, for the
// pipeline's in-memory index: names and slugs first, explicit aliases last
// (in id order), so that loading them in order lets aliases win collisions.
func (s *Store) MentionNames(ctx context.Context) ([]MentionName, error) {
	rows, err := s.pool.Query(ctx, `
SELECT name, id, k = 4 FROM (
    SELECT p.name, p.id, 1 AS k FROM personalities p
    UNION ALL SELECT p.display_name, p.id, 2 FROM personalities p WHERE p.display_name <> ''
    UNION ALL SELECT p.slug, p.id, 3 FROM personalities p
    UNION ALL SELECT a.alias, a.personality_id, 4 FROM personality_aliases a
) n
ORDER BY k, id`)
	if err != nil {
		return nil, fmt.Errorf("list mention names: %w", mapError(err))
	}
	defer rows.Close()
	var out []MentionName
	for rows.Next() {
		var m MentionName
		if err := rows.Scan(&m.Name, &m.PersonalityID, &m.Alias); err != nil {
			return nil, fmt.Errorf("list mention names: %w", mapError(err))
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list mention names: %w", mapError(err))
	}
	return out, nil
}

// MentionNamesVersion is a fingerprint of everything MentionNames reads: it
// changes whenever a personality or alias is added, removed or renamed. A
// process polls it to learn about changes other processes made.
func (s *Store) MentionNamesVersion(ctx context.Context) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `
SELECT concat_ws('/',
    (SELECT count(*) FROM personalities), (SELECT COALESCE(sum(id), 0) FROM personalities),
    (SELECT COALESCE(max(updated_at), 'epoch')::text FROM personalities),
    (SELECT count(*) FROM personality_aliases), (SELECT COALESCE(sum(id), 0) FROM personality_aliases))`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("mention names version: %w", mapError(err))
	}
	return v, nil
}
