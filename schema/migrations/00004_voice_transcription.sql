-- 00004_voice_transcription: whether a personality transcribes voice
-- messages is part of its voice setup, so it gets a voice_configs column.
-- Until now the shapes.inc importer kept the backup's
-- voice_transcription_enabled in custom_fields.voiceTranscriptionEnabled;
-- this also moves what earlier imports stored there.
--
-- The data step is safe to run any number of times and loses nothing:
--   * only JSON booleans are moved (anything else the old importer copied
--     verbatim stays where it is);
--   * true sets the column, creating the voice config with its defaults
--     when there was none: the importer does the same for a backup that
--     only enables transcription;
--   * false is the column's default, so the key is simply removed.

-- +goose Up
ALTER TABLE voice_configs ADD COLUMN transcription_enabled boolean NOT NULL DEFAULT false;

INSERT INTO voice_configs (personality_id, transcription_enabled)
SELECT id, true FROM personalities
WHERE custom_fields -> 'voiceTranscriptionEnabled' = 'true'::jsonb
ON CONFLICT (personality_id) DO UPDATE SET transcription_enabled = true;

UPDATE personalities
SET custom_fields = custom_fields - 'voiceTranscriptionEnabled'
WHERE jsonb_typeof(custom_fields -> 'voiceTranscriptionEnabled') = 'boolean';

-- +goose Down
-- Copy true back into the key where code from before this migration looks
-- for it (false was never more than the default), then drop the column.
-- Voice configs the up step created keep their default settings.
UPDATE personalities p
SET custom_fields = p.custom_fields || '{"voiceTranscriptionEnabled": true}'::jsonb
FROM voice_configs v
WHERE v.personality_id = p.id AND v.transcription_enabled
  AND NOT p.custom_fields ? 'voiceTranscriptionEnabled';

ALTER TABLE voice_configs DROP COLUMN transcription_enabled;
