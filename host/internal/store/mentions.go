package store

import (
	"context"
	"fmt"
)

// MentionName is one name users can type after "@" to call a personality:
// a handle (the normalised form of its name, display name, slug or one of
// its aliases) as recorded in personality_handles, whose single holder it
// calls.
type MentionName struct {
	Name          string
	PersonalityID int64
}

// MentionNames lists every handle and its holder, for the pipeline's
// in-memory index. The database allows one holder per handle, so the list
// has no clashes; it is ordered by when each handle was recorded, so that if
// the index ever normalised two handles alike (it and the database disagree)
// the first recorded would keep the name.
func (s *Store) MentionNames(ctx context.Context) ([]MentionName, error) {
	rows, err := s.pool.Query(ctx, `
SELECT handle, personality_id FROM personality_handles ORDER BY created_at, personality_id, handle`)
	if err != nil {
		return nil, fmt.Errorf("list mention names: %w", mapError(err))
	}
	defer rows.Close()
	var out []MentionName
	for rows.Next() {
		var m MentionName
		if err := rows.Scan(&m.Name, &m.PersonalityID); err != nil {
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
// changes whenever a personality or alias is added, removed or renamed, or a
// handle changes holder. A process polls it to learn about changes other
// processes made.
func (s *Store) MentionNamesVersion(ctx context.Context) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `
SELECT concat_ws('/',
    (SELECT count(*) FROM personalities), (SELECT COALESCE(sum(id), 0) FROM personalities),
    (SELECT COALESCE(max(updated_at), 'epoch')::text FROM personalities),
    (SELECT count(*) FROM personality_aliases), (SELECT COALESCE(sum(id), 0) FROM personality_aliases),
    (SELECT count(*) FROM personality_handles), (SELECT COALESCE(sum(personality_id), 0) FROM personality_handles),
    (SELECT COALESCE(max(created_at), 'epoch')::text FROM personality_handles))`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("mention names version: %w", mapError(err))
	}
	return v, nil
}
