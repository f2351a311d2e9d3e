package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// withKey stores key as u's openai key, as /wallet set would.
func (e *env) withKey(u discordfake.User, key string) discordfake.User {
	e.t.Helper()
	if err := e.store.SetAPIKey(context.Background(), u.ID, "openai", key); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// modelChoices types in /personality llm's model option and returns the
// offered choices (values, and the names shown).
func (e *env) modelChoices(u discordfake.User, typed string, opts ...discordfake.CommandOption) (values, names []string) {
	e.t.Helper()
	in := e.spec(u)
	opts = append(opts, discordfake.CommandOption{Name: "model", Type: discordfake.OptionString, Value: typed, Focused: true})
	a := e.inject(in, discordfake.Autocomplete(in, "personality", sub("llm", opts...)))
	if a.Type != 8 {
		e.t.Fatalf("autocomplete answered type %d", a.Type)
	}
	raw, ok := a.Data["choices"].([]any)
	if !ok {
		e.t.Fatalf("autocomplete answer has no choices list: %v", a.Data)
	}
	for _, c := range raw {
		m := c.(map[string]any)
		values, names = append(values, m["value"].(string)), append(names, m["name"].(string))
	}
	if len(values) > 25 {
		e.t.Errorf("%d choices, more than Discord's 25", len(values))
	}
	for _, n := range names {
		if len([]rune(n)) > 100 {
			e.t.Errorf("choice name %q is longer than Discord's 100 characters", n)
		}
	}
	return values, names
}

func TestModelAutocompleteOffersTheProvidersModels(t *testing.T) {
	e := newEnv(t)
	u := e.withKey(e.user(), keyGood)
	e.create(u, "lilith", "Lilith")
	provider := str("provider", "openai")

	got, _ := e.modelChoices(u, "gpt-4", str("personality", "lilith"), provider)
	// Ids starting with what was typed first, then ids containing it; no
	// embedding or speech models (chat cannot use them).
	if want := "gpt-4-turbo,gpt-4.1,gpt-4o,gpt-4o-mini,chatgpt-4o-latest"; strings.Join(got, ",") != want {
		t.Fatalf(`"gpt-4" offers %v, want %s`, got, want)
	}
	got, _ = e.modelChoices(u, "GPT-4O", str("personality", "lilith"), provider)
	if want := "gpt-4o,gpt-4o-mini,chatgpt-4o-latest"; strings.Join(got, ",") != want {
		t.Fatalf(`"GPT-4O" offers %v, want the exact match first: %s`, got, want)
	}
	// With the provider not chosen yet, the personality's current one.
	mustSay(t, e.slash(u, "personality", sub("llm", str("personality", "lilith"), provider, str("model", "gpt-4o"))), "now uses")
	got, _ = e.modelChoices(u, "o3", str("personality", "lilith"))
	if strings.Join(got, ",") != "o3-mini" {
		t.Fatalf(`"o3" without a provider offers %v, want the personality's provider's o3-mini`, got)
	}
	// One list request served every keystroke and the save above.
	if n := e.openai.calls.Load(); n != 1 {
		t.Fatalf("the provider was asked %d times, want once (the list is cached)", n)
	}
	// A new key stored with /wallet set is another account: its list is
	// fetched anew, not served from the old key's.
	mustSay(t, e.submitKey(u, e.openForm(u, "openai"), keyOther), "openai")
	if got, _ := e.modelChoices(u, "ft:", provider); strings.Join(got, ",") != "ft:gpt-4o-mini:acme::abc123" {
		t.Fatalf(`after /wallet set with another key, "ft:" offers %v`, got)
	}
}

func TestModelAutocompleteEachUserSeesTheirOwnList(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.withKey(e.user(), keyGood), e.withKey(e.user(), keyOther)
	a, _ := e.modelChoices(alice, "", str("provider", "openai"))
	b, names := e.modelChoices(bob, "", str("provider", "openai"))
	if strings.Join(b, ",") != "ft:gpt-4o-mini:acme::abc123,gpt-4o" || strings.Join(names, ",") != strings.Join(b, ",") {
		t.Fatalf("bob is offered %v (%v)", b, names)
	}
	for _, v := range a {
		if strings.HasPrefix(v, "ft:") {
			t.Fatalf("alice is offered bob's fine-tuned model: %v", a)
		}
	}
	if !strings.Contains(strings.Join(a, ","), "gpt-test") {
		t.Fatalf("alice is offered %v, want her account's models", a)
	}
	if n := e.openai.calls.Load(); n != 2 {
		t.Fatalf("the provider was asked %d times, want once per user", n)
	}
}

func TestModelAutocompleteAnswersWhenTheProviderIsDown(t *testing.T) {
	e := newEnv(t)
	t.Run("failing", func(t *testing.T) {
		e := e.in(t)
		u := e.withKey(e.user(), keyFlaky) // the provider answers 503
		before := e.openai.calls.Load()
		for range 3 {
			got, _ := e.modelChoices(u, "", str("provider", "openai"))
			if strings.Join(got, ",") != "gpt-4o-mini" {
				t.Fatalf("with the provider failing, offered %v; want the entry's default model", got)
			}
		}
		// The failure is remembered: three keystrokes, one request.
		if n := e.openai.calls.Load() - before; n != 1 {
			t.Fatalf("%d requests for three keystrokes, want 1", n)
		}
	})
	t.Run("hanging", func(t *testing.T) {
		e := e.in(t)
		u := e.withKey(e.user(), keyGood)
		release := e.openai.holdRequests(t)
		// The answer comes while the provider still holds the request open.
		got, _ := e.modelChoices(u, "mini", str("provider", "openai"))
		if strings.Join(got, ",") != "gpt-4o-mini" {
			t.Fatalf("with the provider hanging, offered %v; want the default model", got)
		}
		release()
	})
	t.Run("no key", func(t *testing.T) {
		e := e.in(t)
		got, _ := e.modelChoices(e.user(), "gpt", str("provider", "openai"))
		if strings.Join(got, ",") != "gpt-4o-mini" {
			t.Fatalf("without a key, offered %v; want the default model", got)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		e := e.in(t)
		if got, _ := e.modelChoices(e.user(), "gpt", str("provider", "nope")); len(got) != 0 {
			t.Fatalf("for an unknown provider, offered %v", got)
		}
	})
}

func TestLLMWarnsAboutAModelNotInTheList(t *testing.T) {
	e := newEnv(t)
	u := e.withKey(e.user(), keyGood)
	id := e.create(u, "lilith", "Lilith")
	a := e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "openai"), str("model", "gpt-4o-minni")))
	mustSay(t, a, "now uses **gpt-4o-minni**", "`gpt-4o-minni` is not in openai's model list", "saved anyway")
	p, _ := e.store.PersonalityByID(context.Background(), id, 0)
	if p.LLM.Model != "gpt-4o-minni" {
		t.Fatalf("the model was not saved: %+v", p.LLM)
	}
	a = e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "openai"), str("model", "gpt-4o-mini")))
	mustSay(t, a, "now uses **gpt-4o-mini**")
	if strings.Contains(a.Content, "not in") {
		t.Fatalf("a listed model got a warning: %q", a.Content)
	}
}
