-- name: RecordWebhookMessage :exec
INSERT INTO webhook_messages (message_id, personality_id, channel_id, user_id)
VALUES (@message_id, @personality_id, @channel_id, @user_id)
ON CONFLICT (message_id) DO NOTHING;

-- name: PersonalityForMessage :one
SELECT personality_id FROM webhook_messages WHERE message_id = @message_id;

-- name: ChannelWebhook :one
SELECT channel_id, webhook_id, token_nonce, token_ciphertext, token_key_version
FROM channel_webhooks WHERE channel_id = @channel_id;

-- name: PutChannelWebhook :exec
INSERT INTO channel_webhooks (channel_id, webhook_id, token_nonce, token_ciphertext, token_key_version)
VALUES (@channel_id, @webhook_id, @token_nonce, @token_ciphertext, @token_key_version)
ON CONFLICT (channel_id) DO UPDATE SET
    webhook_id = excluded.webhook_id,
    token_nonce = excluded.token_nonce,
    token_ciphertext = excluded.token_ciphertext,
    token_key_version = excluded.token_key_version;

-- name: DeleteChannelWebhook :execrows
DELETE FROM channel_webhooks WHERE channel_id = @channel_id;

-- name: ChannelActivation :one
SELECT personality_id FROM channel_activations WHERE channel_id = @channel_id;

-- name: SetChannelActivation :exec
INSERT INTO channel_activations (channel_id, personality_id, activated_by)
VALUES (@channel_id, @personality_id, @activated_by)
ON CONFLICT (channel_id) DO UPDATE SET
    personality_id = excluded.personality_id,
    activated_by = excluded.activated_by,
    created_at = now();

-- name: DeleteChannelActivation :execrows
DELETE FROM channel_activations WHERE channel_id = @channel_id;

-- name: DMSession :one
SELECT personality_id FROM dm_sessions WHERE user_id = @user_id;

-- name: SetDMSession :exec
INSERT INTO dm_sessions (user_id, personality_id) VALUES (@user_id, @personality_id)
ON CONFLICT (user_id) DO UPDATE SET personality_id = excluded.personality_id, updated_at = now();
