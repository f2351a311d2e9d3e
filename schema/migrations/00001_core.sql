-- 00001_core: every table the host needs, with its rules kept in the database
-- itself (foreign keys, CHECKs, unique indexes, one trigger) so that no code
-- path, importer or psql session can store what the application would refuse.
--
-- Ids are bigint identities: compact, fast to join and to index, and never
-- exposed to Discord users. Discord snowflakes are text (they exceed what
-- JavaScript-era tools handle as numbers and are compared, not computed on).

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION tzurot_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    discord_id  text        NOT NULL,
    -- IANA zone name; validated with time.LoadLocation by the store because
    -- PostgreSQL's own zone list may differ from the one the host formats with.
    timezone    text        NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_discord_id_key UNIQUE (discord_id),
    CONSTRAINT users_discord_id_snowflake CHECK (discord_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT users_timezone_not_blank CHECK (length(timezone) BETWEEN 1 AND 64)
);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE user_preferences (
    user_id        bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- NULL means "follow the personality's setting".
    voice_enabled  boolean,
    -- NULL means "the default" (hidden; the user can ask for it per message).
    show_reasoning boolean,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER user_preferences_touch BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE personalities (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                    text        NOT NULL,
    name                    text        NOT NULL,
    display_name            text        NOT NULL DEFAULT '',
    owner_user_id           bigint      REFERENCES users (id) ON DELETE SET NULL,
    avatar_url              text        NOT NULL DEFAULT '',
    system_prompt           text        NOT NULL DEFAULT '',
    character_info          text        NOT NULL DEFAULT '',
    traits                  text        NOT NULL DEFAULT '',
    tone                    text        NOT NULL DEFAULT '',
    age                     text        NOT NULL DEFAULT '',
    appearance              text        NOT NULL DEFAULT '',
    likes                   text        NOT NULL DEFAULT '',
    dislikes                text        NOT NULL DEFAULT '',
    conversational_goals    text        NOT NULL DEFAULT '',
    conversational_examples text        NOT NULL DEFAULT '',
    -- NULL means "use the host's generic error message".
    error_message           text,
    -- Birthdays are three nullable ints because the year is often unknown.
    birth_month             smallint,
    birth_day               smallint,
    birth_year              smallint,
    voice_enabled           boolean     NOT NULL DEFAULT false,
    is_public               boolean     NOT NULL DEFAULT false,
    -- Everything an import brings that has no column yet; always an object.
    custom_fields           jsonb       NOT NULL DEFAULT '{}',
    -- shapes.inc id of an imported personality: makes re-imports idempotent.
    shapes_id               text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personalities_slug_key UNIQUE (slug),
    CONSTRAINT personalities_shapes_id_key UNIQUE (shapes_id),
    CONSTRAINT personalities_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9._-]*$' AND length(slug) <= 100),
    CONSTRAINT personalities_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    CONSTRAINT personalities_birth_month_range CHECK (birth_month BETWEEN 1 AND 12),
    CONSTRAINT personalities_birth_day_range CHECK (birth_day BETWEEN 1 AND 31),
    CONSTRAINT personalities_birth_year_range CHECK (birth_year BETWEEN 1 AND 9999),
    CONSTRAINT personalities_birth_day_needs_month CHECK (birth_day IS NULL OR birth_month IS NOT NULL),
    CONSTRAINT personalities_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX personalities_owner_idx ON personalities (owner_user_id);
CREATE TRIGGER personalities_touch BEFORE UPDATE ON personalities
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE personality_aliases (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    alias          text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personality_aliases_alias_length CHECK (length(btrim(alias)) BETWEEN 1 AND 100)
);
-- One holder per alias, whatever its case: "Lilith" and "lilith" collide.
CREATE UNIQUE INDEX personality_aliases_lower_alias_key ON personality_aliases (lower(alias));
CREATE INDEX personality_aliases_personality_idx ON personality_aliases (personality_id);

CREATE TABLE llm_configs (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id          bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    -- NULL: the personality's default; set: that user's override.
    user_id                 bigint      REFERENCES users (id) ON DELETE CASCADE,
    provider                text        NOT NULL,
    model                   text        NOT NULL,
    -- Every provider-specific knob lives here (snake_case, OpenRouter-style);
    -- there are deliberately no per-provider columns.
    advanced_parameters     jsonb       NOT NULL DEFAULT '{}',
    max_referenced_messages integer     NOT NULL DEFAULT 10,
    context_window_tokens   integer     NOT NULL DEFAULT 131072,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT llm_configs_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$' AND length(provider) <= 40),
    CONSTRAINT llm_configs_model_length CHECK (length(model) BETWEEN 1 AND 200),
    CONSTRAINT llm_configs_advanced_parameters_object CHECK (jsonb_typeof(advanced_parameters) = 'object'),
    CONSTRAINT llm_configs_max_referenced_messages_positive CHECK (max_referenced_messages > 0 AND max_referenced_messages <= 100),
    CONSTRAINT llm_configs_context_window_positive CHECK (context_window_tokens > 0),
    CONSTRAINT llm_configs_personality_user_key UNIQUE (personality_id, user_id)
);
CREATE UNIQUE INDEX llm_configs_personality_default_key ON llm_configs (personality_id) WHERE user_id IS NULL;
CREATE INDEX llm_configs_user_idx ON llm_configs (user_id) WHERE user_id IS NOT NULL;
CREATE TRIGGER llm_configs_touch BEFORE UPDATE ON llm_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE user_api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text        NOT NULL,
    -- AES-256-GCM: 96-bit nonce, ciphertext with its 16-byte tag, and the id
    -- of the master key that sealed it (see host/internal/vault).
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    key_version  integer     NOT NULL,
    -- Masked for display ("sk-…a1b2"); never enough to use the key.
    hint         text        NOT NULL,
    validated_at timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_api_keys_user_provider_key UNIQUE (user_id, provider),
    CONSTRAINT user_api_keys_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$' AND length(provider) <= 40),
    CONSTRAINT user_api_keys_nonce_length CHECK (octet_length(nonce) = 12),
    CONSTRAINT user_api_keys_ciphertext_length CHECK (octet_length(ciphertext) > 16),
    CONSTRAINT user_api_keys_hint_length CHECK (length(hint) <= 32)
);
-- No updated_at trigger here: every use stamps last_used_at, and updated_at
-- should say when the key itself last changed (the store sets it).
CREATE INDEX user_api_keys_key_version_idx ON user_api_keys (key_version);

CREATE TABLE usage_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The pipeline's request id: a retried job writes the same row once.
    request_id     text        NOT NULL,
    user_id        bigint      REFERENCES users (id) ON DELETE CASCADE,
    personality_id bigint      REFERENCES personalities (id) ON DELETE SET NULL,
    provider       text        NOT NULL,
    model          text        NOT NULL DEFAULT '',
    kind           text        NOT NULL,
    input_tokens   integer     NOT NULL DEFAULT 0,
    output_tokens  integer     NOT NULL DEFAULT 0,
    characters     integer     NOT NULL DEFAULT 0,
    images         integer     NOT NULL DEFAULT 0,
    latency_ms     integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_logs_request_id_key UNIQUE (request_id),
    CONSTRAINT usage_logs_kind_check CHECK (kind IN ('text', 'voice', 'image')),
    CONSTRAINT usage_logs_counts_nonnegative CHECK (
        input_tokens >= 0 AND output_tokens >= 0 AND characters >= 0 AND images >= 0 AND latency_ms >= 0)
);
CREATE INDEX usage_logs_user_created_idx ON usage_logs (user_id, created_at);
CREATE INDEX usage_logs_created_idx ON usage_logs (created_at);
CREATE INDEX usage_logs_personality_idx ON usage_logs (personality_id);

CREATE TABLE voice_configs (
    personality_id bigint           PRIMARY KEY REFERENCES personalities (id) ON DELETE CASCADE,
    provider       text             NOT NULL DEFAULT 'elevenlabs',
    voice_id       text             NOT NULL DEFAULT '',
    model          text             NOT NULL DEFAULT 'eleven_flash_v2_5',
    stability      double precision NOT NULL DEFAULT 0.5,
    similarity     double precision NOT NULL DEFAULT 0.75,
    style          double precision NOT NULL DEFAULT 0,
    frequency      double precision NOT NULL DEFAULT 0,
    updated_at     timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT voice_configs_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$' AND length(provider) <= 40),
    CONSTRAINT voice_configs_stability_range CHECK (stability BETWEEN 0 AND 1),
    CONSTRAINT voice_configs_similarity_range CHECK (similarity BETWEEN 0 AND 1),
    CONSTRAINT voice_configs_style_range CHECK (style BETWEEN 0 AND 1),
    CONSTRAINT voice_configs_frequency_range CHECK (frequency BETWEEN 0 AND 1)
);
CREATE TRIGGER voice_configs_touch BEFORE UPDATE ON voice_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE voice_samples (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    data           bytea       NOT NULL,
    mime_type      text        NOT NULL,
    duration_ms    integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT voice_samples_size_limit CHECK (octet_length(data) BETWEEN 1 AND 10485760),
    CONSTRAINT voice_samples_mime_type_audio CHECK (mime_type ~ '^audio/[a-z0-9.+-]+$'),
    CONSTRAINT voice_samples_duration_positive CHECK (duration_ms > 0)
);
CREATE INDEX voice_samples_personality_idx ON voice_samples (personality_id);

-- At most 25 samples per personality (what voice cloning APIs accept). A
-- trigger, because a CHECK cannot see other rows; the personality row lock
-- serialises concurrent inserts so two uploads cannot both be the 25th.
-- +goose StatementBegin
CREATE FUNCTION voice_samples_enforce_limit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    existing integer;
BEGIN
    PERFORM 1 FROM personalities WHERE id = NEW.personality_id FOR NO KEY UPDATE;
    SELECT count(*) INTO existing FROM voice_samples WHERE personality_id = NEW.personality_id;
    IF existing >= 25 THEN
        RAISE EXCEPTION 'personality % already has % voice samples (the limit is 25)', NEW.personality_id, existing
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'voice_samples_max_per_personality',
                  HINT = 'delete a sample before adding another';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER voice_samples_limit BEFORE INSERT ON voice_samples
    FOR EACH ROW EXECUTE FUNCTION voice_samples_enforce_limit();

CREATE TABLE channel_webhooks (
    channel_id             text        PRIMARY KEY,
    webhook_id             text        NOT NULL,
    -- The webhook token is a credential: sealed by the vault like API keys,
    -- with the channel id as associated data.
    token_nonce            bytea       NOT NULL,
    token_ciphertext       bytea       NOT NULL,
    token_key_version      integer     NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channel_webhooks_channel_snowflake CHECK (channel_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT channel_webhooks_webhook_snowflake CHECK (webhook_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT channel_webhooks_nonce_length CHECK (octet_length(token_nonce) = 12),
    CONSTRAINT channel_webhooks_ciphertext_length CHECK (octet_length(token_ciphertext) > 16)
);
CREATE INDEX channel_webhooks_key_version_idx ON channel_webhooks (token_key_version);
CREATE TRIGGER channel_webhooks_touch BEFORE UPDATE ON channel_webhooks
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- Messages a personality posted through a webhook, so a Discord reply to one
-- of them triggers that personality.
CREATE TABLE webhook_messages (
    message_id     text        PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    channel_id     text        NOT NULL,
    user_id        bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_messages_message_snowflake CHECK (message_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT webhook_messages_channel_snowflake CHECK (channel_id ~ '^[0-9]{1,20}$')
);
CREATE INDEX webhook_messages_created_idx ON webhook_messages (created_at);
CREATE INDEX webhook_messages_personality_idx ON webhook_messages (personality_id);
CREATE INDEX webhook_messages_user_idx ON webhook_messages (user_id);

CREATE TABLE channel_activations (
    channel_id     text        PRIMARY KEY,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    activated_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channel_activations_channel_snowflake CHECK (channel_id ~ '^[0-9]{1,20}$')
);
CREATE INDEX channel_activations_personality_idx ON channel_activations (personality_id);
CREATE INDEX channel_activations_activated_by_idx ON channel_activations (activated_by);

CREATE TABLE dm_sessions (
    user_id        bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dm_sessions_personality_idx ON dm_sessions (personality_id);

-- Fixed-window counters shared by every process: one row per (scope, key)
-- holding the current window's start and what was used in it.
CREATE TABLE rate_limit_counters (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    used         bigint      NOT NULL,
    PRIMARY KEY (scope, key),
    CONSTRAINT rate_limit_counters_used_nonnegative CHECK (used >= 0)
);
CREATE INDEX rate_limit_counters_window_idx ON rate_limit_counters (window_start);

-- The reasoning ("thinking") a model produced for a reply: never shown inline,
-- readable later by the user who asked.
CREATE TABLE reply_reasoning (
    request_id     text        PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    personality_id bigint      REFERENCES personalities (id) ON DELETE SET NULL,
    -- First Discord message of the reply, for the "View Reasoning" menu.
    message_id     text,
    reasoning      text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reply_reasoning_message_snowflake CHECK (message_id ~ '^[0-9]{1,20}$')
);
CREATE UNIQUE INDEX reply_reasoning_message_key ON reply_reasoning (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX reply_reasoning_user_idx ON reply_reasoning (user_id, created_at);
CREATE INDEX reply_reasoning_personality_idx ON reply_reasoning (personality_id);

-- +goose Down
DROP TABLE reply_reasoning;
DROP TABLE rate_limit_counters;
DROP TABLE dm_sessions;
DROP TABLE channel_activations;
DROP TABLE webhook_messages;
DROP TABLE channel_webhooks;
DROP TABLE voice_samples;
DROP FUNCTION voice_samples_enforce_limit();
DROP TABLE voice_configs;
DROP TABLE usage_logs;
DROP TABLE user_api_keys;
DROP TABLE llm_configs;
DROP TABLE personality_aliases;
DROP TABLE personalities;
DROP TABLE user_preferences;
DROP TABLE users;
DROP FUNCTION tzurot_touch_updated_at();
