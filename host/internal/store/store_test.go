package store_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

func newVault(t testing.TB) *vault.Vault {
	t.Helper()
	k := make([]byte, vault.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	return store.New(pgtest.New(t), newVault(t), nil)
}

var seq atomic.Int64

// snowflake returns a fresh Discord-style id.
func snowflake() string { return fmt.Sprintf("%d", 100000000000000000+seq.Add(1)) }

func createPersonality(t testing.TB, s *store.Store, slug string) int64 {
	t.Helper()
	id, err := s.CreatePersonality(context.Background(), store.NewPersonality{
		Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:], SystemPrompt: "You are " + slug + ".",
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestUserIsCreatedOnFirstContactAndReadAfter(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := snowflake()
	u, err := s.UserByDiscordID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.DiscordID != id || u.Timezone != "UTC" || u.Location.String() != "UTC" || u.VoiceEnabled != nil {
		t.Fatalf("new user = %+v", u)
	}
	again, err := s.UserByDiscordID(ctx, id)
	if err != nil || again.ID != u.ID {
		t.Fatalf("second contact: %+v, %v", again, err)
	}
	on := true
	if err := s.SetVoicePreference(ctx, u.ID, &on); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTimezone(ctx, id, "America/New_York"); err != nil {
		t.Fatal(err)
	}
	u, err = s.UserByDiscordID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Timezone != "America/New_York" || u.Location.String() != "America/New_York" || u.VoiceEnabled == nil || !*u.VoiceEnabled {
		t.Fatalf("after settings: %+v", u)
	}
	if _, err := s.UserByDiscordID(ctx, "not-a-snowflake"); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("bad discord id: %v", err)
	}
}

func TestInvalidTimezoneIsRefusedAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := snowflake()
	if err := s.SetTimezone(ctx, id, "Europe/Paris"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"Mars/Olympus_Mons", "", "Local", "EST5EDT/../../etc/passwd", "europe/paris "} {
		err := s.SetTimezone(ctx, id, bad)
		if !errors.Is(err, store.ErrInvalidTimezone) {
			t.Errorf("SetTimezone(%q) = %v, want ErrInvalidTimezone", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), "IANA") {
			t.Errorf("error does not say what is expected: %v", err)
		}
	}
	u, err := s.UserByDiscordID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Timezone != "Europe/Paris" {
		t.Fatalf("timezone became %q", u.Timezone)
	}
}

func TestPersonalityWithAliasesAndConfigsUserOverrideWins(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "lilith")
	for _, a := range []string{"Lili", "the archivist"} {
		if err := s.AddAlias(ctx, pid, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLLMConfig(ctx, pid, 0, store.LLMConfig{Provider: "openrouter", Model: "openai/gpt-4o",
		AdvancedParameters: json.RawMessage(`{"temperature":0.9}`)}); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.UserByDiscordID(ctx, snowflake())
	bob, _ := s.UserByDiscordID(ctx, snowflake())
	if err := s.SetLLMConfig(ctx, pid, alice.ID, store.LLMConfig{Provider: "openrouter", Model: "anthropic/claude-sonnet-4",
		AdvancedParameters: json.RawMessage(`{"thinking":"high"}`), MaxReferencedMessages: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVoiceConfig(ctx, pid, store.VoiceConfig{VoiceID: "v1", Stability: 0.53, Similarity: 0.74, Style: 0.16, Frequency: 0.1,
		TranscriptionEnabled: true}); err != nil {
		t.Fatal(err)
	}

	pa, err := s.PersonalityBySlug(ctx, "lilith", alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pa.ID != pid || strings.Join(pa.Aliases, "|") != "Lili|the archivist" {
		t.Fatalf("personality %d aliases %q", pa.ID, pa.Aliases)
	}
	if !pa.LLM.UserOverride || pa.LLM.Model != "anthropic/claude-sonnet-4" || pa.LLM.MaxReferencedMessages != 5 ||
		string(pa.LLM.AdvancedParameters) != `{"thinking": "high"}` {
		t.Fatalf("alice's config = %+v (%s)", pa.LLM, pa.LLM.AdvancedParameters)
	}
	if pa.Voice == nil || pa.Voice.VoiceID != "v1" || pa.Voice.Model != "eleven_flash_v2_5" || pa.Voice.Stability != 0.53 ||
		!pa.Voice.TranscriptionEnabled {
		t.Fatalf("voice = %+v", pa.Voice)
	}

	pb, err := s.PersonalityByID(ctx, pid, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pb.LLM.UserOverride || pb.LLM.Model != "openai/gpt-4o" || pb.LLM.MaxReferencedMessages != 10 {
		t.Fatalf("bob's config = %+v", pb.LLM)
	}
	if pb.Voice == nil || !pb.Voice.TranscriptionEnabled {
		t.Fatalf("voice by id = %+v, want transcription on", pb.Voice)
	}
	// Setting the voice again can switch transcription off.
	off := *pb.Voice
	off.TranscriptionEnabled = false
	if err := s.SetVoiceConfig(ctx, pid, off); err != nil {
		t.Fatal(err)
	}
	if again, err := s.PersonalityByID(ctx, pid, 0); err != nil || again.Voice == nil || !reflect.DeepEqual(*again.Voice, off) {
		t.Fatalf("voice after switching transcription off = %+v (%v), want %+v", again.Voice, err, off)
	}

	bare := createPersonality(t, s, "bare")
	pc, err := s.PersonalityByID(ctx, bare, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pc.LLM.ID != 0 || pc.Voice != nil || len(pc.Aliases) != 0 {
		t.Fatalf("bare personality = %+v", pc)
	}
	if _, err := s.PersonalityBySlug(ctx, "nobody", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing personality: %v", err)
	}
}

func TestAliasCollidingCaseInsensitivelyNamesHolder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	lilith := createPersonality(t, s, "lilith")
	other := createPersonality(t, s, "other")
	if err := s.AddAlias(ctx, lilith, "Lili"); err != nil {
		t.Fatal(err)
	}
	err := s.AddAlias(ctx, other, "  LILI ")
	var taken *store.AliasTakenError
	if !errors.Is(err, store.ErrAliasTaken) || !errors.As(err, &taken) {
		t.Fatalf("err = %v, want AliasTakenError", err)
	}
	if taken.HolderID != lilith || taken.HolderSlug != "lilith" || !strings.Contains(err.Error(), "Lilith") {
		t.Fatalf("holder not named: %+v / %v", taken, err)
	}
	// Same personality, other case: already theirs, not an error.
	if err := s.AddAlias(ctx, lilith, "lili"); err != nil {
		t.Fatalf("re-adding own alias: %v", err)
	}
	all, err := s.Aliases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Alias != "Lili" || all[0].PersonalityID != lilith || all[0].Slug != "lilith" {
		t.Fatalf("aliases after refused collision = %+v", all)
	}
	// Deleting the personality frees its aliases.
	if _, err := s.DeletePersonality(ctx, lilith); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAlias(ctx, other, "LILI"); err != nil {
		t.Fatalf("alias of a deleted personality still taken: %v", err)
	}
}
