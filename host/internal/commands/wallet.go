package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// walletModalPrefix starts the custom id of the key form:
// /wallet-key/{provider}/{stamp}. The stamp records which key the form was
// opened to replace ("new" for none), so a form submitted after the key was
// removed or changed elsewhere is refused instead of acting on what the user
// no longer sees.
const walletModalPrefix = "/wallet-key"

const stampNew = "new"

// keyProvider is a provider users can store a key for: a plugins.toml key
// slot served by a loaded plugin that can check keys.
type keyProvider struct {
	Slot   string // the provider name users see and keys are stored under
	Plugin string // the plugin entry that checks keys for the slot
}

// keyProviders lists the key slots of the loaded plugins, one entry per slot
// (the first plugin, by name, that is granted llm.validate_key). A new
// provider plugin appears here as soon as it is loaded.
func (c *Commands) keyProviders() []keyProvider {
	var out []keyProvider
	for _, st := range c.loadedPlugins() {
		if st.KeySlot == "" || !grants(st, abi.CapValidateKey) {
			continue
		}
		if slices.ContainsFunc(out, func(p keyProvider) bool { return p.Slot == st.KeySlot }) {
			continue
		}
		out = append(out, keyProvider{Slot: st.KeySlot, Plugin: st.Name})
	}
	slices.SortFunc(out, func(a, b keyProvider) int { return strings.Compare(a.Slot, b.Slot) })
	return out
}

func (c *Commands) keyProvider(slot string) (keyProvider, error) {
	ps := c.keyProviders()
	for _, p := range ps {
		if p.Slot == slot {
			return p, nil
		}
	}
	if len(ps) == 0 {
		return keyProvider{}, sayf("This bot has no provider that takes API keys right now (no loaded plugin has a key slot). Nothing was changed.")
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = "`" + p.Slot + "`"
	}
	return keyProvider{}, sayf("`%s` is not a provider this bot knows. Pick one of: %s.", truncate(slot, 40), strings.Join(names, ", "))
}

// autocompleteProviders offers the key providers; with stored set it adds
// the providers the user has a key for (so a key of a provider whose plugin
// was removed can still be removed).
func (c *Commands) autocompleteProviders(stored bool) handler.AutocompleteHandler {
	return func(e *handler.AutocompleteEvent) error {
		typed := strings.ToLower(strings.TrimSpace(e.Data.String("provider")))
		var names []string
		for _, p := range c.keyProviders() {
			names = append(names, p.Slot)
		}
		if stored {
			keys, err := c.store.ListAPIKeys(e.Ctx, e.User().ID.String())
			if err != nil {
				c.log.WarnContext(e.Ctx, "autocomplete: list keys", "err", err)
			}
			for _, k := range keys {
				if !slices.Contains(names, k.Provider) {
					names = append(names, k.Provider)
				}
			}
			slices.Sort(names)
		}
		var match []string
		for _, n := range names {
			if strings.Contains(n, typed) {
				match = append(match, n)
			}
		}
		return e.AutocompleteResult(choices(match, match))
	}
}

// stampOf identifies a stored key's version: when it was last set.
func stampOf(k store.APIKeyInfo) string { return strconv.FormatInt(k.UpdatedAt.UnixMicro(), 36) }

// storedKey returns the user's key info for provider, if any.
func (c *Commands) storedKey(ctx context.Context, discordID, provider string) (store.APIKeyInfo, bool, error) {
	keys, err := c.store.ListAPIKeys(ctx, discordID)
	if err != nil {
		return store.APIKeyInfo{}, false, err
	}
	for _, k := range keys {
		if k.Provider == provider {
			return k, true, nil
		}
	}
	return store.APIKeyInfo{}, false, nil
}

func providerOption(e *handler.CommandEvent) string {
	return strings.ToLower(strings.TrimSpace(e.SlashCommandInteractionData().String("provider")))
}

// walletSet opens the key form. Keys are never slash command options:
// those are visible in the client's command history and in audit tooling.
func (c *Commands) walletSet(ctx context.Context, e *handler.CommandEvent, _ *reply) error {
	p, err := c.keyProvider(providerOption(e))
	if err != nil {
		return err
	}
	stamp, title := stampNew, "Your "+p.Slot+" API key"
	placeholder := "Paste your " + p.Slot + " API key"
	if k, ok, err := c.storedKey(ctx, e.User().ID.String(), p.Slot); err != nil {
		return err
	} else if ok {
		stamp, placeholder = stampOf(k), "Replaces your key "+k.Hint
	}
	input := discord.NewShortTextInput("key").WithRequired(true).WithMinLength(1).
		WithMaxLength(store.MaxAPIKeyLength).WithPlaceholder(truncate(placeholder, 100))
	modal := discord.NewModalCreate(walletModalPrefix+"/"+p.Slot+"/"+stamp, truncate(title, 45)).
		AddLabel("API key (only you and the provider see it)", input)
	if err := e.Modal(modal); err != nil {
		return fmt.Errorf("open key form: %w", err)
	}
	return nil
}

// cleanKey removes whitespace pasted around a key. Whitespace inside is an
// error: it means two things were pasted, or a key broken over lines.
func cleanKey(raw string) (string, error) {
	invisible := func(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' || r == '\u2060' }
	key := strings.TrimFunc(raw, invisible)
	switch {
	case key == "":
		return "", sayf("The key was empty. Nothing was saved.")
	case strings.ContainsFunc(key, invisible):
		return "", sayf("The key has a space or line break in the middle, so it was not saved. Copy it again in one piece (the provider's copy button is safest).")
	case len(key) > store.MaxAPIKeyLength:
		return "", sayf("That is longer than any API key (%d characters at most). Nothing was saved.", store.MaxAPIKeyLength)
	}
	return key, nil
}

// walletKeySubmit checks the key with the provider's plugin and stores it
// only if the provider accepted it.
func (c *Commands) walletKeySubmit(ctx context.Context, e *handler.ModalEvent, r *reply) error {
	// Checking a key is a network call: acknowledge first (3 s rule).
	if err := r.Defer(); err != nil {
		return err
	}
	user := e.User().ID.String()
	slot, stamp := e.Vars["provider"], e.Vars["stamp"]
	key, err := cleanKey(e.Data.Text("key"))
	if err != nil {
		return err
	}
	p, err := c.keyProvider(slot)
	if err != nil {
		return err
	}
	if err := c.checkStamp(ctx, user, slot, stamp); err != nil {
		return err
	}
	res, err := c.plugins.ValidateKey(plugin.WithCall(ctx, plugin.Call{UserID: user}), p.Plugin, key)
	if err != nil {
		return c.pluginTrouble(p, err)
	}
	if err := keyVerdict(p.Slot, key, res, "Nothing was saved."); err != nil {
		return err
	}
	// The check took a while: make sure the form is still current.
	if err := c.checkStamp(ctx, user, slot, stamp); err != nil {
		return err
	}
	if err := c.store.SetAPIKey(ctx, user, p.Slot, key); err != nil {
		if errors.Is(err, store.ErrInvalidInput) {
			return sayf("That key cannot be stored: %s. Nothing was saved.", strings.TrimPrefix(err.Error(), "invalid input: "))
		}
		return fmt.Errorf("store key: %w", err)
	}
	c.forgetModels(user) // lists fetched with the old key (or none) are not this key's
	if err := c.store.MarkValidated(ctx, user, p.Slot); err != nil {
		return fmt.Errorf("mark key validated: %w", err)
	}
	return r.Send(fmt.Sprintf("Saved your **%s** key `%s`. %s accepted it just now. Replies that use %s now run on your key.",
		p.Slot, vault.Mask(key), p.Slot, p.Slot))
}

// checkStamp refuses a key form whose key was removed, added or replaced
// since it was opened.
func (c *Commands) checkStamp(ctx context.Context, user, slot, stamp string) error {
	k, ok, err := c.storedKey(ctx, user, slot)
	if err != nil {
		return err
	}
	switch {
	case stamp == stampNew && ok:
		return sayf("A **%s** key (`%s`) was added after you opened this form, so the form is out of date. Nothing was saved: run `/wallet set %s` again to replace it.", slot, k.Hint, slot)
	case stamp != stampNew && !ok:
		return sayf("Your **%s** key was removed after you opened this form, so the form is out of date. Nothing was saved: run `/wallet set %s` again to add a key.", slot, slot)
	case stamp != stampNew && stampOf(k) != stamp:
		return sayf("Your **%s** key was changed (it is now `%s`) after you opened this form, so the form is out of date. Nothing was saved: run `/wallet set %s` again.", slot, k.Hint, slot)
	}
	return nil
}

// keyVerdict turns a validation result into nil (valid) or the user's
// words for why not, ending with outcome (what happened to the key). The
// provider's message is shown with the key masked: some providers repeat
// the key they refused.
func keyVerdict(slot, key string, res abi.ValidateKeyResult, outcome string) error {
	said := ""
	if m := strings.TrimSpace(res.Message); m != "" {
		m = strings.ReplaceAll(m, key, vault.Mask(key))
		said = " (" + slot + " said: " + truncate(m, 300) + ")"
	}
	switch res.Status {
	case abi.KeyValid:
		return nil
	case abi.KeyInvalid:
		return sayf("**%s** refused this key%s. Check that you copied the whole key and that it has not been revoked. %s", slot, said, outcome)
	case abi.KeyNoCredit:
		return sayf("**%s** knows this key, but the account has no credit left%s. Add credit (or use another key) and try again. %s", slot, said, outcome)
	case abi.KeyUnreachable:
		return sayf("Could not reach **%s** to check the key%s; try again in a minute. %s", slot, said, outcome)
	}
	return sayf("**%s** gave an answer the bot does not understand (%q). %s", slot, truncate(res.Status, 40), outcome)
}

// pluginTrouble explains a failed plugin call.
func (c *Commands) pluginTrouble(p keyProvider, err error) error {
	var ae *abi.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case abi.ErrTimeout:
			return sayf("Checking the key with **%s** took too long; try again in a minute. Nothing was changed.", p.Slot)
		case abi.ErrUnavailable:
			return sayf("The **%s** provider is not available right now; try again later. Nothing was changed.", p.Slot)
		}
	}
	return fmt.Errorf("validate key with plugin %s: %w", p.Plugin, err)
}

func (c *Commands) walletList(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	keys, err := c.store.ListAPIKeys(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return r.Send("You have no API keys stored. Add one with `/wallet set`; only you will see it, and it is stored encrypted.")
	}
	var b strings.Builder
	b.WriteString("Your API keys (stored encrypted; only the last characters are shown):\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "- **%s** `%s` · checked %s · last used %s\n", k.Provider, k.Hint, when(k.ValidatedAt), when(k.LastUsedAt))
	}
	return r.Send(b.String())
}

// when renders a time as a Discord relative timestamp.
func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return fmt.Sprintf("<t:%d:R>", t.Unix())
}

func (c *Commands) walletRemove(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	provider := providerOption(e)
	removed, err := c.store.RemoveAPIKey(ctx, e.User().ID.String(), provider)
	if err != nil {
		return err
	}
	if !removed {
		return sayf("You have no key stored for **%s**, so nothing was removed. `/wallet list` shows the keys you have.", truncate(provider, 40))
	}
	c.forgetModels(e.User().ID.String())
	return r.Send(fmt.Sprintf("Removed your **%s** key. Replies that need %s will ask you for a key again.", provider, provider))
}

func (c *Commands) walletTest(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	user := e.User().ID.String()
	provider := providerOption(e)
	if _, ok, err := c.storedKey(ctx, user, provider); err != nil {
		return err
	} else if !ok {
		return sayf("You have no key stored for **%s**. Add one with `/wallet set %s`.", truncate(provider, 40), truncate(provider, 40))
	}
	p, err := c.keyProvider(provider)
	if err != nil {
		return err
	}
	if err := r.Defer(); err != nil {
		return err
	}
	key, ok, err := c.store.APIKey(ctx, user, p.Slot)
	if err != nil {
		return err
	}
	if !ok {
		return sayf("Your **%s** key was removed while it was being checked.", p.Slot)
	}
	res, err := c.plugins.ValidateKey(plugin.WithCall(ctx, plugin.Call{UserID: user}), p.Plugin, key)
	if err != nil {
		return c.pluginTrouble(p, err)
	}
	if err := keyVerdict(p.Slot, key, res, "Your stored key was kept; replace it with `/wallet set "+p.Slot+"`."); err != nil {
		return err
	}
	if err := c.store.MarkValidated(ctx, user, p.Slot); err != nil {
		return fmt.Errorf("mark key validated: %w", err)
	}
	return r.Send(fmt.Sprintf("Your **%s** key `%s` works: %s accepted it just now.", p.Slot, vault.Mask(key), p.Slot))
}
