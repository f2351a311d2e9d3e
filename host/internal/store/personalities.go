package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
)

// Personality is everything a reply needs about a character.
type Personality struct {
	query.Personality
	Aliases []string
	// LLM is the config in force for the asking user: their override if they
	// have one, else the personality's default. LLM.ID is 0 when neither
	// exists (the pipeline then uses the host's default model).
	LLM LLMConfig
	// Voice is nil when the personality has no voice configured.
	Voice *VoiceConfig
}

// LLMConfig selects the model and its knobs.
type LLMConfig struct {
	ID int64
	// UserOverride is true when this is the asking user's own override.
	UserOverride bool
	Provider     string
	Model        string
	// AdvancedParameters is a JSON object (snake_case, OpenRouter-style:
	// temperature, top_p, thinking, ...). Empty means {}.
	AdvancedParameters    json.RawMessage
	MaxReferencedMessages int
	ContextWindowTokens   int
}

// VoiceConfig is a personality's voice setup. The four tuning values are
// each within 0..1.
type VoiceConfig struct {
	Provider   string
	VoiceID    string
	Model      string
	Stability  float64
	Similarity float64
	Style      float64
	Frequency  float64
	// TranscriptionEnabled: the personality transcribes voice messages it
	// receives (shapes.inc's voice_transcription_enabled).
	TranscriptionEnabled bool
	// SpeakerBoost is ElevenLabs' use_speaker_boost (true by default).
	SpeakerBoost bool
	// Settings holds the voice plugin's own knobs beside the portable ones
	// (a JSON object; nil means {}), checked against its voice_schema.
	Settings json.RawMessage
}

// DefaultVoiceConfig is what a personality gets when voice is first enabled.
func DefaultVoiceConfig() VoiceConfig {
	return VoiceConfig{Provider: "elevenlabs", Model: "eleven_flash_v2_5", Stability: 0.5, Similarity: 0.75, SpeakerBoost: true}
}

// PersonalityByID loads a personality for userID (0 when no user is asking,
// e.g. an admin view: then only the default LLM config applies).
func (s *Store) PersonalityByID(ctx context.Context, id, userID int64) (Personality, error) {
	if s.cache == nil {
		return s.loadPersonality(ctx, id, userID)
	}
	k := persKey{id, userID}
	if p, ok := s.cache.pers.Get(k); ok {
		return copyPersonality(p), nil
	}
	t := s.cache.pers.Begin()
	p, err := s.loadPersonality(ctx, id, userID)
	if err == nil {
		s.cache.pers.Put(t, k, id, copyPersonality(p))
	}
	return p, err
}

// loadPersonality is PersonalityByID from the database.
func (s *Store) loadPersonality(ctx context.Context, id, userID int64) (Personality, error) {
	row, err := s.q.PersonalityByID(ctx, s.pool, query.PersonalityByIDParams{ID: id, UserID: optionalID(userID)})
	if errors.Is(err, pgx.ErrNoRows) {
		return Personality{}, fmt.Errorf("personality %d: %w", id, ErrPersonalityAbsent)
	}
	if err != nil {
		return Personality{}, fmt.Errorf("load personality %d: %w", id, mapError(err))
	}
	return personalityFromRow(query.PersonalityBySlugRow(row)), nil
}

// PersonalityBySlug is PersonalityByID by slug.
func (s *Store) PersonalityBySlug(ctx context.Context, slug string, userID int64) (Personality, error) {
	row, err := s.q.PersonalityBySlug(ctx, s.pool, query.PersonalityBySlugParams{Slug: slug, UserID: optionalID(userID)})
	if errors.Is(err, pgx.ErrNoRows) {
		return Personality{}, fmt.Errorf("personality %q: %w", slug, ErrPersonalityAbsent)
	}
	if err != nil {
		return Personality{}, fmt.Errorf("load personality %q: %w", slug, mapError(err))
	}
	return personalityFromRow(row), nil
}

func personalityFromRow(r query.PersonalityBySlugRow) Personality {
	p := Personality{Personality: r.Personality, Aliases: r.Aliases}
	if r.LLMConfigID != 0 {
		p.LLM = LLMConfig{
			ID:                    r.LLMConfigID,
			UserOverride:          r.LLMUserID != nil,
			Provider:              r.LLMProvider,
			Model:                 r.LLMModel,
			AdvancedParameters:    r.LLMAdvancedParameters,
			MaxReferencedMessages: int(r.LLMMaxReferencedMessages),
			ContextWindowTokens:   int(r.LLMContextWindowTokens),
		}
	}
	if r.VoiceProvider != nil {
		p.Voice = &VoiceConfig{
			Provider:             *r.VoiceProvider,
			VoiceID:              deref(r.VoiceVoiceID),
			Model:                deref(r.VoiceModel),
			Stability:            deref(r.VoiceStability),
			Similarity:           deref(r.VoiceSimilarity),
			Style:                deref(r.VoiceStyle),
			Frequency:            deref(r.VoiceFrequency),
			TranscriptionEnabled: deref(r.VoiceTranscriptionEnabled),
			SpeakerBoost:         deref(r.VoiceSpeakerBoost),
			Settings:             r.VoiceSettings,
		}
	}
	return p
}

// PersonalitySummary is a personality in a list.
type PersonalitySummary = query.ListPersonalitiesRow

// ListPersonalities lists the public personalities and those userID owns.
func (s *Store) ListPersonalities(ctx context.Context, userID int64) ([]PersonalitySummary, error) {
	rows, err := s.q.ListPersonalities(ctx, s.pool, optionalID(userID))
	if err != nil {
		return nil, fmt.Errorf("list personalities: %w", mapError(err))
	}
	return rows, nil
}

// NewPersonality is a personality to create. CustomFields may be nil ({}).
type NewPersonality = query.CreatePersonalityParams

// CreatePersonality inserts a personality and returns its id.
func (s *Store) CreatePersonality(ctx context.Context, p NewPersonality) (int64, error) {
	if len(p.CustomFields) == 0 {
		p.CustomFields = json.RawMessage(`{}`)
	}
	id, err := s.q.CreatePersonality(ctx, s.pool, p)
	if err != nil {
		return 0, s.withHolder(ctx, fmt.Errorf("create personality %q: %w", p.Slug, mapError(err)))
	}
	return id, nil
}

// ImportedPersonality is a personality from shapes.inc, keyed by ShapesID.
type ImportedPersonality = query.UpsertPersonalityByShapesIDParams

// ImportPersonality inserts or refreshes a personality by its shapes.inc id
// (re-running an import is safe) and reports whether it was new. On refresh
// the slug, owner, visibility and voice switch are kept; custom fields merge.
func (s *Store) ImportPersonality(ctx context.Context, p ImportedPersonality) (id int64, inserted bool, err error) {
	if p.ShapesID == "" {
		return 0, false, fmt.Errorf("%w: an imported personality needs its shapes.inc id", ErrInvalidInput)
	}
	if len(p.CustomFields) == 0 {
		p.CustomFields = json.RawMessage(`{}`)
	}
	row, err := s.q.UpsertPersonalityByShapesID(ctx, s.pool, p)
	if err != nil {
		return 0, false, s.withHolder(ctx, fmt.Errorf("import personality %q: %w", p.Slug, mapError(err)))
	}
	s.changed(cache.KindPersonality, row.ID)
	return row.ID, row.Inserted, nil
}

// DeletePersonality deletes a personality with its aliases, configs, samples
// and mappings; usage rows keep their numbers without the link.
func (s *Store) DeletePersonality(ctx context.Context, id int64) (bool, error) {
	n, err := s.q.DeletePersonality(ctx, s.pool, id)
	if err != nil {
		return false, fmt.Errorf("delete personality %d: %w", id, mapError(err))
	}
	s.changed(cache.KindPersonality, id)
	return n > 0, nil
}

// ---- aliases --------------------------------------------------------------

// Alias maps a name users type to a personality.
type Alias = query.ListAliasesRow

// Aliases returns every alias, for the pipeline's in-memory index.
func (s *Store) Aliases(ctx context.Context) ([]Alias, error) {
	rows, err := s.q.ListAliases(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", mapError(err))
	}
	return rows, nil
}

// AddAlias gives personalityID the alias. Aliases are unique regardless of
// case; if another personality holds it the error is an *AliasTakenError
// naming the holder (errors.Is(err, ErrAliasTaken)). If the alias is another
// personality's name, display name or slug, the error is a *NameTakenError
// (errors.Is(err, ErrNameTaken), which an *AliasTakenError matches too).
// Adding an alias the personality already has is not an error.
func (s *Store) AddAlias(ctx context.Context, personalityID int64, alias string) error {
	alias = strings.TrimSpace(alias)
	_, err := s.q.AddAlias(ctx, s.pool, query.AddAliasParams{PersonalityID: personalityID, Alias: alias})
	if err == nil {
		s.changed(cache.KindPersonality, personalityID)
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName == "personality_aliases_lower_alias_key" {
		h, herr := s.q.AliasHolder(ctx, s.pool, alias)
		if herr != nil {
			return fmt.Errorf("%w: %q", ErrAliasTaken, alias)
		}
		if h.ID == personalityID {
			return nil
		}
		return &AliasTakenError{Alias: h.Alias, HolderID: h.ID, HolderSlug: h.Slug, HolderName: h.Name}
	}
	return s.withHolder(ctx, fmt.Errorf("add alias %q: %w", alias, mapError(err)))
}

// RemoveAlias removes the alias (any case) from the personality.
func (s *Store) RemoveAlias(ctx context.Context, personalityID int64, alias string) (bool, error) {
	n, err := s.q.RemoveAlias(ctx, s.pool, query.RemoveAliasParams{PersonalityID: personalityID, Alias: strings.TrimSpace(alias)})
	if err != nil {
		return false, fmt.Errorf("remove alias %q: %w", alias, mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return n > 0, nil
}

// ---- LLM and voice configs ------------------------------------------------

// SetLLMConfig sets the personality's default config (userID 0) or the
// user's override.
func (s *Store) SetLLMConfig(ctx context.Context, personalityID, userID int64, c LLMConfig) error {
	params := c.AdvancedParameters
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	if !json.Valid(params) {
		return fmt.Errorf("%w: advanced parameters are not valid JSON", ErrInvalidInput)
	}
	if c.MaxReferencedMessages == 0 {
		c.MaxReferencedMessages = 10
	}
	if c.ContextWindowTokens == 0 {
		c.ContextWindowTokens = 131072
	}
	var err error
	if userID == 0 {
		err = s.q.UpsertDefaultLLMConfig(ctx, s.pool, query.UpsertDefaultLLMConfigParams{
			PersonalityID: personalityID, Provider: c.Provider, Model: c.Model, AdvancedParameters: params,
			MaxReferencedMessages: int32(c.MaxReferencedMessages), ContextWindowTokens: int32(c.ContextWindowTokens),
		})
	} else {
		err = s.q.UpsertUserLLMConfig(ctx, s.pool, query.UpsertUserLLMConfigParams{
			PersonalityID: personalityID, UserID: userID, Provider: c.Provider, Model: c.Model, AdvancedParameters: params,
			MaxReferencedMessages: int32(c.MaxReferencedMessages), ContextWindowTokens: int32(c.ContextWindowTokens),
		})
	}
	if err != nil {
		return fmt.Errorf("set llm config: %w", mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return nil
}

// ClearLLMOverride removes the user's override for the personality.
func (s *Store) ClearLLMOverride(ctx context.Context, personalityID, userID int64) (bool, error) {
	n, err := s.q.DeleteUserLLMConfig(ctx, s.pool, query.DeleteUserLLMConfigParams{PersonalityID: personalityID, UserID: userID})
	if err != nil {
		return false, fmt.Errorf("clear llm override: %w", mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return n > 0, nil
}

// SetVoiceConfig sets the personality's voice. Each tuning value must be
// within 0..1 (checked here and again by the database).
func (s *Store) SetVoiceConfig(ctx context.Context, personalityID int64, v VoiceConfig) error {
	for _, p := range []struct {
		name string
		val  float64
	}{{"stability", v.Stability}, {"similarity", v.Similarity}, {"style", v.Style}, {"frequency", v.Frequency}} {
		if !(p.val >= 0 && p.val <= 1) { // also rejects NaN
			return &VoiceParamError{Param: p.name, Value: p.val}
		}
	}
	if v.Provider == "" {
		v.Provider = "elevenlabs"
	}
	if v.Model == "" {
		v.Model = "eleven_flash_v2_5"
	}
	settings := v.Settings
	if len(settings) == 0 || string(settings) == "null" {
		settings = json.RawMessage(`{}`)
	}
	err := s.q.UpsertVoiceConfig(ctx, s.pool, query.UpsertVoiceConfigParams{
		PersonalityID: personalityID, Provider: v.Provider, VoiceID: v.VoiceID, Model: v.Model,
		Stability: v.Stability, Similarity: v.Similarity, Style: v.Style, Frequency: v.Frequency,
		TranscriptionEnabled: v.TranscriptionEnabled, SpeakerBoost: v.SpeakerBoost, Settings: settings,
	})
	if err != nil {
		return fmt.Errorf("set voice config: %w", mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return nil
}

// VoiceSample is a stored sample without its bytes.
type VoiceSample = query.ListVoiceSamplesRow

// AddVoiceSample stores an audio sample (at most 10 MB, at most 25 per
// personality) and returns its id.
func (s *Store) AddVoiceSample(ctx context.Context, personalityID int64, data []byte, mimeType string, duration time.Duration) (int64, error) {
	if len(data) > MaxVoiceSampleBytes {
		return 0, fmt.Errorf("%w: the sample is %.1f MB and the limit is 10 MB", ErrSampleTooLarge, float64(len(data))/(1<<20))
	}
	var ms *int32
	if duration > 0 {
		v := int32(duration.Milliseconds())
		ms = &v
	}
	id, err := s.q.AddVoiceSample(ctx, s.pool, query.AddVoiceSampleParams{
		PersonalityID: personalityID, Data: data, MimeType: mimeType, DurationMs: ms,
	})
	if err != nil {
		return 0, fmt.Errorf("add voice sample: %w", mapError(err))
	}
	return id, nil
}

// VoiceSamples lists a personality's samples.
func (s *Store) VoiceSamples(ctx context.Context, personalityID int64) ([]VoiceSample, error) {
	rows, err := s.q.ListVoiceSamples(ctx, s.pool, personalityID)
	if err != nil {
		return nil, fmt.Errorf("list voice samples: %w", mapError(err))
	}
	return rows, nil
}

// VoiceSampleData returns one sample's bytes and type.
func (s *Store) VoiceSampleData(ctx context.Context, personalityID, sampleID int64) ([]byte, string, error) {
	row, err := s.q.VoiceSampleData(ctx, s.pool, query.VoiceSampleDataParams{ID: sampleID, PersonalityID: personalityID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("voice sample %d: %w", sampleID, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("load voice sample: %w", mapError(err))
	}
	return row.Data, row.MimeType, nil
}

// DeleteVoiceSample deletes one sample.
func (s *Store) DeleteVoiceSample(ctx context.Context, personalityID, sampleID int64) (bool, error) {
	n, err := s.q.DeleteVoiceSample(ctx, s.pool, query.DeleteVoiceSampleParams{ID: sampleID, PersonalityID: personalityID})
	if err != nil {
		return false, fmt.Errorf("delete voice sample: %w", mapError(err))
	}
	return n > 0, nil
}

func optionalID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
