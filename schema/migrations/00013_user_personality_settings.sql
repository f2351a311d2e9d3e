-- 00013_user_personality_settings: a user's own settings for one
-- personality (issue 14, "users own what is remembered about them").
--
-- So far one column: memory_formation_enabled, the user's switch for whether
-- this personality forms new memories about them (/memory formation on|off
-- personality). NULL, or no row, follows the user's global switch
-- (user_preferences.memory_formation_enabled, /memory formation without a
-- personality), which in turn follows the personality's own
-- (personalities.memory_formation_enabled). store.MemoryFormationAllowed is
-- the rule in one place: the most specific setting that is not NULL wins,
-- except that the personality's owner switching formation off wins over
-- every user's "on".
--
-- Rows go with the user and with the personality (ON DELETE CASCADE);
-- /privacy delete-my-data deletes them through the users row.

-- +goose Up
CREATE TABLE user_personality_settings (
    user_id                  bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    personality_id           bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    memory_formation_enabled boolean,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, personality_id)
);
CREATE INDEX user_personality_settings_personality_idx ON user_personality_settings (personality_id);
CREATE TRIGGER user_personality_settings_touch BEFORE UPDATE ON user_personality_settings
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

-- +goose Down
DROP TABLE user_personality_settings;
