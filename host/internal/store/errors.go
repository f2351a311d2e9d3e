package store

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors; the concrete errors below carry details and match these
// with errors.Is.
var (
	ErrNotFound          = errors.New("not found")
	ErrInvalidInput      = errors.New("invalid input")
	ErrInvalidTimezone   = errors.New("not a valid time zone")
	ErrAliasTaken        = errors.New("alias already taken")
	ErrSlugTaken         = errors.New("slug already taken")
	ErrVoiceParamRange   = errors.New("voice parameter out of range")
	ErrSampleTooLarge    = errors.New("voice sample too large")
	ErrTooManySamples    = errors.New("too many voice samples")
	ErrNoVault           = errors.New("no vault configured: secrets cannot be stored or read (set APP_MASTER_KEY)")
	ErrUserNotFound      = fmt.Errorf("user %w", ErrNotFound)
	ErrPersonalityAbsent = fmt.Errorf("personality %w", ErrNotFound)
)

// MaxVoiceSampleBytes and MaxVoiceSamples mirror the database's limits.
const (
	MaxVoiceSampleBytes = 10 << 20
	MaxVoiceSamples     = 25
)

// InvalidTimezoneError names the rejected zone.
type InvalidTimezoneError struct{ Name string }

func (e *InvalidTimezoneError) Error() string {
	return fmt.Sprintf("%q is not a time zone name: use an IANA name such as Europe/London, America/New_York or UTC", e.Name)
}

// Is makes errors.Is(err, ErrInvalidTimezone) true.
func (e *InvalidTimezoneError) Is(target error) bool { return target == ErrInvalidTimezone }

// AliasTakenError says who already holds an alias.
type AliasTakenError struct {
	Alias      string
	HolderID   int64
	HolderSlug string
	HolderName string
}

func (e *AliasTakenError) Error() string {
	return fmt.Sprintf("the alias %q is already used by %s (%s); aliases are unique regardless of case", e.Alias, e.HolderName, e.HolderSlug)
}

// Is makes errors.Is(err, ErrAliasTaken) and errors.Is(err, ErrNameTaken)
// true: an alias is one of the names that call a personality.
func (e *AliasTakenError) Is(target error) bool {
	return target == ErrAliasTaken || target == ErrNameTaken
}

// VoiceParamError names the out-of-range voice setting.
type VoiceParamError struct {
	Param string
	Value float64
}

func (e *VoiceParamError) Error() string {
	if e.Param == "" {
		return "voice settings must each be between 0 and 1"
	}
	return fmt.Sprintf("voice %s must be between 0 and 1, got %g", e.Param, e.Value)
}

// Is makes errors.Is(err, ErrVoiceParamRange) true.
func (e *VoiceParamError) Is(target error) bool { return target == ErrVoiceParamRange }

// PostgreSQL error codes the store maps.
const (
	pgUniqueViolation     = "23505"
	pgCheckViolation      = "23514"
	pgForeignKeyViolation = "23503"
	pgNotNullViolation    = "23502"
	pgInvalidText         = "22P02"
)

// constraintMessages turns CHECK constraint names into words for users.
var constraintMessages = map[string]string{
	"users_discord_id_snowflake":                   "a Discord id must be 1 to 20 digits",
	"personalities_slug_format":                    "a slug is lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 100 characters",
	"personalities_name_length":                    "a name must be 1 to 100 characters",
	"personalities_birth_month_range":              "birth month must be between 1 and 12",
	"personalities_birth_day_range":                "birth day must be between 1 and 31",
	"personalities_birth_year_range":               "birth year must be between 1 and 9999",
	"personalities_birth_day_needs_month":          "a birth day needs a birth month",
	"personalities_custom_fields_object":           "custom fields must be a JSON object",
	"personality_aliases_alias_length":             "an alias must be 1 to 100 characters",
	"llm_configs_provider_format":                  "a provider name is lowercase letters, digits, '.', '_' or '-'",
	"llm_configs_model_length":                     "a model name must be 1 to 200 characters",
	"llm_configs_advanced_parameters_object":       "advanced parameters must be a JSON object",
	"llm_configs_max_referenced_messages_positive": "referenced messages must be between 1 and 100",
	"llm_configs_context_window_positive":          "the context window must be positive",
	"user_api_keys_provider_format":                "a provider name is lowercase letters, digits, '.', '_' or '-'",
	"usage_logs_kind_check":                        "usage kind must be text, voice, image or embed",
	"usage_logs_counts_nonnegative":                "usage counts cannot be negative",
	"voice_configs_provider_format":                "a provider name is lowercase letters, digits, '.', '_' or '-'",
	"voice_samples_mime_type_audio":                "a voice sample must be audio (audio/mpeg, audio/wav, ...)",
	"voice_samples_duration_positive":              "a voice sample's duration must be positive",
	"channel_webhooks_channel_snowflake":           "a Discord channel id must be 1 to 20 digits",
	"channel_webhooks_webhook_snowflake":           "a Discord webhook id must be 1 to 20 digits",
	"webhook_messages_message_snowflake":           "a Discord message id must be 1 to 20 digits",
	"webhook_messages_channel_snowflake":           "a Discord channel id must be 1 to 20 digits",
	"channel_activations_channel_snowflake":        "a Discord channel id must be 1 to 20 digits",
	"reply_reasoning_message_snowflake":            "a Discord message id must be 1 to 20 digits",
	"image_configs_plugin_format":                  "an image plugin is a plugins.toml entry name: lowercase letters, digits, '.', '_' or '-'",
	"image_configs_model_length":                   "a model name must be at most 200 characters",
	"image_configs_size_format":                    "an image size is WIDTHxHEIGHT, for example 1024x1024",
	"image_configs_style_length":                   "a style must be at most 100 characters",
	"image_configs_parameters_object":              "image parameters must be a JSON object",
	"personality_tools_tool_format":                "a tool is generate_image or <plugin entry>/<tool name>",
}

// mapError turns PostgreSQL errors into the store's errors. Messages come
// from this package, never from the database's echo of the row (which could
// contain a secret).
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.ConstraintName {
	case "voice_samples_size_limit":
		return fmt.Errorf("%w: a voice sample must be between 1 byte and 10 MB", ErrSampleTooLarge)
	case "voice_samples_max_per_personality":
		return fmt.Errorf("%w: a personality can have at most %d voice samples; delete one first", ErrTooManySamples, MaxVoiceSamples)
	case "voice_configs_stability_range":
		return &VoiceParamError{Param: "stability", Value: -1}
	case "voice_configs_similarity_range":
		return &VoiceParamError{Param: "similarity", Value: -1}
	case "voice_configs_style_range":
		return &VoiceParamError{Param: "style", Value: -1}
	case "voice_configs_frequency_range":
		return &VoiceParamError{Param: "frequency", Value: -1}
	case "personality_handles_taken":
		// Raised by tzurot_sync_handles with the handle as the detail.
		return &NameTakenError{Handle: pe.Detail}
	case "personality_handles_pkey":
		return &NameTakenError{}
	case "personalities_slug_key":
		return fmt.Errorf("%w: another personality already has this slug", ErrSlugTaken)
	}
	switch pe.Code {
	case pgCheckViolation:
		if msg := constraintMessages[pe.ConstraintName]; msg != "" {
			return fmt.Errorf("%w: %s", ErrInvalidInput, msg)
		}
		return fmt.Errorf("%w: the value breaks the rule %s", ErrInvalidInput, pe.ConstraintName)
	case pgForeignKeyViolation:
		return fmt.Errorf("%w: it refers to something that does not exist (%s)", ErrNotFound, pe.ConstraintName)
	case pgNotNullViolation:
		return fmt.Errorf("%w: %s is required", ErrInvalidInput, pe.ColumnName)
	case pgInvalidText:
		return fmt.Errorf("%w: a value is malformed (for example JSON that does not parse)", ErrInvalidInput)
	case pgUniqueViolation:
		return fmt.Errorf("%w: already exists (%s)", ErrInvalidInput, pe.ConstraintName)
	}
	return err
}

var snowflake = regexp.MustCompile(`^[0-9]{1,20}$`)

func checkSnowflake(what, id string) error {
	if !snowflake.MatchString(id) {
		return fmt.Errorf("%w: a %s must be 1 to 20 digits", ErrInvalidInput, what)
	}
	return nil
}
