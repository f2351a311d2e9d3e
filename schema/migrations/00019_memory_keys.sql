-- 00019_memory_keys: full-text retrieval looks words up inside one
-- personality, with no extension (issue 14).
--
-- Migration 17 indexed memories over (personality_id, tsv) with btree_gin.
-- PostgreSQL keeps such an index as two sets of keys: the personality's key
-- lists every memory of the personality, and each search intersected the
-- matches with that list; for a personality with 100,000 memories that list
-- was a third of the search's time (docs/performance.md, "Memory
-- retrieval"). And btree_gin is an extension some servers lack.
--
-- Here each memory's index keys are its words with the personality in
-- front ("42 lake", "42 zeppelin"): a search asks for "42 <word>" keys only,
-- so it reads exactly this personality's matches, never another's, and
-- needs nothing but PostgreSQL itself. The words are the memory's tsv
-- lexemes (its own language), so what matches is what `tsv @@` of the same
-- words matched. Ranking still reads tsv.
--
-- /memory search (across personalities, AND of the words) keeps a tsv-only
-- index: where migration 17 replaced it, it is put back.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tzurot_memory_keys(personality bigint, words tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT coalesce(array_agg(personality::text || ' ' || w), '{}') FROM unnest(tsvector_to_array(words)) w $$;
-- +goose StatementEnd

-- fastupdate off, as in migrations 11 and 17: memories are written seldom
-- and searched on every reply.
CREATE INDEX personality_memories_keys_idx ON personality_memories
    USING gin (tzurot_memory_keys(personality_id, tsv)) WITH (fastupdate = off);

-- Retrieval runs with one generic plan for every personality (retrieve.go),
-- planned from the table's statistics before any personality is known.
-- PostgreSQL's sample then says how many memories "a personality" has: on a
-- deployment where one personality holds most of them, all of them, and the
-- plan for the newest memories walked the all-personalities recency index
-- (for a personality with three memories, the whole table). Memories are
-- spread over many personalities by design; the planner is told so (a
-- personality per 1,000 memories at most; it counts fewer distinct values
-- in a small table), and ANALYZE takes it in.
ALTER TABLE personality_memories ALTER COLUMN personality_id SET (n_distinct = 1000);
ANALYZE personality_memories;

-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('personality_memories_search_idx') IS NOT NULL THEN
        CREATE INDEX personality_memories_tsv_idx ON personality_memories USING gin (tsv) WITH (fastupdate = off);
        DROP INDEX personality_memories_search_idx;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    -- Back to what migration 17 left: the (personality_id, tsv) index where
    -- btree_gin is installed, the tsv-only one where it is not.
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gin')
       AND to_regclass('personality_memories_search_idx') IS NULL THEN
        CREATE INDEX personality_memories_search_idx ON personality_memories
            USING gin (personality_id, tsv) WITH (fastupdate = off);
        DROP INDEX IF EXISTS personality_memories_tsv_idx;
    END IF;
END;
$$;
-- +goose StatementEnd
ALTER TABLE personality_memories ALTER COLUMN personality_id RESET (n_distinct);
ANALYZE personality_memories;
DROP INDEX personality_memories_keys_idx;
DROP FUNCTION tzurot_memory_keys(bigint, tsvector);
