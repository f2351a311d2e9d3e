package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
)

// SetPersonalityVoice saves the personality's voice config and, when enabled
// is not nil, its default voice switch (personalities.voice_enabled), in one
// transaction: /personality voice changes both or neither. The ranges are
// checked as SetVoiceConfig checks them.
func (s *Store) SetPersonalityVoice(ctx context.Context, personalityID int64, v VoiceConfig, enabled *bool) error {
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if enabled != nil {
			tag, err := tx.Exec(ctx, `UPDATE personalities SET voice_enabled = $2 WHERE id = $1`, personalityID, *enabled)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return ErrPersonalityAbsent
			}
		}
		return s.q.UpsertVoiceConfig(ctx, tx, query.UpsertVoiceConfigParams{
			PersonalityID: personalityID, Provider: v.Provider, VoiceID: v.VoiceID, Model: v.Model,
			Stability: v.Stability, Similarity: v.Similarity, Style: v.Style, Frequency: v.Frequency,
			TranscriptionEnabled: v.TranscriptionEnabled, SpeakerBoost: v.SpeakerBoost, Settings: settings,
		})
	})
	if err != nil {
		return fmt.Errorf("set voice of personality %d: %w", personalityID, mapError(err))
	}
	s.changed(cache.KindPersonality, personalityID)
	return nil
}
