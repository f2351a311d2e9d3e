-- 00009_voice_settings_audio_usage: what voice replies and transcription need.
--
-- voice_configs.speaker_boost: ElevenLabs' use_speaker_boost, part of the
-- voice settings the reference implementation stored nowhere. True is
-- ElevenLabs' own default.
--
-- voice_configs.settings: the voice plugin's own knobs beside the portable
-- ones (e.g. speed, or an OpenAI voice's instructions), validated against
-- the plugin's declared voice_schema when saved and before each call.
--
-- usage_logs.audio_ms: milliseconds of audio a call processed
-- (transcription input; speech output when a provider bills by time).

-- +goose Up
ALTER TABLE voice_configs
    ADD COLUMN speaker_boost boolean NOT NULL DEFAULT true,
    ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE voice_configs
    ADD CONSTRAINT voice_configs_settings_object CHECK (jsonb_typeof(settings) = 'object');

ALTER TABLE usage_logs ADD COLUMN audio_ms integer NOT NULL DEFAULT 0;
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_audio_ms_nonnegative CHECK (audio_ms >= 0);

-- +goose Down
ALTER TABLE usage_logs DROP CONSTRAINT usage_logs_audio_ms_nonnegative;
ALTER TABLE usage_logs DROP COLUMN audio_ms;
ALTER TABLE voice_configs DROP CONSTRAINT voice_configs_settings_object;
ALTER TABLE voice_configs DROP COLUMN settings, DROP COLUMN speaker_boost;
