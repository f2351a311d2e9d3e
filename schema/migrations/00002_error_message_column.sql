-- 00002_error_message_column: the plan's data migration. Imports from the
-- TypeScript project and early shapes.inc imports kept a personality's error
-- message in custom_fields.errorMessage; it now has its own column.
--
-- One statement, safe to run any number of times and lossless:
--   * the column is filled only where it is still NULL;
--   * the key is removed only where the column now holds exactly the key's
--     value, so a personality whose column already said something else keeps
--     both (nothing is overwritten, nothing is dropped).
-- There are no provider-specific LLM columns to move: llm_configs has kept
-- every such knob in advanced_parameters from the first migration.

-- +goose Up
UPDATE personalities
SET error_message = COALESCE(error_message, custom_fields ->> 'errorMessage'),
    custom_fields = CASE
        WHEN COALESCE(error_message, custom_fields ->> 'errorMessage') = custom_fields ->> 'errorMessage'
            THEN custom_fields - 'errorMessage'
        ELSE custom_fields
    END
WHERE custom_fields ? 'errorMessage';

-- +goose Down
-- Copy the column back into the key (the column keeps its value too), so code
-- from before this migration finds every message where it used to look.
UPDATE personalities
SET custom_fields = custom_fields || jsonb_build_object('errorMessage', error_message)
WHERE error_message IS NOT NULL
  AND NOT custom_fields ? 'errorMessage';
