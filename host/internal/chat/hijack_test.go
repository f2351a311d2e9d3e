package chat_test

import (
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// Issue 9, end to end: user B tries to take user A's "@Nyx" with a display
// name, A's "@Iris" with a slug and A's "@qa-iris" with an alias. Each claim
// is refused, and when A then calls Nyx, Iris and qa-iris, A's own
// personalities answer with their own prompts (before the fix, B's
// personality answered as Nyx, with B's prompt, on A's key).
func TestAnotherUsersPersonalityCannotTakeAMention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.setKey(userID)
	nyx := h.personality(personalitySpec{slug: "qa-nyx", name: "Nyx", prompt: "PROMPT-OF-A-NYX"})
	iris := h.personality(personalitySpec{slug: "qa-iris", name: "Iris", prompt: "PROMPT-OF-A-IRIS"})
	impostor := h.personality(personalitySpec{slug: "impostor", name: "Impostor", prompt: "PROMPT-OF-B"})

	nyxName := "Nyx"
	if err := h.store.UpdatePersonality(h.ctx, impostor, store.PersonalityPatch{DisplayName: &nyxName}); err == nil {
		t.Error("B's display name Nyx was accepted")
	}
	if _, err := h.store.CreatePersonality(h.ctx, store.NewPersonality{Slug: "iris", Name: "Impostor Two", SystemPrompt: "PROMPT-OF-B"}); err == nil {
		t.Error("B's slug iris was accepted")
	}
	if err := h.store.AddAlias(h.ctx, impostor, "qa-iris"); err == nil {
		t.Error("B's alias qa-iris was accepted")
	}
	if err := h.pipeline.RefreshMentions(h.ctx); err != nil {
		t.Fatal(err)
	}

	for i, c := range []struct {
		text, name, prompt string
		pid                int64
	}{
		{"@Nyx hi", "Nyx", "PROMPT-OF-A-NYX", nyx},
		{"@Iris hi", "Iris", "PROMPT-OF-A-IRIS", iris},
		{"@qa-iris hi", "Iris", "PROMPT-OF-A-IRIS", iris},
	} {
		h.send(discordfake.MessageSpec{Content: c.text})
		posted := h.posted()
		reqs := h.provider.received()
		if len(posted) != i+1 || len(reqs) != i+1 {
			t.Fatalf("%q: %d posts, %d provider calls in all, want %d", c.text, len(posted), len(reqs), i+1)
		}
		if got := posted[i]; got.AuthorName != c.name {
			t.Errorf("%q was answered as %q, want %q", c.text, got.AuthorName, c.name)
		}
		if sys := reqs[i].system(); !strings.Contains(sys, c.prompt) || strings.Contains(sys, "PROMPT-OF-B") {
			t.Errorf("%q reached the wrong personality; its system prompt:\n%s", c.text, sys)
		}
		if got, ok, err := h.store.PersonalityForMessage(h.ctx, posted[i].ID); err != nil || !ok || got != c.pid {
			t.Errorf("%q: the reply is mapped to personality %d, want %d (%v)", c.text, got, c.pid, err)
		}
	}
}
