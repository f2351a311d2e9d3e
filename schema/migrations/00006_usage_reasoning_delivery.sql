-- 00006_usage_reasoning_delivery: two facts a usage row lacked.
--
-- reasoning_tokens: how many of output_tokens were the model's reasoning.
-- The plugin ABI counts reasoning INSIDE output (as OpenAI's
-- completion_tokens and OpenRouter's do); reasoning is reported separately
-- as a subset, so it is never added to anything. Rows written before this
-- migration have 0 here (their output_tokens may include reasoning counted a
-- second time by the old pipeline; that cannot be told apart afterwards).
--
-- delivery: what became of the reply the row paid for. 'posted' (every part
-- is in Discord), 'partial' (some parts are), 'lost' (none: Discord kept
-- failing or refused), 'none' (nothing to post: an empty answer). Rows
-- written before this migration say 'posted'.

-- +goose Up
ALTER TABLE usage_logs
    ADD COLUMN reasoning_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery text NOT NULL DEFAULT 'posted';
ALTER TABLE usage_logs
    ADD CONSTRAINT usage_logs_reasoning_within_output CHECK (reasoning_tokens >= 0 AND reasoning_tokens <= output_tokens),
    ADD CONSTRAINT usage_logs_delivery_check CHECK (delivery IN ('posted', 'partial', 'lost', 'none'));

-- +goose Down
ALTER TABLE usage_logs
    DROP CONSTRAINT usage_logs_delivery_check,
    DROP CONSTRAINT usage_logs_reasoning_within_output,
    DROP COLUMN delivery,
    DROP COLUMN reasoning_tokens;
