-- 00015_cache_notify: tell every host process when something it may cache
-- changed (issue 16). Each process keeps users, personalities (with their
-- aliases, LLM, voice and image configs and tool grants) and users' sealed
-- API keys in memory, and LISTENs on the channel tzurot_cache; these
-- triggers NOTIFY it after every change, whoever made it (a slash command,
-- `tzurot import`, a psql session, a key rotation).
--
-- The payload is ids only, never a value: "u:<users.id>" (the user row or
-- their preferences), "p:<personalities.id>" (anything read with a
-- personality), "k:<users.id>" (that user's API keys). A notification is
-- delivered when the transaction commits, and identical ones in one
-- transaction are sent once.
--
-- Not notified, on purpose: a user's first INSERT (no process can hold a row
-- that did not exist), and updates of user_api_keys that leave the sealed
-- key alone (last_used_at, validated_at), which would otherwise drop the
-- key from every cache once a minute.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION tzurot_notify_cache() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind   text := TG_ARGV[0];
    col    text := TG_ARGV[1];
    old_id text;
    new_id text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_id := to_jsonb(OLD) ->> col;
        PERFORM pg_notify('tzurot_cache', kind || ':' || old_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_id := to_jsonb(NEW) ->> col;
        IF old_id IS DISTINCT FROM new_id THEN
            PERFORM pg_notify('tzurot_cache', kind || ':' || new_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_notify_cache AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('u', 'id');
CREATE TRIGGER user_preferences_notify_cache AFTER INSERT OR UPDATE OR DELETE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('u', 'user_id');

CREATE TRIGGER personalities_notify_cache AFTER UPDATE OR DELETE ON personalities
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'id');
CREATE TRIGGER personality_aliases_notify_cache AFTER INSERT OR UPDATE OR DELETE ON personality_aliases
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'personality_id');
CREATE TRIGGER llm_configs_notify_cache AFTER INSERT OR UPDATE OR DELETE ON llm_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'personality_id');
CREATE TRIGGER voice_configs_notify_cache AFTER INSERT OR UPDATE OR DELETE ON voice_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'personality_id');
CREATE TRIGGER image_configs_notify_cache AFTER INSERT OR UPDATE OR DELETE ON image_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'personality_id');
CREATE TRIGGER personality_tools_notify_cache AFTER INSERT OR UPDATE OR DELETE ON personality_tools
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('p', 'personality_id');

CREATE TRIGGER user_api_keys_notify_cache_write AFTER INSERT OR DELETE ON user_api_keys
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('k', 'user_id');
CREATE TRIGGER user_api_keys_notify_cache_update
    AFTER UPDATE OF user_id, provider, nonce, ciphertext, key_version ON user_api_keys
    FOR EACH ROW EXECUTE FUNCTION tzurot_notify_cache('k', 'user_id');

-- +goose Down
DROP TRIGGER user_api_keys_notify_cache_update ON user_api_keys;
DROP TRIGGER user_api_keys_notify_cache_write ON user_api_keys;
DROP TRIGGER personality_tools_notify_cache ON personality_tools;
DROP TRIGGER image_configs_notify_cache ON image_configs;
DROP TRIGGER voice_configs_notify_cache ON voice_configs;
DROP TRIGGER llm_configs_notify_cache ON llm_configs;
DROP TRIGGER personality_aliases_notify_cache ON personality_aliases;
DROP TRIGGER personalities_notify_cache ON personalities;
DROP TRIGGER user_preferences_notify_cache ON user_preferences;
DROP TRIGGER users_notify_cache ON users;
DROP FUNCTION tzurot_notify_cache();
