-- name: UpsertUser :one
-- First contact creates the user; later calls only read. DO NOTHING (rather
-- than a no-op DO UPDATE) keeps the per-message path free of writes.
WITH ins AS (
    INSERT INTO users (discord_id) VALUES (@discord_id)
    ON CONFLICT (discord_id) DO NOTHING
    RETURNING id, discord_id, timezone, created_at
), u AS (
    SELECT ins.id, ins.discord_id, ins.timezone, ins.created_at FROM ins
    UNION ALL
    SELECT users.id, users.discord_id, users.timezone, users.created_at FROM users WHERE users.discord_id = @discord_id
)
SELECT u.id, u.discord_id, u.timezone, u.created_at,
       p.voice_enabled AS pref_voice_enabled, p.show_reasoning AS pref_show_reasoning
FROM u
LEFT JOIN user_preferences p ON p.user_id = u.id
LIMIT 1;

-- name: SetUserTimezone :one
INSERT INTO users (discord_id, timezone) VALUES (@discord_id, @timezone)
ON CONFLICT (discord_id) DO UPDATE SET timezone = excluded.timezone
RETURNING id;

-- name: SetVoicePreference :exec
INSERT INTO user_preferences (user_id, voice_enabled) VALUES (@user_id, @voice_enabled)
ON CONFLICT (user_id) DO UPDATE SET voice_enabled = excluded.voice_enabled;

-- name: SetShowReasoningPreference :exec
INSERT INTO user_preferences (user_id, show_reasoning) VALUES (@user_id, @show_reasoning)
ON CONFLICT (user_id) DO UPDATE SET show_reasoning = excluded.show_reasoning;

-- name: DeleteUser :execrows
-- Real deletion: keys, preferences, overrides, usage, reasoning and DM
-- sessions go with the user (ON DELETE CASCADE); mappings keep no link.
DELETE FROM users WHERE discord_id = @discord_id;
