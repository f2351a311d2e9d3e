package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// TestSetPersonalityVoiceIsAllOrNothing: the voice switch and the voice
// config change together; a config the database refuses leaves the switch
// as it was.
func TestSetPersonalityVoiceIsAllOrNothing(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id, err := s.CreatePersonality(ctx, store.NewPersonality{Slug: "lilith", Name: "Lilith"})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	v := store.DefaultVoiceConfig()
	v.VoiceID, v.Frequency = "abc", 0.5
	if err := s.SetPersonalityVoice(ctx, id, v, &on); err != nil {
		t.Fatal(err)
	}
	p, _ := s.PersonalityByID(ctx, id, 0)
	if !p.VoiceEnabled || p.Voice == nil || p.Voice.VoiceID != "abc" || p.Voice.Frequency != 0.5 || string(p.Voice.Settings) != "{}" {
		t.Fatalf("after save: enabled=%v %+v", p.VoiceEnabled, p.Voice)
	}

	off := false
	bad := v
	bad.Provider = "Not A Plugin Name" // refused by voice_configs_provider_format
	if err := s.SetPersonalityVoice(ctx, id, bad, &off); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("bad provider: %v", err)
	}
	over := v
	over.Stability = 1.2
	var vp *store.VoiceParamError
	if err := s.SetPersonalityVoice(ctx, id, over, &off); !errors.As(err, &vp) || vp.Param != "stability" {
		t.Fatalf("stability 1.2: %v", err)
	}
	p, _ = s.PersonalityByID(ctx, id, 0)
	if !p.VoiceEnabled || p.Voice.Provider != "elevenlabs" {
		t.Fatalf("a refused save changed the personality: enabled=%v %+v", p.VoiceEnabled, p.Voice)
	}
	if err := s.SetPersonalityVoice(ctx, 999999, v, &on); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent personality: %v", err)
	}
}
