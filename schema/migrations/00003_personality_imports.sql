-- 00003_personality_imports: homes for what a shapes.inc backup carries
-- besides the character itself (memories, stories, user personalization,
-- training examples, chat history), so that an import loses nothing and a
-- later memory feature can read them.
--
-- Every table follows one pattern:
--   * source_system + source_id identify the record where it came from; the
--     unique key on (personality_id, source_system, source_id) is what makes
--     re-running an import change nothing. source_id is NULL for rows the host
--     writes itself later (NULLs never collide).
--   * typed columns hold what the host will query (text, senders, times);
--   * source holds the rest of the record verbatim (always a JSON object), so
--     a field nobody models yet is still there tomorrow.

-- +goose Up

CREATE TABLE personality_memories (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id     bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    source_system      text        NOT NULL,
    source_id          text,
    content            text        NOT NULL,
    summary_type       text        NOT NULL DEFAULT '',
    -- shapes.inc user ids (UUIDs) of the people in the conversation.
    senders            text[]      NOT NULL DEFAULT '{}',
    -- Empty strings in the source (DMs) are stored as NULL.
    discord_channel_id text,
    discord_guild_id   text,
    message_ids        text[]      NOT NULL DEFAULT '{}',
    started_at         timestamptz,
    ended_at           timestamptz,
    -- When the source system wrote the summary (not when we imported it).
    remembered_at      timestamptz,
    source             jsonb       NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_memories_source_key UNIQUE (personality_id, source_system, source_id),
    CONSTRAINT personality_memories_source_system_format CHECK (source_system ~ '^[a-z0-9][a-z0-9._-]*$'),
    CONSTRAINT personality_memories_source_object CHECK (jsonb_typeof(source) = 'object')
);
CREATE INDEX personality_memories_personality_time_idx ON personality_memories (personality_id, remembered_at);
CREATE TRIGGER personality_memories_touch BEFORE UPDATE ON personality_memories
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- Stories ("knowledge"): lore the character knows, by kind.
CREATE TABLE personality_stories (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    source_system  text        NOT NULL,
    source_id      text,
    story_type     text        NOT NULL DEFAULT 'general',
    title          text        NOT NULL DEFAULT '',
    content        text        NOT NULL,
    source         jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_stories_source_key UNIQUE (personality_id, source_system, source_id),
    CONSTRAINT personality_stories_source_system_format CHECK (source_system ~ '^[a-z0-9][a-z0-9._-]*$'),
    CONSTRAINT personality_stories_source_object CHECK (jsonb_typeof(source) = 'object')
);
CREATE TRIGGER personality_stories_touch BEFORE UPDATE ON personality_stories
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- What one user told a character about themselves (the per-user backstory).
CREATE TABLE personality_user_personalizations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    -- The host user it belongs to, when known (an import's --owner).
    user_id        bigint      REFERENCES users (id) ON DELETE CASCADE,
    source_system  text        NOT NULL,
    source_id      text,
    preferred_name text        NOT NULL DEFAULT '',
    pronouns       text        NOT NULL DEFAULT '',
    backstory      text        NOT NULL DEFAULT '',
    source         jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_user_personalizations_source_key UNIQUE (personality_id, source_system, source_id),
    CONSTRAINT personality_user_personalizations_source_system_format CHECK (source_system ~ '^[a-z0-9][a-z0-9._-]*$'),
    CONSTRAINT personality_user_personalizations_source_object CHECK (jsonb_typeof(source) = 'object')
);
CREATE INDEX personality_user_personalizations_user_idx ON personality_user_personalizations (user_id);
CREATE TRIGGER personality_user_personalizations_touch BEFORE UPDATE ON personality_user_personalizations
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- Training examples: kept whole (their shape varies), one row per example.
CREATE TABLE personality_training_examples (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    source_system  text        NOT NULL,
    source_id      text,
    source         jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_training_examples_source_key UNIQUE (personality_id, source_system, source_id),
    CONSTRAINT personality_training_examples_source_system_format CHECK (source_system ~ '^[a-z0-9][a-z0-9._-]*$')
);
CREATE TRIGGER personality_training_examples_touch BEFORE UPDATE ON personality_training_examples
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- A character's past conversations as the source system recorded them: one
-- row per exchange (the user's message and the character's reply).
CREATE TABLE personality_chat_messages (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    source_system  text        NOT NULL,
    source_id      text,
    sent_at        timestamptz,
    message        text,
    reply          text,
    source         jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_chat_messages_source_key UNIQUE (personality_id, source_system, source_id),
    CONSTRAINT personality_chat_messages_source_system_format CHECK (source_system ~ '^[a-z0-9][a-z0-9._-]*$'),
    CONSTRAINT personality_chat_messages_source_object CHECK (jsonb_typeof(source) = 'object')
);
CREATE INDEX personality_chat_messages_personality_time_idx ON personality_chat_messages (personality_id, sent_at);

-- +goose Down
DROP TABLE personality_chat_messages;
DROP TABLE personality_training_examples;
DROP TABLE personality_user_personalizations;
DROP TABLE personality_stories;
DROP TABLE personality_memories;
