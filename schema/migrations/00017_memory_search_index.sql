-- 00017_memory_search_index: full-text retrieval reads one personality's
-- matches only (issues 14 and 16).
--
-- Migration 11 indexed personality_memories.tsv alone. Retrieval is a
-- prepared statement, and PostgreSQL plans a prepared statement once for any
-- personality (a generic plan): with a tsv-only index, a personality with a
-- handful of memories paid for every match of a personality with 100,000 of
-- them (40-85 ms a reply instead of under 1 ms; docs/performance.md,
-- "Memory retrieval"). One GIN index over (personality_id, tsv) answers
-- "this personality's memories that match" directly; it also serves
-- tsv-only searches (/memory search across personalities), so it replaces
-- the old index instead of adding a second one.
--
-- A GIN index over a bigint column needs btree_gin, a contrib extension
-- that ships with PostgreSQL (Debian's postgresql package, the official
-- images, and the managed services) and is "trusted": the database's owner
-- may create it without being a superuser. Where it is missing or may not be
-- created, this migration keeps the old index and says so: retrieval still
-- works, only slower for small personalities beside big ones, and
-- `tzurot doctor` reports it.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gin') THEN
        RAISE NOTICE 'btree_gin is not installed with this PostgreSQL: memory search keeps its full-text-only index';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS btree_gin;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'not allowed to CREATE EXTENSION btree_gin: memory search keeps its full-text-only index';
        RETURN;
    END;
    -- fastupdate off, as in migration 11: memories are written seldom and
    -- searched on every reply.
    CREATE INDEX personality_memories_search_idx ON personality_memories
        USING gin (personality_id, tsv) WITH (fastupdate = off);
    DROP INDEX personality_memories_tsv_idx;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('personality_memories_search_idx') IS NOT NULL THEN
        CREATE INDEX personality_memories_tsv_idx ON personality_memories USING gin (tsv) WITH (fastupdate = off);
        DROP INDEX personality_memories_search_idx;
    END IF;
    -- The extension goes too, unless something else now uses it.
    BEGIN
        DROP EXTENSION IF EXISTS btree_gin;
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'btree_gin is used by other objects: kept';
    END;
END;
$$;
-- +goose StatementEnd
