-- 00016_personality_stream_replies: whether a personality's replies are
-- streamed into Discord as live webhook edits (issue 17).
--
-- NULL means "the deployment's default" (TZUROT_STREAM_REPLIES); true or
-- false is the owner's choice for this personality (/personality stream).
-- A three-state column, like user_preferences.voice_enabled: the default can
-- change for every personality that never chose, without touching rows.

-- +goose Up
ALTER TABLE personalities ADD COLUMN stream_replies boolean;

-- +goose Down
ALTER TABLE personalities DROP COLUMN stream_replies;
