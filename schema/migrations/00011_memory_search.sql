-- 00011_memory_search: makes what imports brought (and what the host will
-- form) searchable, owned and used in replies (issue 14). docs/schema.md
-- documents every column; docs/security.md the privacy rule these columns
-- carry.
--
-- personality_memories gains:
--   * language: the text search configuration the row is indexed with,
--     chosen on insert from the personality's memory_language, or 'simple'
--     when that language is written in Latin script and the text has no
--     Latin letter (Japanese, Hebrew, ...: no stemmer applies, so 'simple'
--     keeps the words as they are instead of mangling them);
--   * tsv: the full-text vector, generated from language and content, with a
--     GIN index;
--   * importance (0..1, default 0.5), a ranking weight;
--   * about_user_ids / present_user_ids (host user ids), is_dm, formed_by:
--     who a memory is about, who was there, and where it came from. Together
--     they are the privacy rule (docs/security.md, "Memories"): enforced by
--     the retrieval query, never by the prompt.
--   * a size cap of 16000 characters (CHECK). The importer cuts a longer
--     memory and keeps the whole text in the row's source (zero loss); the
--     store refuses one with store.ErrMemoryTooLong. Rows above the cap from
--     before this migration are cut the same way by the backfill below.
--
-- Imported rows (formed_by 'import') are about the personality's owner: a
-- shapes.inc backup does not say which shapes.inc account is which Discord
-- user, and the person who imports a backup already holds every memory in
-- it, so its owner is the one person they may be shown to. A trigger fills
-- about/present for rows inserted by an import, and again when an
-- ownerless personality gets an owner.
--
-- personality_stories (knowledge, lorebook-style) gains keys, always_on,
-- priority, language and tsv (title and content). user_personas holds a
-- user's own facts, per personality or global (personality_id NULL).
-- personalities and user_preferences gain the memory settings.

-- +goose Up

-- Text search language of a personality's memories and knowledge.
ALTER TABLE personalities
    ADD COLUMN memory_language text NOT NULL DEFAULT 'english',
    ADD COLUMN memory_budget_tokens integer NOT NULL DEFAULT 1000,
    ADD COLUMN memory_formation_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN memory_every_n integer NOT NULL DEFAULT 20;
ALTER TABLE personalities
    -- A text search configuration of this database (pg_ts_config); kept as
    -- text so that every reader of personalities sees a plain string.
    ADD CONSTRAINT personalities_memory_language_known CHECK (memory_language::regconfig IS NOT NULL),
    ADD CONSTRAINT personalities_memory_budget_range CHECK (memory_budget_tokens BETWEEN 0 AND 32000),
    ADD CONSTRAINT personalities_memory_every_n_range CHECK (memory_every_n BETWEEN 1 AND 1000);

ALTER TABLE user_preferences ADD COLUMN memory_formation_enabled boolean;

-- A shapes.inc profile's language_preset (kept in custom_fields.shapesExtra)
-- picks the language of an imported personality.
UPDATE personalities p SET memory_language = m.cfg
FROM (VALUES ('en', 'english'), ('es', 'spanish'), ('fr', 'french'), ('de', 'german'), ('it', 'italian'),
             ('pt', 'portuguese'), ('nl', 'dutch'), ('ru', 'russian'), ('sv', 'swedish'), ('da', 'danish'),
             ('fi', 'finnish'), ('no', 'norwegian'), ('tr', 'turkish'), ('hu', 'hungarian'), ('ro', 'romanian'),
             ('el', 'greek'), ('id', 'indonesian'), ('ar', 'arabic'), ('hi', 'hindi'), ('ca', 'catalan'),
             ('ja', 'simple'), ('zh', 'simple'), ('ko', 'simple'), ('he', 'simple'), ('pl', 'simple'),
             ('uk', 'simple'), ('vi', 'simple'), ('th', 'simple')) AS m (code, cfg)
WHERE lower(p.custom_fields #>> '{shapesExtra,language_preset}') = m.code;

-- tzurot_memory_language picks a row's configuration: the personality's,
-- except 'simple' for text without a Latin letter when the personality's
-- language is written in Latin script (its stemmer would only do harm).
-- +goose StatementBegin
CREATE FUNCTION tzurot_memory_language(p_personality bigint, p_text text) RETURNS regconfig
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN cfg::text IN ('arabic', 'armenian', 'greek', 'hindi', 'nepali', 'russian', 'serbian', 'tamil', 'yiddish', 'simple')
            THEN cfg
        WHEN p_text ~ '[A-Za-z]' THEN cfg
        ELSE 'simple'::regconfig
    END
    FROM (SELECT coalesce((SELECT memory_language::regconfig FROM personalities WHERE id = p_personality), 'simple'::regconfig) AS cfg) c
$$;
-- +goose StatementEnd

ALTER TABLE personality_memories
    ADD COLUMN language regconfig,
    ADD COLUMN importance real NOT NULL DEFAULT 0.5,
    ADD COLUMN about_user_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN present_user_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN is_dm boolean,
    ADD COLUMN formed_by text;

-- Backfill: everything so far came from imports.
UPDATE personality_memories m SET
    formed_by = 'import',
    is_dm = (m.discord_channel_id IS NULL),
    language = tzurot_memory_language(m.personality_id, m.content),
    about_user_ids = coalesce((SELECT ARRAY[p.owner_user_id] FROM personalities p WHERE p.id = m.personality_id AND p.owner_user_id IS NOT NULL), '{}'),
    present_user_ids = coalesce((SELECT ARRAY[p.owner_user_id] FROM personalities p WHERE p.id = m.personality_id AND p.owner_user_id IS NOT NULL), '{}');
-- Cut memories above the cap; the whole text moves to source.result (the
-- key the importer reads the text from), so nothing is lost.
UPDATE personality_memories SET
    source = CASE WHEN source ? 'result' THEN source ELSE source || jsonb_build_object('result', content) END,
    content = left(content, 16000)
WHERE char_length(content) > 16000;

ALTER TABLE personality_memories
    ALTER COLUMN language SET NOT NULL,
    ALTER COLUMN is_dm SET NOT NULL,
    ALTER COLUMN formed_by SET NOT NULL,
    ADD CONSTRAINT personality_memories_formed_by_kind CHECK (formed_by IN ('import', 'summary', 'user')),
    ADD CONSTRAINT personality_memories_importance_range CHECK (importance >= 0 AND importance <= 1),
    ADD CONSTRAINT personality_memories_content_length CHECK (char_length(content) <= 16000),
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector(language, content)) STORED;

-- fastupdate off: memories are written seldom and searched on every
-- reply; a GIN pending list would be scanned linearly by every search
-- until the next vacuum.
CREATE INDEX personality_memories_tsv_idx ON personality_memories USING gin (tsv) WITH (fastupdate = off);
CREATE INDEX personality_memories_about_idx ON personality_memories USING gin (about_user_ids) WITH (fastupdate = off);
CREATE INDEX personality_memories_present_idx ON personality_memories USING gin (present_user_ids) WITH (fastupdate = off);
-- Recency: the retrieval's "latest memories about this user" and /memory list.
CREATE INDEX personality_memories_recent_idx ON personality_memories
    (personality_id, (coalesce(remembered_at, created_at)) DESC, id DESC);

-- Fills what an insert left out: the language from the personality; for an
-- import (a row with a source_id), formed_by 'import', is_dm from the
-- channel, and about/present = the personality's owner. Rows the host forms
-- must say formed_by, is_dm and who they are about themselves (NOT NULL).
-- +goose StatementBegin
CREATE FUNCTION tzurot_memory_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner bigint;
BEGIN
    -- An insert without a language, or new text under the old language,
    -- gets the language picked for the text; a writer may still choose.
    IF (TG_OP = 'INSERT' AND NEW.language IS NULL)
        OR (TG_OP = 'UPDATE' AND NEW.content IS DISTINCT FROM OLD.content AND NEW.language IS NOT DISTINCT FROM OLD.language) THEN
        NEW.language := tzurot_memory_language(NEW.personality_id, NEW.content);
    END IF;
    IF TG_OP = 'INSERT' AND NEW.formed_by IS NULL AND NEW.source_id IS NOT NULL THEN
        NEW.formed_by := 'import';
    END IF;
    IF NEW.is_dm IS NULL AND NEW.formed_by = 'import' THEN
        NEW.is_dm := NEW.discord_channel_id IS NULL;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.formed_by = 'import' AND cardinality(NEW.about_user_ids) = 0 THEN
        SELECT owner_user_id INTO owner FROM personalities WHERE id = NEW.personality_id;
        IF owner IS NOT NULL THEN
            NEW.about_user_ids := ARRAY[owner];
            IF cardinality(NEW.present_user_ids) = 0 THEN
                NEW.present_user_ids := ARRAY[owner];
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER personality_memories_fill BEFORE INSERT OR UPDATE ON personality_memories
    FOR EACH ROW EXECUTE FUNCTION tzurot_memory_fill();

-- An ownerless personality that gets an owner: its imported memories that
-- were about nobody become the owner's. An owner change never moves
-- memories that already belong to someone.
-- +goose StatementBegin
CREATE FUNCTION tzurot_memory_owner_set() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE personality_memories SET
        about_user_ids = ARRAY[NEW.owner_user_id],
        present_user_ids = CASE WHEN cardinality(present_user_ids) = 0 THEN ARRAY[NEW.owner_user_id] ELSE present_user_ids END
    WHERE personality_id = NEW.id AND formed_by = 'import' AND cardinality(about_user_ids) = 0;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER personalities_memory_owner AFTER UPDATE OF owner_user_id ON personalities
    FOR EACH ROW WHEN (OLD.owner_user_id IS NULL AND NEW.owner_user_id IS NOT NULL)
    EXECUTE FUNCTION tzurot_memory_owner_set();

-- Knowledge (lorebook): keys that pull an entry in when the conversation
-- names them, always-on entries, priority (higher first).
ALTER TABLE personality_stories
    ADD COLUMN keys text[] NOT NULL DEFAULT '{}',
    ADD COLUMN always_on boolean NOT NULL DEFAULT false,
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN language regconfig;
UPDATE personality_stories s SET language = tzurot_memory_language(s.personality_id, s.title || ' ' || s.content);
ALTER TABLE personality_stories
    ALTER COLUMN language SET NOT NULL,
    ADD CONSTRAINT personality_stories_priority_range CHECK (priority BETWEEN -1000 AND 1000),
    ADD CONSTRAINT personality_stories_keys_count CHECK (cardinality(keys) <= 50),
    -- The vector reads the first 100000 characters: to_tsvector refuses
    -- more than 1 MB of lexemes, and lore that long is not one entry.
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(language, title), 'A') || setweight(to_tsvector(language, left(content, 100000)), 'B')) STORED;
CREATE INDEX personality_stories_tsv_idx ON personality_stories USING gin (tsv) WITH (fastupdate = off);

-- +goose StatementBegin
CREATE FUNCTION tzurot_story_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.language IS NULL)
        OR (TG_OP = 'UPDATE' AND (NEW.content IS DISTINCT FROM OLD.content OR NEW.title IS DISTINCT FROM OLD.title)
            AND NEW.language IS NOT DISTINCT FROM OLD.language) THEN
        NEW.language := tzurot_memory_language(NEW.personality_id, NEW.title || ' ' || NEW.content);
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER personality_stories_fill BEFORE INSERT OR UPDATE ON personality_stories
    FOR EACH ROW EXECUTE FUNCTION tzurot_story_fill();

-- A user's own facts: per personality, or for every personality
-- (personality_id NULL). One row per pair.
CREATE TABLE user_personas (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    personality_id bigint      REFERENCES personalities (id) ON DELETE CASCADE,
    content        text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_personas_pair_key UNIQUE NULLS NOT DISTINCT (user_id, personality_id),
    CONSTRAINT user_personas_content_length CHECK (char_length(btrim(content)) BETWEEN 1 AND 4000)
);
CREATE TRIGGER user_personas_touch BEFORE UPDATE ON user_personas
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- +goose Down
DROP TABLE user_personas;
DROP TRIGGER personality_stories_fill ON personality_stories;
DROP FUNCTION tzurot_story_fill();
DROP INDEX personality_stories_tsv_idx;
ALTER TABLE personality_stories
    DROP COLUMN tsv, DROP COLUMN language, DROP COLUMN priority, DROP COLUMN always_on, DROP COLUMN keys;
DROP TRIGGER personalities_memory_owner ON personalities;
DROP FUNCTION tzurot_memory_owner_set();
DROP TRIGGER personality_memories_fill ON personality_memories;
DROP FUNCTION tzurot_memory_fill();
DROP INDEX personality_memories_recent_idx;
DROP INDEX personality_memories_present_idx;
DROP INDEX personality_memories_about_idx;
DROP INDEX personality_memories_tsv_idx;
ALTER TABLE personality_memories
    DROP CONSTRAINT personality_memories_content_length,
    DROP COLUMN tsv, DROP COLUMN formed_by, DROP COLUMN is_dm, DROP COLUMN present_user_ids,
    DROP COLUMN about_user_ids, DROP COLUMN importance, DROP COLUMN language;
DROP FUNCTION tzurot_memory_language(bigint, text);
ALTER TABLE user_preferences DROP COLUMN memory_formation_enabled;
ALTER TABLE personalities
    DROP CONSTRAINT personalities_memory_every_n_range, DROP CONSTRAINT personalities_memory_budget_range,
    DROP CONSTRAINT personalities_memory_language_known,
    DROP COLUMN memory_every_n, DROP COLUMN memory_formation_enabled, DROP COLUMN memory_budget_tokens,
    DROP COLUMN memory_language;
