package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// Knowledge is a personality's lore (table personality_stories): entries an
// owner adds with /personality knowledge, and the stories an import brought.
// Retrieval puts an entry in the prompt when one of its keys appears in the
// conversation, when it is always on, or when its text matches; priority
// orders them (higher first).

// Limits of a knowledge entry written through the store (the table's CHECKs
// hold the key count and the priority range; the lengths are the commands').
const (
	MaxKnowledgeTitleRunes   = 200
	MaxKnowledgeContentRunes = 6000
	MaxKnowledgeKeys         = 50
	MaxKnowledgeKeyRunes     = 100
	MinKnowledgePriority     = -1000
	MaxKnowledgePriority     = 1000
)

// KnowledgeSourceSystem marks entries added in Discord (imports carry their
// own source system, e.g. shapes.inc).
const KnowledgeSourceSystem = "tzurot"

// ErrKnowledge matches a refused knowledge entry (*KnowledgeError).
var ErrKnowledge = errors.New("invalid knowledge entry")

// KnowledgeError says what is wrong with an entry, in words for its owner.
type KnowledgeError struct{ Reason string }

func (e *KnowledgeError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrKnowledge) true.
func (e *KnowledgeError) Is(target error) bool { return target == ErrKnowledge }

// KnowledgeEntry is one entry.
type KnowledgeEntry struct {
	ID            int64
	PersonalityID int64
	Title         string
	Content       string
	// Keys are the words or phrases that pull the entry into a reply when
	// the conversation mentions them (case-insensitive).
	Keys     []string
	AlwaysOn bool
	Priority int
	// SourceSystem is where it came from: "tzurot" for entries added in
	// Discord, the importer's name otherwise.
	SourceSystem string
	CreatedAt    time.Time
}

// ParseKnowledgeKeys splits a comma-separated list of keys: each trimmed,
// empty ones dropped, duplicates (ignoring case) kept once, in order.
func ParseKnowledgeKeys(list string) ([]string, error) {
	keys := []string{}
	seen := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		k = strings.Join(strings.Fields(k), " ")
		if k == "" || seen[strings.ToLower(k)] {
			continue
		}
		if n := utf8.RuneCountInString(k); n > MaxKnowledgeKeyRunes {
			return nil, &KnowledgeError{fmt.Sprintf("a key is at most %d characters (%q… has %d)", MaxKnowledgeKeyRunes, string([]rune(k)[:20]), n)}
		}
		seen[strings.ToLower(k)] = true
		keys = append(keys, k)
	}
	if len(keys) > MaxKnowledgeKeys {
		return nil, &KnowledgeError{fmt.Sprintf("at most %d keys per entry (there are %d)", MaxKnowledgeKeys, len(keys))}
	}
	return keys, nil
}

// CheckKnowledge reports the first thing wrong with an entry to add.
func CheckKnowledge(e KnowledgeEntry) error {
	switch {
	case strings.TrimSpace(e.Content) == "":
		return &KnowledgeError{"the content is empty"}
	case utf8.RuneCountInString(e.Content) > MaxKnowledgeContentRunes:
		return &KnowledgeError{fmt.Sprintf("the content is at most %d characters (this one has %d)", MaxKnowledgeContentRunes, utf8.RuneCountInString(e.Content))}
	case utf8.RuneCountInString(e.Title) > MaxKnowledgeTitleRunes:
		return &KnowledgeError{fmt.Sprintf("the title is at most %d characters", MaxKnowledgeTitleRunes)}
	case len(e.Keys) > MaxKnowledgeKeys:
		return &KnowledgeError{fmt.Sprintf("at most %d keys per entry (there are %d)", MaxKnowledgeKeys, len(e.Keys))}
	case e.Priority < MinKnowledgePriority || e.Priority > MaxKnowledgePriority:
		return &KnowledgeError{fmt.Sprintf("the priority must be between %d and %d", MinKnowledgePriority, MaxKnowledgePriority)}
	}
	return nil
}

// AddKnowledge adds an entry to personalityID and returns its id.
func (s *Store) AddKnowledge(ctx context.Context, personalityID int64, e KnowledgeEntry) (int64, error) {
	e.Title, e.Content = strings.TrimSpace(e.Title), strings.TrimSpace(e.Content)
	if e.Keys == nil {
		e.Keys = []string{}
	}
	if err := CheckKnowledge(e); err != nil {
		return 0, err
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
INSERT INTO personality_stories (personality_id, source_system, title, content, keys, always_on, priority)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		personalityID, KnowledgeSourceSystem, e.Title, e.Content, e.Keys, e.AlwaysOn, e.Priority).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add knowledge: %w", mapError(err))
	}
	s.changed(cache.KindMemory, personalityID)
	return id, nil
}

// ListKnowledge returns one page of personalityID's knowledge (always-on
// first, then by priority, then oldest first: the order retrieval prefers)
// and how many entries there are.
func (s *Store) ListKnowledge(ctx context.Context, personalityID int64, limit, offset int) ([]KnowledgeEntry, int64, error) {
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM personality_stories WHERE personality_id = $1`, personalityID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count knowledge: %w", mapError(err))
	}
	rows, err := s.pool.Query(ctx, `
SELECT id, personality_id, title, content, keys, always_on, priority, source_system, created_at
FROM personality_stories WHERE personality_id = $1
ORDER BY always_on DESC, priority DESC, id
LIMIT $2 OFFSET $3`, personalityID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list knowledge: %w", mapError(err))
	}
	defer rows.Close()
	var out []KnowledgeEntry
	for rows.Next() {
		var e KnowledgeEntry
		if err := rows.Scan(&e.ID, &e.PersonalityID, &e.Title, &e.Content, &e.Keys, &e.AlwaysOn, &e.Priority, &e.SourceSystem, &e.CreatedAt); err != nil {
			return nil, 0, fmt.Errorf("list knowledge: %w", mapError(err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list knowledge: %w", mapError(err))
	}
	return out, total, nil
}

// RemoveKnowledge deletes entry id of personalityID (an id of another
// personality is "not found") and returns its title.
func (s *Store) RemoveKnowledge(ctx context.Context, personalityID, id int64) (string, bool, error) {
	var title string
	err := s.pool.QueryRow(ctx, `DELETE FROM personality_stories WHERE id = $2 AND personality_id = $1 RETURNING title`,
		personalityID, id).Scan(&title)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("remove knowledge: %w", mapError(err))
	}
	return title, true, nil
}
