-- 00018_memory_notify: tell every host process when a personality gains or
-- loses memory content, or a user their persona (issue 16).
--
-- Most replies are for personalities with no memories, knowledge, examples
-- or imported personalizations, from users with no persona; each process
-- remembers that (memory.Presence) and skips the retrieval statement for
-- them, which was the most expensive statement of such a reply. These
-- triggers drop what it remembers, through the same channel as migration
-- 00015 (tzurot_cache): "m:<personalities.id>" when that personality's
-- memories, knowledge, training examples or imported personalizations
-- change, "n:<users.id>" when that user's personas change.
--
-- Statement-level, with transition tables: an import inserts 100,000
-- memories in one statement and sends one notification per personality,
-- not one per row. (PostgreSQL allows transition tables only on a trigger
-- for a single event, hence three triggers per table.)

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION tzurot_notify_memory() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
    col  text := TG_ARGV[1];
    id   bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        FOR id IN EXECUTE format('SELECT DISTINCT %I FROM new_rows WHERE %I IS NOT NULL', col, col) LOOP
            PERFORM pg_notify('tzurot_cache', kind || ':' || id);
        END LOOP;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        FOR id IN EXECUTE format('SELECT DISTINCT %I FROM old_rows WHERE %I IS NOT NULL', col, col) LOOP
            PERFORM pg_notify('tzurot_cache', kind || ':' || id);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER personality_memories_notify_ins AFTER INSERT ON personality_memories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_memories_notify_upd AFTER UPDATE ON personality_memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_memories_notify_del AFTER DELETE ON personality_memories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');

CREATE TRIGGER personality_stories_notify_ins AFTER INSERT ON personality_stories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_stories_notify_upd AFTER UPDATE ON personality_stories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_stories_notify_del AFTER DELETE ON personality_stories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');

CREATE TRIGGER personality_training_examples_notify_ins AFTER INSERT ON personality_training_examples
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_training_examples_notify_upd AFTER UPDATE ON personality_training_examples
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_training_examples_notify_del AFTER DELETE ON personality_training_examples
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');

CREATE TRIGGER personality_user_personalizations_notify_ins AFTER INSERT ON personality_user_personalizations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_user_personalizations_notify_upd AFTER UPDATE ON personality_user_personalizations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');
CREATE TRIGGER personality_user_personalizations_notify_del AFTER DELETE ON personality_user_personalizations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('m', 'personality_id');

CREATE TRIGGER user_personas_notify_ins AFTER INSERT ON user_personas
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('n', 'user_id');
CREATE TRIGGER user_personas_notify_upd AFTER UPDATE ON user_personas
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('n', 'user_id');
CREATE TRIGGER user_personas_notify_del AFTER DELETE ON user_personas
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tzurot_notify_memory('n', 'user_id');

-- +goose Down
DROP TRIGGER user_personas_notify_del ON user_personas;
DROP TRIGGER user_personas_notify_upd ON user_personas;
DROP TRIGGER user_personas_notify_ins ON user_personas;
DROP TRIGGER personality_user_personalizations_notify_del ON personality_user_personalizations;
DROP TRIGGER personality_user_personalizations_notify_upd ON personality_user_personalizations;
DROP TRIGGER personality_user_personalizations_notify_ins ON personality_user_personalizations;
DROP TRIGGER personality_training_examples_notify_del ON personality_training_examples;
DROP TRIGGER personality_training_examples_notify_upd ON personality_training_examples;
DROP TRIGGER personality_training_examples_notify_ins ON personality_training_examples;
DROP TRIGGER personality_stories_notify_del ON personality_stories;
DROP TRIGGER personality_stories_notify_upd ON personality_stories;
DROP TRIGGER personality_stories_notify_ins ON personality_stories;
DROP TRIGGER personality_memories_notify_del ON personality_memories;
DROP TRIGGER personality_memories_notify_upd ON personality_memories;
DROP TRIGGER personality_memories_notify_ins ON personality_memories;
DROP FUNCTION tzurot_notify_memory();
