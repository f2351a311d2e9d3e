// Package memory is what a personality remembers and knows, and how the
// host finds the part of it that belongs in one reply: long-term memories
// (imported or formed), knowledge entries (lorebook-style), the user's
// persona and a few training examples, cut to a token budget.
//
// Search is PostgreSQL full text (a tsvector per row, GIN indexes, schema
// migration 11); an optional VectorSearcher adds similarity search. Who may
// see a memory is decided in SQL (VisibleSQL), never by the prompt: see
// docs/security.md, "Memories".
//
// The package talks to PostgreSQL with pgx directly rather than through
// sqlc: retrieval is one statement whose rows are a union of four kinds,
// and its privacy predicate is shared text (VisibleSQL) that the vector
// search of another package must use verbatim.
package memory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// MaxContentRunes is the longest memory the database accepts (the CHECK
// personality_memories_content_length). A summary longer than this is not
// a memory but a transcript; the importer cuts longer ones and keeps the
// whole text in the row's source.
const MaxContentRunes = 16000

// MaxPersonaRunes is the longest persona (user_personas_content_length).
const MaxPersonaRunes = 4000

// DefaultBudgetTokens is personalities.memory_budget_tokens' default.
const DefaultBudgetTokens = 1000

// Formed-by kinds (personality_memories.formed_by).
const (
	FormedByImport  = "import"
	FormedBySummary = "summary"
	FormedByUser    = "user"
)

// Errors callers tell apart.
var (
	// ErrTooLong: the memory is longer than MaxContentRunes.
	ErrTooLong = errors.New("memory too long")
	// ErrPersonaTooLong: the persona is longer than MaxPersonaRunes or empty.
	ErrPersonaInvalid = errors.New("persona must be 1 to 4000 characters")
	// ErrNotFound: no such memory that this user may change.
	ErrNotFound = errors.New("memory not found")
)

// TooLongError says how long a refused memory was.
type TooLongError struct{ Runes int }

func (e *TooLongError) Error() string {
	return fmt.Sprintf("a memory can hold at most %d characters; this one has %d (store the gist, not a transcript)", MaxContentRunes, e.Runes)
}

// Is makes errors.Is(err, ErrTooLong) true.
func (e *TooLongError) Is(target error) bool { return target == ErrTooLong }

// Memory is one long-term memory.
type Memory struct {
	ID            int64
	PersonalityID int64
	Content       string
	Importance    float64
	AboutUserIDs  []int64
	// PresentUserIDs were in the conversation the memory was formed in.
	PresentUserIDs []int64
	IsDM           bool
	ChannelID      string
	GuildID        string
	FormedBy       string
	RememberedAt   time.Time
	// Score is the retrieval's ranking (0 for memories picked by recency
	// only); set by Retrieve and VectorSearcher.
	Score float64
}

// Knowledge is one knowledge (lorebook) entry.
type Knowledge struct {
	ID       int64
	Title    string
	Content  string
	Keys     []string
	AlwaysOn bool
	Priority int
	// Why it was picked: "always", "key" or "match".
	Why string
}

// Example is one training example as dialogue.
type Example struct {
	User, Character string
}

// Persona is the user's own facts.
type Persona struct {
	Content string
	// Source: "personality" (set for this personality), "global", or
	// "import" (an imported personalization).
	Source string
}

// Store is the package's door to PostgreSQL: retrieval and the writes
// other packages need (formation, commands).
type Store struct {
	pool   *pgxpool.Pool
	vector VectorSearcher
	// presence, when set, lets Retrieve skip personalities and users with
	// nothing to find (presence.go).
	presence *Presence
	// common holds the words the search leaves out, per personality
	// (commonwords.go).
	common atomic.Pointer[map[int64][]string]
}

// New returns a Store on pool. vs may be nil: full-text search only.
func New(pool *pgxpool.Pool, vs VectorSearcher) *Store {
	return &Store{pool: pool, vector: vs}
}

// WithPresence makes Retrieve remember who has nothing to find, in p (which
// the process's cache.Listener must be told about). Call it before use.
func (s *Store) WithPresence(p *Presence) *Store {
	s.presence = p
	return s
}

// NewMemory is a memory to store.
type NewMemory struct {
	PersonalityID  int64
	Content        string
	Importance     float64 // 0..1; 0 means the default 0.5
	AboutUserIDs   []int64
	PresentUserIDs []int64
	IsDM           bool
	ChannelID      string // "" for none
	GuildID        string // "" for DMs
	FormedBy       string // FormedBySummary or FormedByUser
	// SourceSystem names the writer ("tzurot" for the host's own).
	SourceSystem string
	RememberedAt time.Time
}

// Add stores a memory and returns its id. A memory over MaxContentRunes is
// refused with *TooLongError (nothing is written); one about nobody is
// refused too, since nobody could ever be shown it.
func (s *Store) Add(ctx context.Context, m NewMemory) (int64, error) {
	if n := utf8.RuneCountInString(m.Content); n > MaxContentRunes {
		return 0, &TooLongError{Runes: n}
	}
	if strings.TrimSpace(m.Content) == "" {
		return 0, errors.New("a memory needs some text")
	}
	if len(m.AboutUserIDs) == 0 {
		return 0, errors.New("a memory must be about at least one user")
	}
	if m.FormedBy == "" {
		m.FormedBy = FormedBySummary
	}
	if m.SourceSystem == "" {
		m.SourceSystem = "tzurot"
	}
	if m.Importance == 0 {
		m.Importance = 0.5
	}
	if m.PresentUserIDs == nil {
		m.PresentUserIDs = m.AboutUserIDs
	}
	var remembered any
	if !m.RememberedAt.IsZero() {
		remembered = m.RememberedAt
	} else {
		remembered = time.Now()
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
INSERT INTO personality_memories (personality_id, source_system, content, importance, about_user_ids,
    present_user_ids, is_dm, discord_channel_id, discord_guild_id, formed_by, remembered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $10, $11)
RETURNING id`, m.PersonalityID, m.SourceSystem, m.Content, m.Importance, m.AboutUserIDs, m.PresentUserIDs,
		m.IsDM, m.ChannelID, m.GuildID, m.FormedBy, remembered).Scan(&id)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.ConstraintName == "personality_memories_content_length" {
			return 0, &TooLongError{Runes: utf8.RuneCountInString(m.Content)}
		}
		return 0, fmt.Errorf("store memory: %w", err)
	}
	if s.presence != nil {
		s.presence.Invalidate(cache.KindMemory, m.PersonalityID)
	}
	return id, nil
}

// Forget deletes one memory about userID (a user may forget what is about
// them, whoever else it is about). It returns ErrNotFound when there is no
// such memory about them.
func (s *Store) Forget(ctx context.Context, userID, memoryID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM personality_memories WHERE id = $1 AND about_user_ids @> ARRAY[$2::bigint]`, memoryID, userID)
	if err != nil {
		return fmt.Errorf("forget memory: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// SetPersona stores the user's persona for a personality (personalityID 0:
// for every personality), replacing the one there was.
func (s *Store) SetPersona(ctx context.Context, userID, personalityID int64, content string) error {
	content = strings.TrimSpace(content)
	if n := utf8.RuneCountInString(content); n == 0 || n > MaxPersonaRunes {
		return ErrPersonaInvalid
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO user_personas (user_id, personality_id, content) VALUES ($1, NULLIF($2, 0::bigint), $3)
ON CONFLICT (user_id, personality_id) DO UPDATE SET content = EXCLUDED.content`, userID, personalityID, content)
	if err != nil {
		return fmt.Errorf("store persona: %w", err)
	}
	if s.presence != nil {
		s.presence.Invalidate(cache.KindPersona, userID)
	}
	return nil
}

// ClearPersona deletes the user's persona for a personality (0: the global
// one) and reports whether there was one.
func (s *Store) ClearPersona(ctx context.Context, userID, personalityID int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM user_personas WHERE user_id = $1 AND personality_id IS NOT DISTINCT FROM NULLIF($2, 0::bigint)`, userID, personalityID)
	if err != nil {
		return false, fmt.Errorf("clear persona: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// SearchWords turns free text (a conversation, a /memory search string)
// into a websearch_to_tsquery input that matches any of its words: only
// letters, digits and marks survive, so tsquery syntax (& | ! ( ) : * < ->)
// and SQL are just words, and the words are joined with "or" (the text of a
// conversation shares few words with any one memory; "all words" would find
// nothing). The last maxWords distinct words are kept (the newest text is
// the most relevant); websearch's own operators ("or", a leading "-") can
// never come from the input.
func SearchWords(text string, maxWords int) string {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	seen := map[string]bool{}
	var out []string
	for i := len(words) - 1; i >= 0 && len(out) < maxWords; i-- {
		w := strings.ToLower(words[i])
		if w == "or" || seen[w] || utf8.RuneCountInString(w) > 100 {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return strings.Join(out, " or ")
}
