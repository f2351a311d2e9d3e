-- name: InsertUsage :execrows
-- Idempotent on request_id: a retried job records its usage once.
INSERT INTO usage_logs (request_id, user_id, personality_id, provider, model, kind,
                        input_tokens, output_tokens, reasoning_tokens, characters, images, audio_ms, latency_ms, delivery)
VALUES (@request_id, @user_id, @personality_id, @provider, @model, @kind,
        @input_tokens, @output_tokens, @reasoning_tokens, @characters, @images, @audio_ms, @latency_ms, @delivery)
ON CONFLICT (request_id) DO NOTHING;

-- name: UsageByUser :many
SELECT provider, model, kind,
       count(*)::bigint AS requests,
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(characters), 0)::bigint AS characters,
       COALESCE(sum(images), 0)::bigint AS images
FROM usage_logs
WHERE user_id = @user_id AND created_at >= @since
GROUP BY provider, model, kind
ORDER BY provider, model, kind;

-- name: UsageGlobal :many
SELECT provider, model, kind,
       count(*)::bigint AS requests,
       count(DISTINCT user_id)::bigint AS users,
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(characters), 0)::bigint AS characters,
       COALESCE(sum(images), 0)::bigint AS images
FROM usage_logs
WHERE created_at >= @since
GROUP BY provider, model, kind
ORDER BY provider, model, kind;

-- name: TakeRateLimit :one
-- Fixed window shared by every process. The counter row is (scope, key); a
-- request is admitted only if the window's use plus cost stays within the
-- limit, and the check and the increment are one statement, so concurrent
-- callers can never overshoot. A new window resets the count.
-- The time comes from the caller (the pipeline's clock), not from now(), so
-- tests control which window a request falls in; a caller whose clock is
-- behind the stored window adds to that window instead of moving it back.
WITH up AS (
    INSERT INTO rate_limit_counters AS r (scope, key, window_start, used)
    SELECT sqlc.arg(scope), sqlc.arg(key), date_bin(sqlc.arg(window_size)::interval, sqlc.arg(now)::timestamptz, timestamptz '2000-01-01 00:00:00+00'), sqlc.arg(cost)::bigint
    WHERE sqlc.arg(cost)::bigint <= sqlc.arg(max_per_window)::bigint
    ON CONFLICT (scope, key) DO UPDATE SET
        window_start = GREATEST(r.window_start, excluded.window_start),
        used = CASE WHEN r.window_start < excluded.window_start THEN excluded.used ELSE r.used + excluded.used END
    WHERE r.window_start < excluded.window_start OR r.used + excluded.used <= sqlc.arg(max_per_window)::bigint
    RETURNING r.used
)
SELECT EXISTS (SELECT 1 FROM up) AS allowed,
       date_part('epoch', date_bin(sqlc.arg(window_size)::interval, sqlc.arg(now)::timestamptz, timestamptz '2000-01-01 00:00:00+00') + sqlc.arg(window_size)::interval - sqlc.arg(now)::timestamptz)::float8 AS retry_after_seconds;

-- name: ChargeRateLimit :exec
-- Adds cost after the fact (e.g. tokens known only when a reply is done),
-- without refusing: the next TakeRateLimit sees it. The time is the caller's.
INSERT INTO rate_limit_counters AS r (scope, key, window_start, used)
VALUES (@scope, @key, date_bin(@window_size::interval, @now::timestamptz, timestamptz '2000-01-01 00:00:00+00'), @cost::bigint)
ON CONFLICT (scope, key) DO UPDATE SET
    window_start = GREATEST(r.window_start, excluded.window_start),
    used = CASE WHEN r.window_start < excluded.window_start THEN excluded.used ELSE r.used + excluded.used END;

-- name: PruneRateLimits :execrows
DELETE FROM rate_limit_counters WHERE window_start < @before;

-- name: SaveReasoning :exec
INSERT INTO reply_reasoning (request_id, user_id, personality_id, message_id, reasoning)
VALUES (@request_id, @user_id, @personality_id, @message_id, @reasoning)
ON CONFLICT (request_id) DO UPDATE SET
    message_id = COALESCE(excluded.message_id, reply_reasoning.message_id),
    reasoning = excluded.reasoning;

-- name: ReasoningForMessage :one
-- Only the user who asked may read it.
SELECT r.request_id, r.reasoning, r.personality_id, r.created_at
FROM reply_reasoning r
JOIN users u ON u.id = r.user_id
WHERE r.message_id = @message_id AND u.discord_id = @discord_id;

-- name: ReasoningForRequest :one
SELECT r.request_id, r.reasoning, r.personality_id, r.created_at
FROM reply_reasoning r
JOIN users u ON u.id = r.user_id
WHERE r.request_id = @request_id AND u.discord_id = @discord_id;

-- name: ReasoningForReplyMessage :one
-- The reasoning behind any part of a reply (the first part is in
-- reply_reasoning, every part in webhook_messages), with the Discord id of
-- the user who asked: the caller decides who may read it.
SELECT r.request_id, r.reasoning, r.personality_id, r.created_at, u.discord_id
FROM reply_reasoning r
JOIN users u ON u.id = r.user_id
WHERE r.request_id = COALESCE(
    (SELECT w.request_id FROM webhook_messages w WHERE w.message_id = @message_id::text),
    (SELECT r2.request_id FROM reply_reasoning r2 WHERE r2.message_id = @message_id::text));
