package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

func TestUpdatePersonalityChangesOnlyWhatIsGiven(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := createPersonality(t, s, "lilith")
	name, msg := "Lilith Prime", "Oops."
	if err := s.UpdatePersonality(ctx, id, store.PersonalityPatch{Name: &name, ErrorMessage: &msg,
		Birthday: &store.Birthday{Month: 2, Day: 29}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.PersonalityByID(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != name || *p.ErrorMessage != msg || *p.BirthMonth != 2 || *p.BirthDay != 29 || p.BirthYear != nil ||
		p.SystemPrompt != "You are lilith." {
		t.Fatalf("after update: %+v", p.Personality)
	}
	empty := ""
	if err := s.UpdatePersonality(ctx, id, store.PersonalityPatch{ErrorMessage: &empty, Birthday: &store.Birthday{}}); err != nil {
		t.Fatal(err)
	}
	p, _ = s.PersonalityByID(ctx, id, 0)
	if p.ErrorMessage != nil || p.BirthMonth != nil || p.Name != name {
		t.Fatalf("after clearing: %+v", p.Personality)
	}
	// A value the database refuses changes nothing, not even the valid fields.
	blank, prompt := "   ", "new prompt"
	err = s.UpdatePersonality(ctx, id, store.PersonalityPatch{Name: &blank, SystemPrompt: &prompt})
	if !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("blank name: %v", err)
	}
	p, _ = s.PersonalityByID(ctx, id, 0)
	if p.SystemPrompt != "You are lilith." {
		t.Fatal("a refused update changed the prompt")
	}
	if err := s.UpdatePersonality(ctx, id+100, store.PersonalityPatch{Name: &name}); !errors.Is(err, store.ErrPersonalityAbsent) {
		t.Fatalf("missing personality: %v", err)
	}
}

func TestManageablePersonalitiesAndHolders(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alice, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		t.Fatal(err)
	}
	mine, err := s.CreatePersonality(ctx, store.NewPersonality{Slug: "lilith", Name: "Lilith", OwnerUserID: &alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	createPersonality(t, s, "lucifer")
	if err := s.AddAlias(ctx, mine, "Lily"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ManageablePersonalities(ctx, alice.ID, "LIL", 25)
	if err != nil || len(got) != 1 || got[0].Slug != "lilith" {
		t.Fatalf("alice's = %+v, %v", got, err)
	}
	all, _ := s.ManageablePersonalities(ctx, 0, "lu", 25)
	if len(all) != 1 || all[0].Slug != "lucifer" {
		t.Fatalf("search lu = %+v", all)
	}
	byAlias, _ := s.ManageablePersonalities(ctx, 0, "lily", 25)
	if len(byAlias) != 1 || byAlias[0].Slug != "lilith" {
		t.Fatalf("search by alias = %+v", byAlias)
	}
	if h, ok, err := s.AliasHolder(ctx, "LILY"); err != nil || !ok || h.ID != mine {
		t.Fatalf("alias holder = %+v %v %v", h, ok, err)
	}
	if h, ok, _ := s.NameHolder(ctx, "LUCIFER", mine); !ok || h.Slug != "lucifer" {
		t.Fatalf("name holder = %+v", h)
	}
	if _, ok, _ := s.NameHolder(ctx, "lilith", mine); ok {
		t.Fatal("a personality holds its own name against itself")
	}
	if id, ok, err := s.UserID(ctx, alice.DiscordID); err != nil || !ok || id != alice.ID {
		t.Fatalf("UserID = %d %v %v", id, ok, err)
	}
	if _, ok, _ := s.UserID(ctx, snowflake()); ok {
		t.Fatal("UserID found a user that never came")
	}
}

func TestUsageByDayCountsInTheUsersZone(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	u, _ := s.UserByDiscordID(ctx, snowflake())
	other, _ := s.UserByDiscordID(ctx, snowflake())
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	add := func(userID int64, at time.Time, in, out int) {
		t.Helper()
		req := fmt.Sprintf("r%d-%d", userID, at.UnixNano())
		if _, err := s.InsertUsage(ctx, store.Usage{RequestID: req, UserID: userID, Provider: "openai", Model: "m",
			Kind: store.KindText, InputTokens: in, OutputTokens: out}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `UPDATE usage_logs SET created_at = $1 WHERE request_id = $2`, at, req); err != nil {
			t.Fatal(err)
		}
	}
	// 16:00 UTC on the 13th is 01:00 on the 14th in Tokyo.
	add(u.ID, time.Date(2026, 3, 13, 16, 0, 0, 0, time.UTC), 10, 1)
	add(u.ID, time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC), 20, 2)
	add(other.ID, time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC), 500, 500)

	days, err := s.UsageByDay(ctx, u.ID, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || !days[0].Day.Equal(time.Date(2026, 3, 13, 0, 0, 0, 0, tokyo)) || days[0].InputTokens != 20 ||
		!days[1].Day.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, tokyo)) || days[1].InputTokens != 10 {
		t.Fatalf("days = %+v", days)
	}
	everyone, _ := s.UsageByDay(ctx, 0, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	if len(everyone) != 1 || everyone[0].Requests != 3 {
		t.Fatalf("everyone's days = %+v", everyone)
	}
	top, err := s.TopUsers(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 10)
	if err != nil || len(top) != 2 || top[0].DiscordID != other.DiscordID || top[1].InputTokens != 30 {
		t.Fatalf("top = %+v, %v", top, err)
	}
}
