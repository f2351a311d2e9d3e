package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// memoryAbout inserts a memory formed in a conversation and returns its id.
func memoryAbout(t *testing.T, s *store.Store, personalityID int64, content string, about ...int64) int64 {
	t.Helper()
	var id int64
	err := s.Pool().QueryRow(context.Background(), `
INSERT INTO personality_memories (personality_id, source_system, content, formed_by, is_dm, about_user_ids, present_user_ids)
VALUES ($1, 'tzurot', $2, 'summary', $3, $4, $4) RETURNING id`, personalityID, content, len(about) == 1, about).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func contents(list []store.UserMemory) []string {
	out := []string{}
	for _, m := range list {
		out = append(out, m.Content)
	}
	return out
}

func TestUserMemoriesAreOnlyTheUsers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, _ := s.UserByDiscordID(ctx, snowflake())
	b, _ := s.UserByDiscordID(ctx, snowflake())
	p := createPersonality(t, s, "nyx")
	q := createPersonality(t, s, "lilith")
	mine := memoryAbout(t, s, p, "Alice walked her dog in the park", a.ID)
	memoryAbout(t, s, q, "Alice is learning the cello", a.ID)
	shared := memoryAbout(t, s, p, "Alice and Bob planned a trip to Lisbon", a.ID, b.ID)
	theirs := memoryAbout(t, s, p, "Bob walks his dog every morning", b.ID)

	list, total, err := s.MemoriesAbout(ctx, a.ID, 0, 10, 0)
	if err != nil || total != 3 || len(list) != 3 {
		t.Fatalf("Alice's memories: %v (total %d), %v", contents(list), total, err)
	}
	for _, m := range list {
		if m.ID == theirs {
			t.Errorf("Bob's memory is listed for Alice")
		}
		if m.Shared != (m.ID == shared) {
			t.Errorf("memory %d shared = %v", m.ID, m.Shared)
		}
	}
	if list, total, _ := s.MemoriesAbout(ctx, a.ID, q, 10, 0); total != 1 || len(list) != 1 || list[0].PersonalitySlug != "lilith" {
		t.Errorf("Alice's memories of lilith: %v (total %d)", contents(list), total)
	}
	if list, total, _ := s.MemoriesAbout(ctx, a.ID, 0, 2, 2); total != 3 || len(list) != 1 {
		t.Errorf("second page of 2: %v (total %d)", contents(list), total)
	}

	// Search: stemmed words; Bob's walking is never found for Alice.
	found, err := s.SearchMemoriesAbout(ctx, a.ID, 0, "walking dogs", 10)
	if err != nil || len(found) != 1 || found[0].ID != mine {
		t.Errorf("search 'walking dogs': %v, %v", contents(found), err)
	}

	// Forgetting Bob's memory as Alice: not found, and it stays.
	if _, ok, err := s.ForgetMemory(ctx, a.ID, theirs); ok || err != nil {
		t.Errorf("Alice forgot Bob's memory: %v, %v", ok, err)
	}
	if _, ok, err := s.ForgetMemory(ctx, a.ID, theirs+1000); ok || err != nil {
		t.Errorf("a memory that does not exist: %v, %v", ok, err)
	}
	if _, total, _ := s.MemoriesAbout(ctx, b.ID, 0, 10, 0); total != 2 {
		t.Errorf("Bob has %d memories, want 2 (his own and the shared one)", total)
	}
	m, ok, err := s.ForgetMemory(ctx, a.ID, mine)
	if !ok || err != nil || m.Content != "Alice walked her dog in the park" || m.PersonalityName != "Nyx" {
		t.Errorf("forget her own: %+v, %v, %v", m, ok, err)
	}

	// Forget all for one personality, then everything.
	if n, err := s.ForgetAllMemories(ctx, a.ID, q); n != 1 || err != nil {
		t.Errorf("forget all of lilith: %d, %v", n, err)
	}
	if n, err := s.ForgetAllMemories(ctx, a.ID, 0); n != 1 || err != nil {
		t.Errorf("forget all: %d, %v (the shared one was left)", n, err)
	}
	if n, _ := s.CountMemoriesAbout(ctx, a.ID, 0); n != 0 {
		t.Errorf("Alice still has %d memories", n)
	}
	if list, total, _ := s.MemoriesAbout(ctx, b.ID, 0, 10, 0); total != 1 || list[0].ID != theirs {
		t.Errorf("Bob's own memory after Alice forgot hers: %v", contents(list))
	}
}

// Search text is only ever words: tsquery operators and SQL fragments find
// what contains them as words, never fail and never run.
func TestMemorySearchHostileText(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, _ := s.UserByDiscordID(ctx, snowflake())
	p := createPersonality(t, s, "nyx")
	memoryAbout(t, s, p, "Alice drinks tea with milk", a.ID)
	memoryAbout(t, s, p, "Alice's favourite table is by the window", a.ID)
	memoryAbout(t, s, p, "東京タワーに行った", a.ID) // no spaces: one token for the 'simple' configuration
	memoryAbout(t, s, p, "progress: 100% done_now", a.ID)

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"tea & milk", []string{"Alice drinks tea with milk"}},
		{"tea | !milk", []string{"Alice drinks tea with milk"}},
		{"(tea):* & !", []string{"Alice drinks tea with milk"}},
		{"&|!():*", nil},
		{"'; DROP TABLE users; --", nil},
		{"table'); DELETE FROM personality_memories; --", nil},
		{"table'); --", []string{"Alice's favourite table is by the window"}},
		{`" OR 1=1 --`, nil},
		{"tea\\", []string{"Alice drinks tea with milk"}},
		{"東京タワー", []string{"東京タワーに行った"}}, // the substring fallback
		{"100%", []string{"progress: 100% done_now"}},
		{"%", []string{"progress: 100% done_now"}}, // LIKE's wildcard is a character
		{"e_n", []string{"progress: 100% done_now"}},
		{"_", []string{"progress: 100% done_now"}},
	} {
		got, err := s.SearchMemoriesAbout(ctx, a.ID, 0, tc.query, 10)
		if err != nil {
			t.Errorf("search %q: %v", tc.query, err)
			continue
		}
		if fmt.Sprint(contents(got)) != fmt.Sprint(append([]string{}, tc.want...)) {
			t.Errorf("search %q = %q, want %q", tc.query, contents(got), tc.want)
		}
	}
	var users, memories int
	_ = s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM personality_memories)`).Scan(&users, &memories)
	if users != 1 || memories != 4 {
		t.Errorf("after the searches: %d users, %d memories", users, memories)
	}
	if _, err := s.SearchMemoriesAbout(ctx, a.ID, 0, "  ", 10); !errors.Is(err, store.ErrInvalidInput) {
		t.Errorf("empty search: %v", err)
	}
	if _, err := s.SearchMemoriesAbout(ctx, a.ID, 0, strings.Repeat("a", store.MaxMemorySearchRunes+1), 10); !errors.Is(err, store.ErrInvalidInput) {
		t.Errorf("long search: %v", err)
	}
}

func TestUserPersonas(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, _ := s.UserByDiscordID(ctx, snowflake())
	p := createPersonality(t, s, "nyx")
	if err := s.SetUserPersona(ctx, a.ID, 0, "  I like tea  "); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserPersona(ctx, a.ID, 0, "I like coffee"); err != nil { // replaces
		t.Fatal(err)
	}
	if err := s.SetUserPersona(ctx, a.ID, p, "Call me captain"); err != nil {
		t.Fatal(err)
	}
	if g, ok, err := s.UserPersonaFor(ctx, a.ID, 0); !ok || err != nil || g.Content != "I like coffee" {
		t.Errorf("global persona: %+v, %v, %v", g, ok, err)
	}
	if g, ok, _ := s.UserPersonaFor(ctx, a.ID, p); !ok || g.Content != "Call me captain" {
		t.Errorf("persona for nyx: %+v", g)
	}
	list, err := s.UserPersonas(ctx, a.ID)
	if err != nil || len(list) != 2 || list[0].PersonalityID != 0 || list[1].PersonalityName != "Nyx" {
		t.Errorf("personas: %+v, %v", list, err)
	}
	long := strings.Repeat("é", store.MaxPersonaRunes+1)
	if err := s.SetUserPersona(ctx, a.ID, 0, long); !errors.Is(err, store.ErrPersonaTooLong) {
		t.Errorf("a persona of %d characters: %v", store.MaxPersonaRunes+1, err)
	}
	if err := s.SetUserPersona(ctx, a.ID, 0, strings.Repeat("é", store.MaxPersonaRunes)); err != nil {
		t.Errorf("a persona of exactly %d characters: %v", store.MaxPersonaRunes, err)
	}
	if ok, err := s.ClearUserPersona(ctx, a.ID, p); !ok || err != nil {
		t.Errorf("clear nyx's: %v, %v", ok, err)
	}
	if ok, _ := s.ClearUserPersona(ctx, a.ID, p); ok {
		t.Error("cleared twice")
	}
	if g, ok, _ := s.UserPersonaFor(ctx, a.ID, 0); !ok || len([]rune(g.Content)) != store.MaxPersonaRunes {
		t.Errorf("the global persona went with nyx's: %v", ok)
	}
}

func TestMemoryFormationRule(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, _ := s.UserByDiscordID(ctx, snowflake())
	p := createPersonality(t, s, "nyx")
	q := createPersonality(t, s, "lilith")
	on, off := true, false
	check := func(step string, wantP, wantQ bool) {
		t.Helper()
		for _, c := range []struct {
			id   int64
			want bool
		}{{p, wantP}, {q, wantQ}} {
			if got, err := s.MemoryFormationAllowed(ctx, a.ID, c.id); err != nil || got != c.want {
				t.Errorf("%s: personality %d allowed = %v (%v), want %v", step, c.id, got, err, c.want)
			}
		}
	}
	check("default", true, true)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetMemoryFormation(ctx, a.ID, 0, &off))
	check("off for all", false, false)
	must(s.SetMemoryFormation(ctx, a.ID, p, &on))
	check("off for all, on for nyx", true, false)
	must(s.SetMemoryFormation(ctx, a.ID, 0, nil))
	must(s.SetMemoryFormation(ctx, a.ID, q, &off))
	check("default, on for nyx, off for lilith", true, false)
	_, err := s.Pool().Exec(ctx, `UPDATE personalities SET memory_formation_enabled = false WHERE id = $1`, p)
	must(err)
	check("nyx's owner turned it off", false, false)
	must(s.SetMemoryFormation(ctx, a.ID, q, nil))
	check("lilith back to default", false, true)
}

func TestKnowledgeEntries(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := createPersonality(t, s, "nyx")
	q := createPersonality(t, s, "lilith")
	keys, err := store.ParseKnowledgeKeys(" tower ,The  Old Tower,, TOWER, bell")
	if err != nil || fmt.Sprint(keys) != "[tower The Old Tower bell]" {
		t.Fatalf("keys: %q, %v", keys, err)
	}
	id, err := s.AddKnowledge(ctx, p, store.KnowledgeEntry{Title: "The tower", Content: "A tower on the hill, its bell broken.", Keys: keys, Priority: 5})
	if err != nil {
		t.Fatal(err)
	}
	always, err := s.AddKnowledge(ctx, p, store.KnowledgeEntry{Title: "Rule", Content: "Never lie.", AlwaysOn: true})
	if err != nil {
		t.Fatal(err)
	}
	list, total, err := s.ListKnowledge(ctx, p, 10, 0)
	if err != nil || total != 2 || list[0].ID != always || list[1].ID != id || list[1].SourceSystem != "tzurot" || fmt.Sprint(list[1].Keys) != fmt.Sprint(keys) {
		t.Errorf("list: %+v (total %d), %v", list, total, err)
	}
	// The full-text vector is filled (retrieval matches on it).
	var matches bool
	if err := s.Pool().QueryRow(ctx, `SELECT tsv @@ plainto_tsquery('english', 'bells') FROM personality_stories WHERE id = $1`, id).Scan(&matches); err != nil || !matches {
		t.Errorf("the entry's text is not searchable: %v, %v", matches, err)
	}
	for _, bad := range []store.KnowledgeEntry{
		{Title: "t", Content: "  "},
		{Title: "t", Content: strings.Repeat("x", store.MaxKnowledgeContentRunes+1)},
		{Title: strings.Repeat("x", store.MaxKnowledgeTitleRunes+1), Content: "c"},
		{Title: "t", Content: "c", Priority: 1001},
		{Title: "t", Content: "c", Keys: make([]string, 51)},
	} {
		if _, err := s.AddKnowledge(ctx, p, bad); !errors.Is(err, store.ErrKnowledge) {
			t.Errorf("refused entry (title %d, content %d, priority %d, %d keys): %v", len(bad.Title), len(bad.Content), bad.Priority, len(bad.Keys), err)
		}
	}
	if keys, err := store.ParseKnowledgeKeys(strings.Repeat("k,", 60) + "last"); err != nil || len(keys) != 2 {
		t.Errorf("a key repeated 60 times counts once: %q, %v", keys, err)
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("k%d", i)
	}
	if _, err := store.ParseKnowledgeKeys(strings.Join(many, ",")); !errors.Is(err, store.ErrKnowledge) {
		t.Errorf("51 keys: %v", err)
	}
	if _, err := store.ParseKnowledgeKeys(strings.Repeat("x", store.MaxKnowledgeKeyRunes+1)); !errors.Is(err, store.ErrKnowledge) {
		t.Errorf("a long key: %v", err)
	}
	// An id of another personality is not found and stays.
	if _, ok, err := s.RemoveKnowledge(ctx, q, id); ok || err != nil {
		t.Errorf("removed nyx's entry through lilith: %v, %v", ok, err)
	}
	if title, ok, err := s.RemoveKnowledge(ctx, p, id); !ok || err != nil || title != "The tower" {
		t.Errorf("remove: %q, %v, %v", title, ok, err)
	}
	if _, total, _ := s.ListKnowledge(ctx, p, 10, 0); total != 1 {
		t.Errorf("after remove: %d entries", total)
	}
}
