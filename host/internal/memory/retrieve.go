package memory

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// Query is what one reply asks for.
type Query struct {
	PersonalityID int64
	// UserID is the host id of the user being answered.
	UserID    int64
	ChannelID string
	GuildID   string // "" in DMs
	IsDM      bool
	// PresentUserIDs are the host ids of the others in the conversation.
	// Retrieval never widens on them (it is for the user being answered);
	// they are passed on to the VectorSearcher and kept for formation.
	PresentUserIDs []int64
	// Text is the conversation so far (newest last); its last words are
	// what the search looks for.
	Text string
	// Budget in tokens; 0 uses the personality's memory_budget_tokens.
	Budget int
}

// Blocks are what retrieval found, already cut to the budget.
type Blocks struct {
	Persona   *Persona
	Knowledge []Knowledge
	Memories  []Memory
	Examples  []Example
	// Budget is the budget applied; Used the estimated tokens of the blocks.
	Budget, Used int
}

// Empty reports whether there is nothing to add to a prompt.
func (b Blocks) Empty() bool {
	return b.Persona == nil && len(b.Knowledge) == 0 && len(b.Memories) == 0 && len(b.Examples) == 0
}

// VectorSearcher is the similarity-search upgrade (an embedding plugin).
// Search returns up to limit memories of q.PersonalityID that q's user may
// see (its SQL must include VisibleSQL), best first, with Score in 0..1.
// An error is logged by the caller and retrieval goes on with full text.
type VectorSearcher interface {
	SearchMemories(ctx context.Context, q Query, limit int) ([]Memory, error)
}

// VisibleSQL is the privacy rule (docs/security.md, "Memories") as a SQL
// predicate on personality_memories aliased m, with the parameters named
// @user (bigint), @is_dm (boolean) and @guild (text, NULL in DMs):
//
//   - a DM memory is used only in a DM, and only for a user it is about;
//   - any other memory is used for a user it is about or who was present
//     when it was formed, in the guild it was formed in or in that user's
//     DMs (where nobody else reads the reply).
//
// Every query that puts memories in front of a user (retrieval, vector
// search, /memory) must use it.
const VisibleSQL = `(
    (m.is_dm AND @is_dm::boolean AND m.about_user_ids @> ARRAY[@user::bigint])
    OR (NOT m.is_dm
        AND (m.about_user_ids @> ARRAY[@user::bigint] OR m.present_user_ids @> ARRAY[@user::bigint])
        AND (@is_dm::boolean OR m.discord_guild_id = @guild::text)))`

// visibleScanSQL is VisibleSQL with each "is the user in this array" test
// written as `= ANY(...)` instead of `@>`. Same rows (both are NULL for a
// NULL array and true exactly when the user is an element), but the GIN
// indexes on about_user_ids and present_user_ids cannot serve `= ANY`.
// Retrieval runs as a prepared statement, which PostgreSQL plans once for
// any user: with `@>` that generic plan ANDed the full-text match with
// those indexes, and for a user who is in most of a personality's
// memories (the usual case) it read ~100,000 index entries per reply
// (16 ms instead of 2; docs/performance.md, "Memory retrieval"). Derived
// from VisibleSQL so there is still one privacy rule.
var visibleScanSQL = strings.NewReplacer(
	"m.about_user_ids @> ARRAY[@user::bigint]", "@user::bigint = ANY(m.about_user_ids)",
	"m.present_user_ids @> ARRAY[@user::bigint]", "@user::bigint = ANY(m.present_user_ids)",
).Replace(VisibleSQL)

// Candidate counts the one statement fetches before the budget cut.
const (
	maxMatched   = 40
	maxRecent    = 20
	maxKnowledge = 40
	maxExamples  = 3
	// maxSearchWords is how many distinct words of the conversation the
	// search uses (the newest ones).
	maxSearchWords = 24
	// maxKeyText is how much of the conversation (its end, in runes)
	// knowledge keys are looked for in.
	maxKeyText = 4000
	// candidateCap bounds the rows the full-text ranking reads: a word
	// found in most of 100k memories must not cost a ranking of all of
	// them. It is shared between the search's words (index keys), each
	// taking at least minPerWord of its matches: a word only a few
	// memories have is always searched whole. Ranking picks from the
	// union.
	candidateCap = 200
	minPerWord   = 8
)

// retrieveSQL is retrieval's one statement. Rows are (kind, id, a, b,
// score, flag, n, keys, at): kind 'm' matched memory, 'r' recent memory,
// 'k' knowledge, 'p' persona, 'e' example, 'b' the budget (n), whether the
// personality has any memory content (flag) and whether the user has any
// persona (score 1).
//
// Memory score: ts_rank(tsv, query in the personality's language) × (0.5 + importance) × recency,
// recency = 0.3 + 0.7 × 0.5^(age in days / 180): relevance first, a
// memory's weight and its age adjusting it, old memories never vanishing.
var retrieveSQL = `
WITH pers AS (
    SELECT p.id, p.memory_budget_tokens AS budget,
           websearch_to_tsquery('simple', @words::text) || websearch_to_tsquery(p.memory_language::regconfig, @words::text) AS tsq,
           -- Ranking costs per query term and row: it uses the
           -- personality's language alone (half the terms). Rows indexed
           -- with 'simple' still rank, by the words no stemmer changed.
           websearch_to_tsquery(p.memory_language::regconfig, @words::text) AS rankq,
           -- The index keys of the same words (migration 19): the
           -- personality's id before each lexeme, in 'simple' and in the
           -- personality's language, as tsq has them; without the words
           -- most of its memories have (commonwords.go).
           array(SELECT k FROM unnest(tzurot_memory_keys(@personality::bigint,
                     to_tsvector('simple', @terms::text) || to_tsvector(p.memory_language::regconfig, @terms::text))) k
                 WHERE k <> ALL (@common::text[])) AS keys,
           -- Whether there is anything at all to find (Presence).
           (EXISTS (SELECT 1 FROM personality_memories x WHERE x.personality_id = p.id)
            OR EXISTS (SELECT 1 FROM personality_stories x WHERE x.personality_id = p.id)
            OR EXISTS (SELECT 1 FROM personality_training_examples x WHERE x.personality_id = p.id)
            OR EXISTS (SELECT 1 FROM personality_user_personalizations x WHERE x.personality_id = p.id)) AS has_content,
           EXISTS (SELECT 1 FROM user_personas x WHERE x.user_id = @user::bigint) AS has_persona
    FROM personalities p WHERE p.id = @personality::bigint
),
cand AS (
    -- Each word's own matches, up to its share of candidateCap (see
    -- there): a word that only a few memories have is always searched
    -- whole, however many memories the conversation's common words match
    -- (capping the matches of all the words together kept whichever came
    -- first in the table, mostly the oldest).
    SELECT DISTINCT ON (c.id) c.id, c.content, c.importance, c.tsv, c.at
    FROM pers, unnest(pers.keys) AS w(key),
    LATERAL (
        SELECT m.id, m.content, m.importance, m.tsv, coalesce(m.remembered_at, m.created_at) AS at
        FROM personality_memories m
        -- Asked of personality_memories_keys_idx (migration 19), whose keys
        -- carry the personality: only this personality's matches are read,
        -- and a personality with few memories never reads another's. The
        -- same rows as m.tsv @@ the word AND m.personality_id =
        -- @personality, which is not written out: the planner would AND the
        -- keys with a personality_id index, which for a big personality
        -- lists all of its memories.
        WHERE tzurot_memory_keys(m.personality_id, m.tsv) && ARRAY[w.key]
          AND ` + visibleScanSQL + `
        LIMIT greatest(` + fmtInt(minPerWord) + `, ` + fmtInt(candidateCap) + ` / nullif(cardinality(pers.keys), 0))
    ) c
),
matched AS (
    SELECT c.id, c.content, c.at,
           ts_rank(c.tsv, pers.rankq) * (0.5 + c.importance)
             -- date_part is float8; extract() is numeric, whose power() is slow.
             * (0.3 + 0.7 * power(0.5::float8, date_part('epoch', now() - c.at) / (86400.0 * 180.0)::float8)) AS score
    FROM cand c, pers
    ORDER BY score DESC, c.id DESC
    LIMIT ` + fmtInt(maxMatched) + `
),
recent AS (
    SELECT m.id, m.content, coalesce(m.remembered_at, m.created_at) AS at
    FROM personality_memories m
    -- The generic plan must walk personality_memories_recent_idx
    -- (personality first), never the all-personalities recency index, which
    -- for a personality with no memories means the whole table. Hence
    -- visibleScanSQL (see there), and migration 19's statistic: planned
    -- for any personality, the planner assumed each holds as many memories
    -- as PostgreSQL's sample saw per personality, all of them where one
    -- personality holds most.
    WHERE m.personality_id = @personality::bigint AND ` + visibleScanSQL + `
    ORDER BY coalesce(m.remembered_at, m.created_at) DESC, m.id DESC
    LIMIT ` + fmtInt(maxRecent) + `
),
know AS (
    SELECT s.id, s.title, s.content, s.keys, s.always_on, s.priority,
           CASE WHEN s.always_on THEN 2
                WHEN EXISTS (SELECT 1 FROM unnest(s.keys) k WHERE btrim(k) <> '' AND strpos(lower(@keytext::text), lower(btrim(k))) > 0) THEN 1
                ELSE 0 END AS why,
           CASE WHEN s.tsv @@ pers.tsq THEN ts_rank_cd(s.tsv, pers.tsq) ELSE 0 END AS rel
    FROM personality_stories s, pers
    WHERE s.personality_id = pers.id AND s.content <> ''
),
know_top AS (
    SELECT * FROM know WHERE why > 0 OR rel > 0
    ORDER BY why DESC, priority DESC, rel DESC, id
    LIMIT ` + fmtInt(maxKnowledge) + `
),
persona AS (
    SELECT content, CASE WHEN personality_id IS NULL THEN 'global' ELSE 'personality' END AS src
    FROM user_personas
    WHERE user_id = @user::bigint AND (personality_id = @personality::bigint OR personality_id IS NULL)
    UNION ALL
    SELECT concat_ws(E'\n',
               CASE WHEN preferred_name <> '' THEN 'Name: ' || preferred_name END,
               CASE WHEN pronouns <> '' THEN 'Pronouns: ' || pronouns END,
               NULLIF(backstory, '')), 'import'
    FROM personality_user_personalizations
    WHERE personality_id = @personality::bigint AND user_id = @user::bigint
      AND (preferred_name <> '' OR pronouns <> '' OR backstory <> '')
),
persona_one AS (
    SELECT content, src FROM persona
    ORDER BY CASE src WHEN 'personality' THEN 0 WHEN 'global' THEN 1 ELSE 2 END
    LIMIT 1
),
examples AS (
    SELECT e.id,
           coalesce(e.source->>'question', e.source->>'message', e.source->>'input', e.source->>'user', e.source->>'prompt') AS q,
           coalesce(e.source->>'answer', e.source->>'reply', e.source->>'output', e.source->>'assistant', e.source->>'response') AS a
    FROM personality_training_examples e
    WHERE e.personality_id = @personality::bigint AND jsonb_typeof(e.source) = 'object'
)
SELECT 'b', 0::bigint, '', '', CASE WHEN has_persona THEN 1 ELSE 0 END::float8, has_content, budget, '{}'::text[], NULL::timestamptz FROM pers
UNION ALL
SELECT 'm', id, content, '', score::float8, false, 0, '{}', at FROM matched
UNION ALL
SELECT 'r', id, content, '', 0, false, 0, '{}', at FROM recent
UNION ALL
SELECT 'k', id, title, content, rel::float8, always_on, priority, keys, NULL FROM know_top
UNION ALL
SELECT 'p', 0, content, src, 0, false, 0, '{}', NULL FROM persona_one
UNION ALL
(SELECT 'e', id, q, a, 0, false, 0, '{}', NULL FROM examples
 WHERE q IS NOT NULL AND a IS NOT NULL AND q <> '' AND a <> ''
 ORDER BY id LIMIT ` + fmtInt(maxExamples) + `)`

func fmtInt(n int) string { return fmt.Sprint(n) }

// Retrieve finds what belongs in one reply, in one database round trip
// (plus the vector search, at the same time, when there is one), and cuts
// it to the budget (see cut).
func (s *Store) Retrieve(ctx context.Context, q Query) (Blocks, error) {
	if s.presence.nothingFor(q.PersonalityID, q.UserID) {
		// Nothing to find, and nothing was added since a retrieval saw so.
		return Blocks{Budget: q.Budget}, nil
	}
	var (
		out    Blocks
		vector []Memory
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		out, err = s.retrieveSQL(gctx, q)
		return err
	})
	if s.vector != nil {
		g.Go(func() error {
			// The vector path is an upgrade: its failure costs only itself.
			vector, _ = s.vector.SearchMemories(gctx, q, maxMatched)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Blocks{}, err
	}
	if len(vector) > 0 {
		out.Memories = interleave(vector, out.Memories)
	}
	if q.Budget > 0 {
		out.Budget = q.Budget
	}
	return cut(out), nil
}

func (s *Store) retrieveSQL(ctx context.Context, q Query) (Blocks, error) {
	words := SearchWords(q.Text, maxSearchWords)
	// PostgreSQL text holds no NUL and only valid UTF-8.
	keyText := strings.ReplaceAll(strings.ToValidUTF8(q.Text, ""), "\x00", "")
	if n := utf8.RuneCountInString(keyText); n > maxKeyText {
		r := []rune(keyText)
		keyText = string(r[n-maxKeyText:])
	}
	var guild any
	if q.GuildID != "" {
		guild = q.GuildID
	}
	token := s.presence.begin()
	// One round trip, one implicit transaction: the SET LOCAL lasts for this
	// statement only. It makes PostgreSQL run retrieval with the plan it
	// made once for the connection (a generic plan) instead of planning the
	// statement again on every call, which its cost estimates chose on a
	// large personality: planning these CTEs cost ~1 ms of the 2.6 ms a
	// call took at p50 (docs/performance.md, "Memory retrieval"). The
	// statement is written so that the generic plan reads one
	// personality's rows (TestRetrievalStaysInItsPersonality).
	batch := &pgx.Batch{}
	batch.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	batch.Queue(retrieveSQL, pgx.NamedArgs{
		"personality": q.PersonalityID, "user": q.UserID, "is_dm": q.IsDM, "guild": guild,
		"words": words, "terms": strings.ReplaceAll(words, " or ", " "), "keytext": keyText,
		"common": s.commonWords(q.PersonalityID),
	})
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return Blocks{}, fmt.Errorf("retrieve memories: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return Blocks{}, fmt.Errorf("retrieve memories: %w", err)
	}
	defer rows.Close()
	var (
		out    Blocks
		recent []Memory
		seen   = map[int64]bool{}
	)
	for rows.Next() {
		var (
			kind    string
			id      int64
			a, b    string
			score   float64
			flag    bool
			n       int
			keys    []string
			at      *time.Time
			rememAt time.Time
		)
		if err := rows.Scan(&kind, &id, &a, &b, &score, &flag, &n, &keys, &at); err != nil {
			return Blocks{}, fmt.Errorf("retrieve memories: %w", err)
		}
		if at != nil {
			rememAt = *at
		}
		switch kind {
		case "b":
			out.Budget = n
			s.presence.saw(token, q.PersonalityID, !flag, q.UserID, score == 0)
		case "m":
			seen[id] = true
			out.Memories = append(out.Memories, Memory{ID: id, PersonalityID: q.PersonalityID, Content: a, Score: score, RememberedAt: rememAt})
		case "r":
			recent = append(recent, Memory{ID: id, PersonalityID: q.PersonalityID, Content: a, RememberedAt: rememAt})
		case "k":
			why := "match"
			switch {
			case flag:
				why = "always"
			case keyHit(keys, keyText):
				why = "key"
			}
			out.Knowledge = append(out.Knowledge, Knowledge{ID: id, Title: a, Content: b, Keys: keys, AlwaysOn: flag, Priority: n, Why: why})
		case "p":
			out.Persona = &Persona{Content: a, Source: b}
		case "e":
			out.Examples = append(out.Examples, Example{User: a, Character: b})
		}
	}
	if err := rows.Err(); err != nil {
		return Blocks{}, fmt.Errorf("retrieve memories: %w", err)
	}
	// Matched memories first (best first), then the latest ones the
	// search did not find: "what do you remember about me" has no words
	// in common with any memory, and should still be answered.
	for _, m := range recent {
		if !seen[m.ID] {
			out.Memories = append(out.Memories, m)
		}
	}
	return out, nil
}

func keyHit(keys []string, text string) bool {
	lt := strings.ToLower(text)
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" && strings.Contains(lt, strings.ToLower(k)) {
			return true
		}
	}
	return false
}

// interleave merges vector and full-text results, alternating from the
// vector list, without repeats.
func interleave(a, b []Memory) []Memory {
	seen := map[int64]bool{}
	out := make([]Memory, 0, len(a)+len(b))
	for i := 0; i < len(a) || i < len(b); i++ {
		for _, l := range [][]Memory{a, b} {
			if i < len(l) && !seen[l[i].ID] {
				seen[l[i].ID] = true
				out = append(out, l[i])
			}
		}
	}
	return out
}
