package memory

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Common words.
//
// GIN cannot stop early: finding "the memories with this word" lists every
// memory that has it, even when retrieval keeps only a few. A word that most
// of a big personality's memories share (its own name, the user's, "today")
// costs ~7 ms per 100,000 memories on every reply, and says almost nothing
// about which memories matter. So the search leaves out the words that more
// than CommonWordMemories of the personality's memories have; they still
// count in the ranking of the memories the other words find, and the newest
// memories are always added (the "recent" block).
//
// How many memories have a word comes from PostgreSQL's own statistics:
// ANALYZE (autovacuum runs it) samples the word keys of
// personality_memories_keys_idx (migration 19) and keeps the most common
// ones with their frequencies in pg_stats (the table's 1,000 most common
// keys at the default statistics target; docs/operations.md says how to
// keep more). The Store reads them at start and every CommonWordsEvery;
// reading them per reply would cost a millisecond.

// CommonWordMemories is how many of a personality's memories a word may be
// in and still be searched for (listing 2,000 index entries costs about
// 0.2 ms).
const CommonWordMemories = 2000

// CommonWordsEvery is how often RunCommonWords reads the statistics again.
const CommonWordsEvery = 10 * time.Minute

// commonWordsSQL lists the word keys ("<personality id> <lexeme>") that
// PostgreSQL's statistics say more than $1 memories have. The frequencies
// are fractions of the table's rows; most_common_elem_freqs carries three
// more numbers than there are elements (unnest pairs them with NULL).
const commonWordsSQL = `
SELECT u.key
FROM pg_stats s
JOIN pg_class c ON c.oid = to_regclass('personality_memories')
CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(key, freq)
WHERE s.schemaname = current_schema() AND s.tablename = 'personality_memories_keys_idx'
  AND u.key IS NOT NULL AND u.freq * c.reltuples > $1`

// RefreshCommonWords reads which words each personality's memories mostly
// share (see CommonWordMemories) and makes Retrieve leave them out of the
// search from now on. Before the first call, and where the table has not
// been analyzed yet, every word is searched.
func (s *Store) RefreshCommonWords(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, commonWordsSQL, CommonWordMemories)
	if err != nil {
		return fmt.Errorf("read the common memory words: %w", err)
	}
	defer rows.Close()
	common := map[int64][]string{}
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return fmt.Errorf("read the common memory words: %w", err)
		}
		id, _, ok := strings.Cut(key, " ")
		pid, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			continue // not a key tzurot_memory_keys makes
		}
		common[pid] = append(common[pid], key)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the common memory words: %w", err)
	}
	s.common.Store(&common)
	return nil
}

// RunCommonWords refreshes the common words now and every CommonWordsEvery
// until ctx ends. A failed refresh keeps the words it had and is logged.
func (s *Store) RunCommonWords(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(CommonWordsEvery)
	defer t.Stop()
	for {
		if err := s.RefreshCommonWords(ctx); err != nil && ctx.Err() == nil {
			log.Warn("memory search keeps the common words it knew", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// commonWords returns the keys the search leaves out for personality id,
// never nil: the statement takes it as a text[], and NULL would leave out
// every word.
func (s *Store) commonWords(id int64) []string {
	if m := s.common.Load(); m != nil {
		if w := (*m)[id]; w != nil {
			return w
		}
	}
	return []string{}
}
