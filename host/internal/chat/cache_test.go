package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// readsOfCachedTables are the statements a reply for a known user and
// personality must not send: they are served from the caches.
var readsOfCachedTables = []string{"INSERT INTO users", "FROM personalities", "user_api_keys", "personality_tools", "image_configs"}

// TestAKnownUsersReplyTakesAtMostThreeRoundTrips counts every round trip
// the store's pool makes while the pipeline answers (a pgx tracer; pings
// off): a user and personality seen before cost the rate-limit statement
// and the reply's record batch, nothing else. A user seen for the first
// time is written once.
func TestAKnownUsersReplyTakesAtMostThreeRoundTrips(t *testing.T) {
	h := newHarness(t, harnessOptions{cached: true,
		limits:   &ratelimit.Settings{UserPerMinute: 1000, GuildPerMinute: 1000},
		fallback: chat.Fallback{Keys: map[string]string{"openrouter": hostKey}, Everyone: true}})
	h.personality(personalitySpec{slug: "bambi"})
	h.setKey(userID)
	const newcomer = "700000000000000077"
	alice := discordfake.User{ID: userID, Username: "alice"}
	carol := discordfake.User{ID: newcomer, Username: "carol"}

	// Warm up: every statement prepared once on the pool's connection.
	h.send(discordfake.MessageSpec{Content: "@bambi warming up", Author: alice})
	h.trips.Take()

	// The newcomer is created by their first message (one write), and
	// served by the fallback key.
	h.send(discordfake.MessageSpec{Content: "@bambi hello, I am new", Author: carol})
	first := h.trips.Take()
	if n := countContaining(first, "INSERT INTO users"); n != 1 {
		t.Fatalf("a first message wrote the user %d times, want once: %q", n, first)
	}

	for i := range 6 {
		who := []discordfake.User{alice, carol}[i%2]
		h.send(discordfake.MessageSpec{Content: "@bambi how are you?", Author: who})
		sent := h.trips.Take()
		if len(sent) > 3 {
			t.Fatalf("reply %d (%s) took %d round trips, want at most 3:\n%s", i, who.Username, len(sent), strings.Join(sent, "\n"))
		}
		for _, cached := range readsOfCachedTables {
			if n := countContaining(sent, cached); n > 0 {
				t.Fatalf("reply %d (%s) still sent %q:\n%s", i, who.Username, cached, strings.Join(sent, "\n"))
			}
		}
		t.Logf("reply %d (%s): %d round trips: %q", i, who.Username, len(sent), sent)
	}
	if got := len(h.posted()); got != 8 {
		t.Fatalf("%d replies posted, want 8", got)
	}
	if n := h.usageRows(); n != 8 {
		t.Fatalf("%d usage rows, want 8", n)
	}
	reqs := h.provider.received()
	if reqs[0].Auth != "Bearer "+userKey || reqs[1].Auth != "Bearer "+hostKey || reqs[7].Auth != "Bearer "+hostKey || reqs[6].Auth != "Bearer "+userKey {
		t.Fatal("a cached key was served to the wrong user")
	}
}

func countContaining(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// TestAPersonalityEditIsSeenByTheNextReply: an edit made by a slash command
// in this process is in the very next reply; one made by another process is
// in the first reply after its notification arrived; a personality another
// process deleted is silent.
func TestAPersonalityEditIsSeenByTheNextReply(t *testing.T) {
	h := newHarness(t, harnessOptions{cached: true})
	id := h.personality(personalitySpec{slug: "bambi", prompt: "You are calm."})
	h.setKey(userID)
	lastPrompt := func() string {
		reqs := h.provider.received()
		return reqs[len(reqs)-1].system()
	}
	h.send(discordfake.MessageSpec{Content: "@bambi hi"})
	// The waits below look at the entry the pipeline reads (this user's),
	// which stays cached until a notification drops it.
	alice, err := h.store.UserByDiscordID(h.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastPrompt(), "You are calm.") {
		t.Fatalf("first prompt:\n%s", lastPrompt())
	}

	// This process (what /personality edit calls).
	excited := "You are excited."
	if err := h.store.UpdatePersonality(h.ctx, id, store.PersonalityPatch{SystemPrompt: &excited}); err != nil {
		t.Fatal(err)
	}
	h.send(discordfake.MessageSpec{Content: "@bambi hi again"})
	if !strings.Contains(lastPrompt(), excited) {
		t.Fatalf("the reply after an edit in this process used the old personality:\n%s", lastPrompt())
	}

	// Another process: its own pool and store, no shared memory.
	other := store.New(pgtest.Pool(t, h.dsn), h.vault, nil)
	sleepy := "You are sleepy."
	if err := other.UpdatePersonality(h.ctx, id, store.PersonalityPatch{SystemPrompt: &sleepy}); err != nil {
		t.Fatal(err)
	}
	h.waitForCache("the other process's edit", func() bool {
		p, err := h.store.PersonalityByID(h.ctx, id, alice.ID)
		return err == nil && p.SystemPrompt == sleepy
	})
	h.send(discordfake.MessageSpec{Content: "@bambi still there?"})
	if !strings.Contains(lastPrompt(), sleepy) {
		t.Fatalf("the reply after another process's edit used the old personality:\n%s", lastPrompt())
	}

	if _, err := other.DeletePersonality(h.ctx, id); err != nil {
		t.Fatal(err)
	}
	h.waitForCache("the other process's deletion", func() bool {
		_, err := h.store.PersonalityByID(h.ctx, id, alice.ID)
		return errors.Is(err, store.ErrPersonalityAbsent)
	})
	calls := h.provider.calls.Load()
	h.send(discordfake.MessageSpec{Content: "@bambi are you gone?"})
	if got := len(h.posted()); got != 3 || h.provider.calls.Load() != calls {
		t.Fatalf("a deleted personality answered: %d posts, %d provider calls (was %d)", got, h.provider.calls.Load(), calls)
	}
}

// waitForCache waits, notification by notification, until ok holds; the
// minute only guards against a hung test.
func (h *harness) waitForCache(what string, ok func() bool) {
	h.t.Helper()
	deadline := time.After(time.Minute)
	for {
		ch, _, _ := h.listener.Changed()
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			h.t.Fatalf("never happened: %s", what)
		}
	}
}
