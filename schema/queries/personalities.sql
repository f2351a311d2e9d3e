-- name: PersonalityByID :one
-- One round trip for everything a reply needs about a personality: the row,
-- its aliases, the LLM config (the asking user's override wins over the
-- default) and the voice config.
SELECT sqlc.embed(p),
       COALESCE((SELECT array_agg(a.alias ORDER BY a.alias) FROM personality_aliases a WHERE a.personality_id = p.id), '{}')::text[] AS aliases,
       -- A personality without an LLM config yields llm_config_id 0.
       COALESCE(c.id, 0)::bigint AS llm_config_id, c.user_id AS llm_user_id,
       COALESCE(c.provider, '')::text AS llm_provider, COALESCE(c.model, '')::text AS llm_model,
       COALESCE(c.advanced_parameters, '{}')::jsonb AS llm_advanced_parameters,
       COALESCE(c.max_referenced_messages, 10)::integer AS llm_max_referenced_messages,
       COALESCE(c.context_window_tokens, 131072)::integer AS llm_context_window_tokens,
       v.provider AS voice_provider, v.voice_id AS voice_voice_id, v.model AS voice_model,
       v.stability AS voice_stability, v.similarity AS voice_similarity, v.style AS voice_style, v.frequency AS voice_frequency,
       v.transcription_enabled AS voice_transcription_enabled,
       v.speaker_boost AS voice_speaker_boost, v.settings AS voice_settings
FROM personalities p
LEFT JOIN LATERAL (
    SELECT lc.id, lc.user_id, lc.provider, lc.model, lc.advanced_parameters, lc.max_referenced_messages, lc.context_window_tokens
    FROM llm_configs lc
    WHERE lc.personality_id = p.id AND (lc.user_id IS NULL OR lc.user_id = sqlc.narg('user_id')::bigint)
    ORDER BY lc.user_id NULLS LAST
    LIMIT 1
) c ON true
LEFT JOIN voice_configs v ON v.personality_id = p.id
WHERE p.id = @id;

-- name: PersonalityBySlug :one
SELECT sqlc.embed(p),
       COALESCE((SELECT array_agg(a.alias ORDER BY a.alias) FROM personality_aliases a WHERE a.personality_id = p.id), '{}')::text[] AS aliases,
       -- A personality without an LLM config yields llm_config_id 0.
       COALESCE(c.id, 0)::bigint AS llm_config_id, c.user_id AS llm_user_id,
       COALESCE(c.provider, '')::text AS llm_provider, COALESCE(c.model, '')::text AS llm_model,
       COALESCE(c.advanced_parameters, '{}')::jsonb AS llm_advanced_parameters,
       COALESCE(c.max_referenced_messages, 10)::integer AS llm_max_referenced_messages,
       COALESCE(c.context_window_tokens, 131072)::integer AS llm_context_window_tokens,
       v.provider AS voice_provider, v.voice_id AS voice_voice_id, v.model AS voice_model,
       v.stability AS voice_stability, v.similarity AS voice_similarity, v.style AS voice_style, v.frequency AS voice_frequency,
       v.transcription_enabled AS voice_transcription_enabled,
       v.speaker_boost AS voice_speaker_boost, v.settings AS voice_settings
FROM personalities p
LEFT JOIN LATERAL (
    SELECT lc.id, lc.user_id, lc.provider, lc.model, lc.advanced_parameters, lc.max_referenced_messages, lc.context_window_tokens
    FROM llm_configs lc
    WHERE lc.personality_id = p.id AND (lc.user_id IS NULL OR lc.user_id = sqlc.narg('user_id')::bigint)
    ORDER BY lc.user_id NULLS LAST
    LIMIT 1
) c ON true
LEFT JOIN voice_configs v ON v.personality_id = p.id
WHERE p.slug = @slug;

-- name: ListPersonalities :many
-- Personalities a user may talk to: public ones and their own.
SELECT id, slug, name, display_name, avatar_url, is_public, owner_user_id
FROM personalities
WHERE is_public OR owner_user_id = sqlc.narg('user_id')::bigint
ORDER BY slug;

-- name: CreatePersonality :one
INSERT INTO personalities (
    slug, name, display_name, owner_user_id, avatar_url, system_prompt,
    character_info, traits, tone, age, appearance, likes, dislikes,
    conversational_goals, conversational_examples, error_message,
    birth_month, birth_day, birth_year, voice_enabled, is_public, custom_fields, shapes_id
) VALUES (
    @slug, @name, @display_name, @owner_user_id, @avatar_url, @system_prompt,
    @character_info, @traits, @tone, @age, @appearance, @likes, @dislikes,
    @conversational_goals, @conversational_examples, @error_message,
    @birth_month, @birth_day, @birth_year, @voice_enabled, @is_public, @custom_fields, @shapes_id
)
RETURNING id;

-- name: UpsertPersonalityByShapesID :one
-- Imports are idempotent on shapes_id: a re-import refreshes the character
-- but keeps the slug, owner and visibility the operator may have changed.
INSERT INTO personalities (
    slug, name, display_name, owner_user_id, avatar_url, system_prompt,
    character_info, traits, tone, age, appearance, likes, dislikes,
    conversational_goals, conversational_examples, error_message,
    birth_month, birth_day, birth_year, voice_enabled, is_public, custom_fields, shapes_id
) VALUES (
    @slug, @name, @display_name, @owner_user_id, @avatar_url, @system_prompt,
    @character_info, @traits, @tone, @age, @appearance, @likes, @dislikes,
    @conversational_goals, @conversational_examples, @error_message,
    @birth_month, @birth_day, @birth_year, @voice_enabled, @is_public, @custom_fields, @shapes_id::text
)
ON CONFLICT (shapes_id) DO UPDATE SET
    name = excluded.name,
    display_name = excluded.display_name,
    avatar_url = excluded.avatar_url,
    system_prompt = excluded.system_prompt,
    character_info = excluded.character_info,
    traits = excluded.traits,
    tone = excluded.tone,
    age = excluded.age,
    appearance = excluded.appearance,
    likes = excluded.likes,
    dislikes = excluded.dislikes,
    conversational_goals = excluded.conversational_goals,
    conversational_examples = excluded.conversational_examples,
    error_message = excluded.error_message,
    birth_month = excluded.birth_month,
    birth_day = excluded.birth_day,
    birth_year = excluded.birth_year,
    custom_fields = personalities.custom_fields || excluded.custom_fields
RETURNING id, (xmax = 0) AS inserted;

-- name: DeletePersonality :execrows
DELETE FROM personalities WHERE id = @id;

-- name: ListAliases :many
SELECT a.alias, a.personality_id, p.slug
FROM personality_aliases a
JOIN personalities p ON p.id = a.personality_id
ORDER BY lower(a.alias);

-- name: AddAlias :one
INSERT INTO personality_aliases (personality_id, alias) VALUES (@personality_id, @alias)
RETURNING id;

-- name: AliasHolder :one
SELECT a.alias, p.id, p.slug, p.name
FROM personality_aliases a
JOIN personalities p ON p.id = a.personality_id
WHERE lower(a.alias) = lower(@alias);

-- name: RemoveAlias :execrows
DELETE FROM personality_aliases WHERE personality_id = @personality_id AND lower(alias) = lower(@alias);

-- name: UpsertDefaultLLMConfig :exec
INSERT INTO llm_configs (personality_id, user_id, provider, model, advanced_parameters, max_referenced_messages, context_window_tokens)
VALUES (@personality_id, NULL, @provider, @model, @advanced_parameters, @max_referenced_messages, @context_window_tokens)
ON CONFLICT (personality_id) WHERE user_id IS NULL DO UPDATE SET
    provider = excluded.provider,
    model = excluded.model,
    advanced_parameters = excluded.advanced_parameters,
    max_referenced_messages = excluded.max_referenced_messages,
    context_window_tokens = excluded.context_window_tokens;

-- name: UpsertUserLLMConfig :exec
INSERT INTO llm_configs (personality_id, user_id, provider, model, advanced_parameters, max_referenced_messages, context_window_tokens)
VALUES (@personality_id, @user_id::bigint, @provider, @model, @advanced_parameters, @max_referenced_messages, @context_window_tokens)
ON CONFLICT (personality_id, user_id) DO UPDATE SET
    provider = excluded.provider,
    model = excluded.model,
    advanced_parameters = excluded.advanced_parameters,
    max_referenced_messages = excluded.max_referenced_messages,
    context_window_tokens = excluded.context_window_tokens;

-- name: DeleteUserLLMConfig :execrows
DELETE FROM llm_configs WHERE personality_id = @personality_id AND user_id = @user_id::bigint;

-- name: UpsertVoiceConfig :exec
INSERT INTO voice_configs (personality_id, provider, voice_id, model, stability, similarity, style, frequency, transcription_enabled, speaker_boost, settings)
VALUES (@personality_id, @provider, @voice_id, @model, @stability, @similarity, @style, @frequency, @transcription_enabled, @speaker_boost, @settings)
ON CONFLICT (personality_id) DO UPDATE SET
    provider = excluded.provider,
    voice_id = excluded.voice_id,
    model = excluded.model,
    stability = excluded.stability,
    similarity = excluded.similarity,
    style = excluded.style,
    frequency = excluded.frequency,
    transcription_enabled = excluded.transcription_enabled,
    speaker_boost = excluded.speaker_boost,
    settings = excluded.settings;

-- name: AddVoiceSample :one
INSERT INTO voice_samples (personality_id, data, mime_type, duration_ms)
VALUES (@personality_id, @data, @mime_type, @duration_ms)
RETURNING id;

-- name: ListVoiceSamples :many
SELECT id, mime_type, duration_ms, octet_length(data)::integer AS size, created_at
FROM voice_samples WHERE personality_id = @personality_id ORDER BY id;

-- name: VoiceSampleData :one
SELECT data, mime_type FROM voice_samples WHERE id = @id AND personality_id = @personality_id;

-- name: DeleteVoiceSample :execrows
DELETE FROM voice_samples WHERE id = @id AND personality_id = @personality_id;
