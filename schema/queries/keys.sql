-- name: UpsertAPIKey :exec
INSERT INTO user_api_keys (user_id, provider, nonce, ciphertext, key_version, hint)
VALUES (@user_id, @provider, @nonce, @ciphertext, @key_version, @hint)
ON CONFLICT (user_id, provider) DO UPDATE SET
    nonce = excluded.nonce,
    ciphertext = excluded.ciphertext,
    key_version = excluded.key_version,
    hint = excluded.hint,
    validated_at = NULL,
    last_used_at = NULL,
    updated_at = now();

-- name: APIKeyForUse :one
-- Reads the sealed key and stamps last_used_at (at most once a minute, so a
-- busy user does not turn every reply into a row rewrite).
WITH k AS (
    SELECT uk.id, uk.user_id, uk.nonce, uk.ciphertext, uk.key_version, uk.last_used_at
    FROM user_api_keys uk
    JOIN users u ON u.id = uk.user_id
    WHERE u.discord_id = @discord_id AND uk.provider = @provider
), touched AS (
    UPDATE user_api_keys SET last_used_at = now()
    WHERE user_api_keys.id IN (SELECT k.id FROM k WHERE k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
    RETURNING user_api_keys.id
)
SELECT k.user_id, k.nonce, k.ciphertext, k.key_version FROM k;

-- name: ListAPIKeys :many
SELECT uk.provider, uk.hint, uk.key_version, uk.validated_at, uk.last_used_at, uk.created_at, uk.updated_at
FROM user_api_keys uk
JOIN users u ON u.id = uk.user_id
WHERE u.discord_id = @discord_id
ORDER BY uk.provider;

-- name: DeleteAPIKey :execrows
DELETE FROM user_api_keys uk USING users u
WHERE u.id = uk.user_id AND u.discord_id = @discord_id AND uk.provider = @provider;

-- name: MarkAPIKeyValidated :execrows
UPDATE user_api_keys uk SET validated_at = now()
FROM users u
WHERE u.id = uk.user_id AND u.discord_id = @discord_id AND uk.provider = @provider;

-- name: StaleAPIKeysForUpdate :many
-- A rotation batch: rows not yet sealed with the current key, locked so two
-- rotations (or a user re-setting a key) never clash; SKIP LOCKED lets
-- concurrent rotations share the work.
SELECT id, user_id, provider, nonce, ciphertext, key_version
FROM user_api_keys
WHERE key_version <> @current_version AND NOT (id = ANY(@skip_ids::bigint[]))
ORDER BY id
LIMIT @batch_size
FOR UPDATE SKIP LOCKED;

-- name: ResealAPIKey :exec
UPDATE user_api_keys SET nonce = @nonce, ciphertext = @ciphertext, key_version = @key_version
WHERE id = @id;

-- name: CountAPIKeysByVersion :many
SELECT key_version, count(*) AS n FROM user_api_keys GROUP BY key_version;

-- name: StaleWebhookTokensForUpdate :many
SELECT channel_id, token_nonce, token_ciphertext, token_key_version
FROM channel_webhooks
WHERE token_key_version <> @current_version AND NOT (channel_id = ANY(@skip_ids::text[]))
ORDER BY channel_id
LIMIT @batch_size
FOR UPDATE SKIP LOCKED;

-- name: ResealWebhookToken :exec
UPDATE channel_webhooks SET token_nonce = @token_nonce, token_ciphertext = @token_ciphertext, token_key_version = @token_key_version
WHERE channel_id = @channel_id;

-- name: CountWebhookTokensByVersion :many
SELECT token_key_version AS key_version, count(*) AS n FROM channel_webhooks GROUP BY token_key_version;
