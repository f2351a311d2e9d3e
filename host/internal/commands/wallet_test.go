package commands_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// openForm runs /wallet set and returns the modal's custom id.
func (e *env) openForm(u discordfake.User, provider string) string {
	e.t.Helper()
	a := e.slash(u, "wallet", sub("set", str("provider", provider)))
	if a.Type != 9 {
		e.t.Fatalf("/wallet set answered type %d (%q), want a modal (9)", a.Type, a.Content)
	}
	id, _ := a.Data["custom_id"].(string)
	if id == "" {
		e.t.Fatalf("modal without custom_id: %v", a.Data)
	}
	return id
}

// submitKey submits the key form with the given text.
func (e *env) submitKey(u discordfake.User, customID, key string) answer {
	e.t.Helper()
	in := e.spec(u)
	return e.inject(in, discordfake.ModalSubmit(in, customID, map[string]string{"key": key}))
}

func (e *env) storedCiphertext(discordID string) []byte {
	e.t.Helper()
	var c []byte
	err := e.store.Pool().QueryRow(context.Background(),
		`SELECT k.ciphertext FROM user_api_keys k JOIN users u ON u.id = k.user_id WHERE u.discord_id = $1`, discordID).Scan(&c)
	if err != nil {
		e.t.Fatalf("stored key: %v", err)
	}
	return c
}

func TestWalletSetOpensAModalAndStoresAValidatedKeyEncrypted(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	id := e.openForm(u, "openai")
	if !strings.HasPrefix(id, "/wallet-key/openai/") {
		t.Fatalf("custom id %q", id)
	}
	// Pasted with a trailing newline and leading spaces: trimmed, not refused.
	a := e.submitKey(u, id, "  "+keyGood+"\n")
	if a.Type != 5 {
		t.Fatalf("the key form must be deferred (validation can take seconds), got type %d", a.Type)
	}
	mustSay(t, a, "Saved your **openai** key", "sk-good-…ghij")
	if strings.Contains(a.Content, keyGood) {
		t.Fatal("the reply shows the whole key")
	}
	if e.openai.calls.Load() != 1 {
		t.Fatalf("the provider was asked %d times, want once", e.openai.calls.Load())
	}
	if bytes.Contains(e.storedCiphertext(u.ID), []byte(keyGood)) {
		t.Fatal("the key is stored in plaintext")
	}
	key, ok, err := e.store.APIKey(context.Background(), u.ID, "openai")
	if err != nil || !ok || key != keyGood {
		t.Fatalf("stored key = %q, %v, %v", key, ok, err)
	}
	list := e.slash(u, "wallet", sub("list"))
	mustSay(t, list, "**openai** `sk-good-…ghij`", "checked <t:")
	if strings.Contains(list.Content, keyGood) || strings.Contains(e.logs.String(), keyGood) {
		t.Fatal("the key leaked into the list or the logs")
	}
}

func TestWalletRejectedKeysAreNotStored(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	for _, tc := range []struct {
		name, key string
		want      []string
	}{
		{"invalid", keyWrong, []string{"**openai** refused this key", "Nothing was saved."}},
		{"no credit", keyBroke, []string{"no credit left", "quota", "Nothing was saved."}},
		{"unreachable", keyFlaky, []string{"Could not reach **openai**", "Nothing was saved"}},
		{"newline inside", "sk-good-0123\n456789abcdefghij", []string{"space or line break in the middle", "not saved"}},
		{"space inside", "sk-good-0123 456789abcdefghij", []string{"space or line break in the middle"}},
		{"blank", " \n\t ", []string{"empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t) // failures belong to this case
			id := e.openForm(u, "openai")
			before := e.snapshot()
			a := e.submitKey(u, id, tc.key)
			mustSay(t, a, tc.want...)
			e.unchanged(before)
		})
	}
	// The provider echoes the refused key; the user sees it masked and the
	// logs never see it.
	id := e.openForm(u, "openai")
	a := e.submitKey(u, id, keyWrong)
	if strings.Contains(a.Content, keyWrong) || strings.Contains(e.logs.String(), keyWrong) {
		t.Fatalf("a refused key leaked: reply %q", a.Content)
	}
}

func TestWalletUnknownProviderIsRefusedWithTheChoices(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot()
	a := e.slash(e.user(), "wallet", sub("set", str("provider", "anthropic")))
	mustSay(t, a, "`anthropic` is not a provider", "`openai`")
	e.unchanged(before)
}

func TestWalletRemoveAndRemovingAKeyThatDoesNotExist(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	before := e.snapshot()
	a := e.slash(u, "wallet", sub("remove", str("provider", "openai")))
	mustSay(t, a, "no key stored for **openai**", "nothing was removed")
	e.unchanged(before)

	e.submitKey(u, e.openForm(u, "openai"), keyGood)
	a = e.slash(u, "wallet", sub("remove", str("provider", "openai")))
	mustSay(t, a, "Removed your **openai** key")
	if _, ok, _ := e.store.APIKey(context.Background(), u.ID, "openai"); ok {
		t.Fatal("the key is still stored")
	}
}

// A key form opened to replace a key, submitted after that key was removed
// (from another device, or by /wallet remove in between), is out of date:
// it is refused and nothing is stored. Likewise a form opened when there was
// no key, submitted after one was added elsewhere.
func TestWalletFormSubmittedAfterTheKeyWasRemovedIsRefused(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	e.submitKey(u, e.openForm(u, "openai"), keyGood)

	stale := e.openForm(u, "openai") // opened to replace sk-good-…
	mustSay(t, e.slash(u, "wallet", sub("remove", str("provider", "openai"))), "Removed")
	calls := e.openai.calls.Load()
	before := e.snapshot()
	a := e.submitKey(u, stale, keyGood)
	mustSay(t, a, "was removed after you opened this form", "Nothing was saved", "/wallet set openai")
	e.unchanged(before)
	if e.openai.calls.Load() != calls {
		t.Fatal("a stale form should be refused before the key is sent to the provider")
	}

	fresh := e.openForm(u, "openai") // no key now
	e.submitKey(u, e.openForm(u, "openai"), keyGood)
	before = e.snapshot()
	a = e.submitKey(u, fresh, keyGood)
	mustSay(t, a, "was added after you opened this form", "Nothing was saved")
	e.unchanged(before)
}

func TestWalletTestChecksTheStoredKey(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	before := e.snapshot()
	mustSay(t, e.slash(u, "wallet", sub("test", str("provider", "openai"))), "no key stored for **openai**")
	e.unchanged(before)

	e.submitKey(u, e.openForm(u, "openai"), keyGood)
	a := e.slash(u, "wallet", sub("test", str("provider", "openai")))
	mustSay(t, a, "works", "sk-good-…ghij")
}

func TestWalletAutocompleteOffersTheLoadedKeyProviders(t *testing.T) {
	e := newEnv(t)
	in := e.spec(e.user())
	a := e.inject(in, discordfake.Autocomplete(in, "wallet", sub("set",
		discordfake.CommandOption{Name: "provider", Type: discordfake.OptionString, Value: "op", Focused: true})))
	if a.Type != 8 {
		t.Fatalf("autocomplete answered type %d", a.Type)
	}
	ch, _ := a.Data["choices"].([]any)
	if len(ch) != 1 || ch[0].(map[string]any)["value"] != "openai" {
		t.Fatalf("choices = %v, want openai", a.Data["choices"])
	}
}
