package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// What a user sees and controls of the memories about them (/memory). A
// memory is "about" a user when its about_user_ids holds the user's id: the
// rule the retrieval's privacy check starts from (docs/security.md,
// "Memories"). Every method here takes the user's id and touches only such
// rows, so a memory id of someone else's reads as "not found".

// UserMemory is one memory about the user, as /memory lists it.
type UserMemory struct {
	ID              int64
	PersonalityID   int64
	PersonalitySlug string
	PersonalityName string
	Content         string
	// At is when it was remembered (the source's time for imports), else
	// when it was stored.
	At time.Time
	// Shared is true when the memory is about other people too (a
	// conversation in a shared channel): forgetting it forgets it for them
	// as well.
	Shared bool
}

const userMemoryColumns = `m.id, m.personality_id, p.slug, p.name, m.content, coalesce(m.remembered_at, m.created_at),
       cardinality(m.about_user_ids) > 1`

func scanUserMemories(rows pgx.Rows) ([]UserMemory, error) {
	defer rows.Close()
	var out []UserMemory
	for rows.Next() {
		var m UserMemory
		if err := rows.Scan(&m.ID, &m.PersonalityID, &m.PersonalitySlug, &m.PersonalityName, &m.Content, &m.At, &m.Shared); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MaxMemoryCount is where MemoriesAbout stops counting: a total above it
// is reported as MaxMemoryCount+1 ("more than 10,000"), so a list costs the
// same for a user with a million memories.
const MaxMemoryCount = 10000

// MemoriesAbout returns one page of the memories about userID, newest first
// (for one personality, or all when personalityID is 0), and how many there
// are in all (counted up to MaxMemoryCount+1).
//
// The page walks a recency index (personality_memories_recent_idx with a
// personality, personality_memories_recency_idx without) and keeps the
// user's rows, or reads the user's rows from the about_user_ids index and
// sorts them: the planner picks by how many rows are the user's.
func (s *Store) MemoriesAbout(ctx context.Context, userID, personalityID int64, limit, offset int) ([]UserMemory, int64, error) {
	filter := `m.about_user_ids @> ARRAY[$1::bigint]`
	args := []any{userID}
	if personalityID != 0 {
		filter += ` AND m.personality_id = $2`
		args = append(args, personalityID)
	}
	var total int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM personality_memories m WHERE `+filter+
		fmt.Sprintf(` LIMIT %d) c`, MaxMemoryCount+1), args...).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count memories: %w", mapError(err))
	}
	order := `coalesce(m.remembered_at, m.created_at) DESC, m.id DESC`
	if personalityID != 0 {
		order = `m.personality_id, ` + order // the shape of personality_memories_recent_idx
	}
	rows, err := s.pool.Query(ctx, `
SELECT `+userMemoryColumns+`
FROM personality_memories m JOIN personalities p ON p.id = m.personality_id
WHERE `+filter+`
ORDER BY `+order+fmt.Sprintf(`
LIMIT %d OFFSET %d`, limit, offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list memories: %w", mapError(err))
	}
	list, err := scanUserMemories(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list memories: %w", mapError(err))
	}
	return list, total, nil
}

// MaxMemorySearchRunes bounds a /memory search query.
const MaxMemorySearchRunes = 200

// SearchMemoriesAbout finds memories about userID matching text, best
// first. text is only ever words: it goes to websearch_to_tsquery (in each
// memory's own language), which never fails on operators (`&|!():*` are
// ignored or read as words) and is a bound parameter, never SQL. When full
// text finds nothing (a language whose words are not separated by spaces,
// say, or a fragment of a word), the memories containing text as a
// substring are returned instead, with LIKE's wildcards escaped.
func (s *Store) SearchMemoriesAbout(ctx context.Context, userID, personalityID int64, text string, limit int) ([]UserMemory, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, fmt.Errorf("%w: the search is empty", ErrInvalidInput)
	}
	if n := len([]rune(text)); n > MaxMemorySearchRunes {
		return nil, fmt.Errorf("%w: a search is at most %d characters (this one has %d)", ErrInvalidInput, MaxMemorySearchRunes, n)
	}
	// Each memory is indexed in its own text search configuration, so the
	// words are parsed in every configuration in use; the queries are ORed
	// into one constant tsquery, which the tsv GIN index can serve (a query
	// computed per row cannot use it). The tsquery text comes from
	// PostgreSQL itself and goes back as a bound parameter.
	var queries []string
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT websearch_to_tsquery(l.cfg, $1)::text
FROM (SELECT DISTINCT memory_language::regconfig AS cfg FROM personalities UNION SELECT 'simple'::regconfig) l`, text)
	if err != nil {
		return nil, fmt.Errorf("search memories: %w", mapError(err))
	}
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			rows.Close()
			return nil, fmt.Errorf("search memories: %w", mapError(err))
		}
		if q != "" { // only stop words or symbols in this configuration
			queries = append(queries, "("+q+")")
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search memories: %w", mapError(err))
	}
	var list []UserMemory
	if len(queries) > 0 {
		rows, err = s.pool.Query(ctx, `
SELECT `+userMemoryColumns+`
FROM personality_memories m JOIN personalities p ON p.id = m.personality_id
WHERE m.about_user_ids @> ARRAY[$1::bigint] AND ($2::bigint = 0 OR m.personality_id = $2)
  AND m.tsv @@ $3::tsquery
ORDER BY ts_rank_cd(m.tsv, $3::tsquery) DESC, coalesce(m.remembered_at, m.created_at) DESC, m.id DESC
LIMIT $4`, userID, personalityID, strings.Join(queries, " | "), limit)
		if err != nil {
			return nil, fmt.Errorf("search memories: %w", mapError(err))
		}
		if list, err = scanUserMemories(rows); err != nil {
			return nil, fmt.Errorf("search memories: %w", mapError(err))
		}
	}
	if len(list) > 0 {
		return list, nil
	}
	rows, err = s.pool.Query(ctx, `
SELECT `+userMemoryColumns+`
FROM personality_memories m JOIN personalities p ON p.id = m.personality_id
WHERE m.about_user_ids @> ARRAY[$1::bigint] AND ($2::bigint = 0 OR m.personality_id = $2)
  AND m.content ILIKE '%' || $3 || '%' ESCAPE '\'
ORDER BY coalesce(m.remembered_at, m.created_at) DESC, m.id DESC
LIMIT $4`, userID, personalityID, escapeLike(text), limit)
	if err != nil {
		return nil, fmt.Errorf("search memories: %w", mapError(err))
	}
	list, err = scanUserMemories(rows)
	if err != nil {
		return nil, fmt.Errorf("search memories: %w", mapError(err))
	}
	return list, nil
}

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ForgetMemory deletes the memory id if it is about userID. It reports false
// for a memory that does not exist and for one that is not about the user
// alike: the caller must not learn which.
func (s *Store) ForgetMemory(ctx context.Context, userID, memoryID int64) (UserMemory, bool, error) {
	rows, err := s.pool.Query(ctx, `
WITH gone AS (
    DELETE FROM personality_memories WHERE id = $2 AND about_user_ids @> ARRAY[$1::bigint]
    RETURNING id, personality_id, content, remembered_at, created_at, about_user_ids
)
SELECT m.id, m.personality_id, p.slug, p.name, m.content, coalesce(m.remembered_at, m.created_at),
       cardinality(m.about_user_ids) > 1
FROM gone m JOIN personalities p ON p.id = m.personality_id`, userID, memoryID)
	if err != nil {
		return UserMemory{}, false, fmt.Errorf("forget memory: %w", mapError(err))
	}
	list, err := scanUserMemories(rows)
	if err != nil {
		return UserMemory{}, false, fmt.Errorf("forget memory: %w", mapError(err))
	}
	if len(list) == 0 {
		return UserMemory{}, false, nil
	}
	return list[0], true, nil
}

// CountMemoriesAbout counts the memories about userID (for one personality,
// or all when personalityID is 0).
func (s *Store) CountMemoriesAbout(ctx context.Context, userID, personalityID int64) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
SELECT count(*) FROM personality_memories
WHERE about_user_ids @> ARRAY[$1::bigint] AND ($2::bigint = 0 OR personality_id = $2)`, userID, personalityID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count memories: %w", mapError(err))
	}
	return n, nil
}

// ForgetAllMemories deletes every memory about userID (for one personality,
// or all when personalityID is 0), in one statement, and returns how many.
func (s *Store) ForgetAllMemories(ctx context.Context, userID, personalityID int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
DELETE FROM personality_memories
WHERE about_user_ids @> ARRAY[$1::bigint] AND ($2::bigint = 0 OR personality_id = $2)`, userID, personalityID)
	if err != nil {
		return 0, fmt.Errorf("forget memories: %w", mapError(err))
	}
	return tag.RowsAffected(), nil
}

// MemoryFormation is what decides whether a personality forms new memories
// about a user, each level nil when not set.
type MemoryFormation struct {
	// Personality is the personality's own switch (its owner's); false
	// stops formation for everyone.
	Personality bool
	// User is the user's switch for every personality
	// (user_preferences.memory_formation_enabled).
	User *bool
	// UserForPersonality is the user's switch for this personality
	// (user_personality_settings).
	UserForPersonality *bool
}

// Allowed is the rule: the personality must allow it, and then the most
// specific of the user's switches that is set decides (default on).
func (f MemoryFormation) Allowed() bool {
	switch {
	case !f.Personality:
		return false
	case f.UserForPersonality != nil:
		return *f.UserForPersonality
	case f.User != nil:
		return *f.User
	}
	return true
}

// MemoryFormationFor reads the switches for userID and personalityID (0:
// only the user's global switch; Personality is then true).
func (s *Store) MemoryFormationFor(ctx context.Context, userID, personalityID int64) (MemoryFormation, error) {
	f := MemoryFormation{Personality: true}
	err := s.pool.QueryRow(ctx, `
SELECT coalesce((SELECT memory_formation_enabled FROM personalities WHERE id = $2), true),
       (SELECT memory_formation_enabled FROM user_preferences WHERE user_id = $1),
       (SELECT memory_formation_enabled FROM user_personality_settings WHERE user_id = $1 AND personality_id = $2)`,
		userID, personalityID).Scan(&f.Personality, &f.User, &f.UserForPersonality)
	if err != nil {
		return MemoryFormation{}, fmt.Errorf("read memory formation settings: %w", mapError(err))
	}
	return f, nil
}

// MemoryFormationAllowed reports whether personalityID may form new memories
// about userID (MemoryFormation.Allowed); memory formation asks it for each
// user involved before it summarises.
func (s *Store) MemoryFormationAllowed(ctx context.Context, userID, personalityID int64) (bool, error) {
	f, err := s.MemoryFormationFor(ctx, userID, personalityID)
	if err != nil {
		return false, err
	}
	return f.Allowed(), nil
}

// SetMemoryFormation sets the user's switch: for one personality, or for
// every personality when personalityID is 0. nil clears it (the next level
// decides).
func (s *Store) SetMemoryFormation(ctx context.Context, userID, personalityID int64, on *bool) error {
	var err error
	if personalityID == 0 {
		_, err = s.pool.Exec(ctx, `
INSERT INTO user_preferences (user_id, memory_formation_enabled) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET memory_formation_enabled = excluded.memory_formation_enabled`, userID, on)
	} else {
		_, err = s.pool.Exec(ctx, `
INSERT INTO user_personality_settings (user_id, personality_id, memory_formation_enabled) VALUES ($1, $2, $3)
ON CONFLICT (user_id, personality_id) DO UPDATE SET memory_formation_enabled = excluded.memory_formation_enabled`,
			userID, personalityID, on)
	}
	if err != nil {
		return fmt.Errorf("set memory formation: %w", mapError(err))
	}
	return nil
}

// ---- personas ---------------------------------------------------------------

// MaxPersonaRunes is the longest persona (the table's CHECK).
const MaxPersonaRunes = 4000

// ErrPersonaTooLong matches a persona over MaxPersonaRunes.
var ErrPersonaTooLong = errors.New("persona too long")

// UserPersona is what a user told the bot about themselves, for one
// personality or (PersonalityID 0) for all.
type UserPersona struct {
	PersonalityID int64
	Content       string
	UpdatedAt     time.Time
}

// SetUserPersona stores the user's persona for personalityID (0: global),
// replacing the one there was. Text is trimmed; empty text is refused (use
// ClearUserPersona), and so is text over MaxPersonaRunes.
func (s *Store) SetUserPersona(ctx context.Context, userID, personalityID int64, content string) error {
	content = strings.TrimSpace(content)
	if content == "" {
		return fmt.Errorf("%w: a persona cannot be empty", ErrInvalidInput)
	}
	if n := len([]rune(content)); n > MaxPersonaRunes {
		return fmt.Errorf("%w: a persona is at most %d characters (this one has %d)", ErrPersonaTooLong, MaxPersonaRunes, n)
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO user_personas (user_id, personality_id, content) VALUES ($1, $2, $3)
ON CONFLICT (user_id, personality_id) DO UPDATE SET content = excluded.content`, userID, optionalID(personalityID), content)
	if err != nil {
		return fmt.Errorf("set persona: %w", mapError(err))
	}
	s.changed(cache.KindPersona, userID)
	return nil
}

// UserPersonaFor returns the user's persona for personalityID exactly (0:
// the global one), and whether there is one.
func (s *Store) UserPersonaFor(ctx context.Context, userID, personalityID int64) (UserPersona, bool, error) {
	p := UserPersona{PersonalityID: personalityID}
	err := s.pool.QueryRow(ctx, `
SELECT content, updated_at FROM user_personas
WHERE user_id = $1 AND personality_id IS NOT DISTINCT FROM $2`, userID, optionalID(personalityID)).Scan(&p.Content, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return UserPersona{}, false, nil
	}
	if err != nil {
		return UserPersona{}, false, fmt.Errorf("read persona: %w", mapError(err))
	}
	return p, true, nil
}

// ClearUserPersona deletes the user's persona for personalityID (0: the
// global one) and reports whether there was one.
func (s *Store) ClearUserPersona(ctx context.Context, userID, personalityID int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
DELETE FROM user_personas WHERE user_id = $1 AND personality_id IS NOT DISTINCT FROM $2`, userID, optionalID(personalityID))
	if err != nil {
		return false, fmt.Errorf("clear persona: %w", mapError(err))
	}
	return tag.RowsAffected() > 0, nil
}

// ImportedPersonalization is what an import brought about the user for one
// personality (personality_user_personalizations).
type ImportedPersonalization struct {
	PreferredName, Pronouns, Backstory string
}

// ImportedPersonalizationFor returns the newest imported personalization of
// the user for personalityID, if any.
func (s *Store) ImportedPersonalizationFor(ctx context.Context, userID, personalityID int64) (ImportedPersonalization, bool, error) {
	var p ImportedPersonalization
	err := s.pool.QueryRow(ctx, `
SELECT preferred_name, pronouns, backstory FROM personality_user_personalizations
WHERE user_id = $1 AND personality_id = $2 AND (preferred_name <> '' OR pronouns <> '' OR backstory <> '')
ORDER BY updated_at DESC, id DESC LIMIT 1`, userID, personalityID).Scan(&p.PreferredName, &p.Pronouns, &p.Backstory)
	if errors.Is(err, pgx.ErrNoRows) {
		return ImportedPersonalization{}, false, nil
	}
	if err != nil {
		return ImportedPersonalization{}, false, fmt.Errorf("read personalization: %w", mapError(err))
	}
	return p, true, nil
}

// NamedPersona is a persona with the name of its personality ("" for the
// global one).
type NamedPersona struct {
	UserPersona
	PersonalityName string
}

// UserPersonas lists every persona of the user: the global one first, then
// by personality name.
func (s *Store) UserPersonas(ctx context.Context, userID int64) ([]NamedPersona, error) {
	rows, err := s.pool.Query(ctx, `
SELECT coalesce(up.personality_id, 0), coalesce(p.name, ''), up.content, up.updated_at
FROM user_personas up LEFT JOIN personalities p ON p.id = up.personality_id
WHERE up.user_id = $1
ORDER BY up.personality_id IS NOT NULL, lower(p.name), up.personality_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list personas: %w", mapError(err))
	}
	defer rows.Close()
	var out []NamedPersona
	for rows.Next() {
		var p NamedPersona
		if err := rows.Scan(&p.PersonalityID, &p.PersonalityName, &p.Content, &p.UpdatedAt); err != nil {
			return nil, fmt.Errorf("list personas: %w", mapError(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list personas: %w", mapError(err))
	}
	return out, nil
}
