// Package shapes imports personalities from shapes.inc backups (the legacy
// backup directory: <slug>/<slug>.json and its _memories, _knowledge,
// _training, _user_personalization and _chat_history files) and from the
// tzurot v2 personality store (personalities.json), losing nothing: every
// source field lands in a column, in the personality's custom_fields, or in
// the short documented drop list (docs/import.md).
//
// An import runs in two stages. Reading maps every profile into a Character
// (small: the record files are only named, not read) and reports problems
// as Issues. Writing then imports one Character per database transaction,
// streaming its record files straight into PostgreSQL with COPY, so memory
// use does not grow with the size of the backup.
package shapes

import (
	"encoding/json"
)

// Origin says which format a Character came from.
type Origin string

const (
	OriginShapes Origin = "shapes"
	OriginV2     Origin = "v2"
)

// SourceSystem is what imported records are tagged with in the record
// tables' source_system column.
const SourceSystem = "shapes-inc"

// Character is one personality read from a backup, mapped to the host's
// schema and ready to write.
type Character struct {
	Origin Origin
	// File is the profile it was read from (for messages).
	File string
	// ShapesID keys the personality across re-imports (personalities.shapes_id).
	// v2 records use "v2:<their id>" so they can never collide with a
	// shapes.inc UUID.
	ShapesID string
	// V2ID is a v2 record's own id (personalities.v2_id), kept also when
	// the record adds to a personality imported from shapes.inc; "" for
	// shapes.inc characters.
	V2ID string
	// Slug is the wanted slug; the import may add a suffix if another
	// personality already has it.
	Slug    string
	Columns Columns
	// CustomFields are merged into personalities.custom_fields (top-level
	// keys replace, other keys stay).
	CustomFields map[string]any
	// OwnerDiscordID is the owner this record names (v2), used when the
	// command line gives none.
	OwnerDiscordID string
	LLM            *LLMConfig
	Voice          *VoiceConfig
	Aliases        []Alias
	Records        []RecordFile
	// EnrichBySlug lets a v2 record add to a personality that already has
	// its slug (typically imported from the shapes.inc backup first):
	// aliases are added and empty columns filled, nothing is overwritten.
	EnrichBySlug bool
	// Skip, when set, says why this character is not imported (deleted on
	// shapes.inc, removed in v2).
	Skip string
}

// Columns are the personalities columns an import sets.
type Columns struct {
	Name                   string
	DisplayName            string
	AvatarURL              string
	SystemPrompt           string
	CharacterInfo          string
	Traits                 string
	Tone                   string
	Age                    string
	Appearance             string
	Likes                  string
	Dislikes               string
	ConversationalGoals    string
	ConversationalExamples string
	ErrorMessage           *string
	BirthMonth             *int16
	BirthDay               *int16
	BirthYear              *int16
}

// columnValue is one column's name and value (string, int16 or nil), in a
// form that compares with ==.
type columnValue struct {
	Name  string
	Value any
}

// values lists the columns in a fixed order. Names come from this list
// only, never from input, so they are safe to put in SQL text.
func (c *Columns) values() []columnValue {
	return []columnValue{
		{"name", c.Name},
		{"display_name", c.DisplayName},
		{"avatar_url", c.AvatarURL},
		{"system_prompt", c.SystemPrompt},
		{"character_info", c.CharacterInfo},
		{"traits", c.Traits},
		{"tone", c.Tone},
		{"age", c.Age},
		{"appearance", c.Appearance},
		{"likes", c.Likes},
		{"dislikes", c.Dislikes},
		{"conversational_goals", c.ConversationalGoals},
		{"conversational_examples", c.ConversationalExamples},
		{"error_message", nullable(c.ErrorMessage)},
		{"birth_month", nullable(c.BirthMonth)},
		{"birth_day", nullable(c.BirthDay)},
		{"birth_year", nullable(c.BirthYear)},
	}
}

// scanTargets returns pointers in the order of values, for reading a row.
func (c *Columns) scanTargets() []any {
	return []any{
		&c.Name, &c.DisplayName, &c.AvatarURL, &c.SystemPrompt, &c.CharacterInfo, &c.Traits, &c.Tone, &c.Age,
		&c.Appearance, &c.Likes, &c.Dislikes, &c.ConversationalGoals, &c.ConversationalExamples,
		&c.ErrorMessage, &c.BirthMonth, &c.BirthDay, &c.BirthYear,
	}
}

func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// LLMConfig is the personality's default model and its knobs.
type LLMConfig struct {
	Provider string
	Model    string
	// AdvancedParameters are snake_case and OpenRouter-style (temperature,
	// top_p, ...); values keep the backup's digits.
	AdvancedParameters  map[string]any
	ContextWindowTokens int
}

// Defaults for an imported LLM config (the reference project's choices).
const (
	DefaultProvider      = "openrouter"
	DefaultModel         = "openai/gpt-4o"
	DefaultContextWindow = 131072
)

// VoiceConfig is the personality's voice setup; every tuning value is
// within 0..1.
type VoiceConfig struct {
	Provider             string
	VoiceID              string
	Model                string
	Stability            float64
	Similarity           float64
	Style                float64
	Frequency            float64
	TranscriptionEnabled bool
}

// defaultVoice mirrors the schema's column defaults.
func defaultVoice() VoiceConfig {
	return VoiceConfig{Provider: "elevenlabs", Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75}
}

// Alias is a name users may call the personality by, with where it came from.
type Alias struct {
	Name  string
	File  string
	Field string
}

// RecordKind is one of the files that accompany a profile.
type RecordKind int

const (
	Memories RecordKind = iota
	Stories
	Training
	UserPersonalization
	ChatHistory
	numRecordKinds
)

func (k RecordKind) String() string { return recordSpecs[k].noun }

// RecordFile is a record file to stream into the database.
type RecordFile struct {
	Kind RecordKind
	Path string
}

// customJSON marshals the custom fields.
func (c *Character) customJSON() json.RawMessage {
	if len(c.CustomFields) == 0 {
		return json.RawMessage(`{}`)
	}
	return mustJSON(c.CustomFields)
}
