package commands

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Waits on a provider's model list. Discord drops an autocomplete answer
// after 3 seconds and a command's first answer likewise, so neither waits
// long: a list not ready in time is ready for the next keystroke.
const (
	defaultModelsWait = 2 * time.Second
	saveModelsWait    = time.Second
)

// maxChoiceValue is Discord's limit on an autocomplete choice's value; a
// longer model id cannot be offered (it can still be typed).
const maxChoiceValue = 100

// modelOwner is whose list a plugin's catalogue is: the user's when the
// plugin lists models with the user's key, nobody's (shared) otherwise.
func modelOwner(st plugin.PluginStatus, discordID string) string {
	if st.Description != nil && st.Description.NeedsKey {
		return discordID
	}
	return ""
}

// knownModels returns plugin st's model list for the user, waiting at most
// wait; nil when none is at hand (not granted, not fetched in time, failed).
func (c *Commands) knownModels(ctx context.Context, st plugin.PluginStatus, discordID string, wait time.Duration) []abi.Model {
	if c.catalog == nil || !grants(st, abi.CapModels) {
		return nil
	}
	return c.catalog.Lookup(ctx, st.Name, modelOwner(st, discordID), wait).Models
}

// autocompleteModel serves /personality llm's model option: the chosen
// provider's models (or the personality's current provider's), those
// matching what was typed, exact and prefix matches first. With no list
// at hand it offers the provider's default model, so the answer always
// comes within Discord's 3 seconds.
func (c *Commands) autocompleteModel(e *handler.AutocompleteEvent, typed string) error {
	st, ok := c.modelProvider(e)
	if !ok {
		return e.AutocompleteResult(choices(nil, nil))
	}
	models := c.knownModels(e.Ctx, st, e.User().ID.String(), c.modelsWait)
	if len(models) == 0 && st.DefaultModel != "" {
		models = []abi.Model{{ID: st.DefaultModel, Name: "default"}}
	}
	names, values := matchModels(models, typed)
	return e.AutocompleteResult(choices(names, values))
}

// modelProvider is the provider the model option is for: the provider
// option as typed, else the personality's current one.
func (c *Commands) modelProvider(e *handler.AutocompleteEvent) (plugin.PluginStatus, bool) {
	name := strings.TrimSpace(e.Data.String("provider"))
	if name == "" {
		if slug := strings.TrimSpace(e.Data.String("personality")); slug != "" {
			if p, err := c.findPersonality(e.Ctx, slug); err == nil {
				name = p.LLM.Provider
			}
		}
	}
	for _, st := range c.loadedPlugins() {
		if st.Name == name && grants(st, abi.CapChat) {
			return st, true
		}
	}
	return plugin.PluginStatus{}, false
}

// matchModels filters models by typed (case-insensitive, in the id or the
// name) and orders them: the exact id, then ids starting with it, then the
// rest, each group in the list's order. Names show "Name (id)" when the
// provider gave a name.
func matchModels(models []abi.Model, typed string) (names, values []string) {
	q := strings.ToLower(strings.TrimSpace(typed))
	var exact, prefix, other []abi.Model
	for _, m := range models {
		if len(m.ID) > maxChoiceValue {
			continue
		}
		switch {
		case len(m.ID) == len(q) && hasPrefixFold(m.ID, q):
			exact = append(exact, m)
		case hasPrefixFold(m.ID, q):
			prefix = append(prefix, m)
		case containsFold(m.ID, q) || containsFold(m.Name, q):
			other = append(other, m)
		}
	}
	for _, m := range slices.Concat(exact, prefix, other) {
		if len(values) == 25 {
			break
		}
		label := m.ID
		if m.Name != "" && m.Name != m.ID {
			label = m.Name + " (" + m.ID + ")"
		}
		names, values = append(names, label), append(values, m.ID)
	}
	return names, values
}

// notListedWarning is the note added when a saved model is not in the
// provider's list ("" when it is, or no list is at hand). The model is
// saved anyway: lists lag behind new models and aliases.
func (c *Commands) notListedWarning(ctx context.Context, st plugin.PluginStatus, discordID, model string) string {
	models := c.knownModels(ctx, st, discordID, c.saveWait)
	if len(models) == 0 || slices.ContainsFunc(models, func(m abi.Model) bool { return m.ID == model }) {
		return ""
	}
	return "\nNote: `" + truncate(model, 100) + "` is not in " + st.Name + "'s model list. It was saved anyway (lists can lag behind new models); check the spelling if replies fail."
}

// forgetModels drops the model lists fetched with the user's keys, after a
// key was stored or removed: the next list is the new key's.
func (c *Commands) forgetModels(discordID string) {
	if c.catalog != nil {
		c.catalog.Forget(discordID)
	}
}

// hasPrefixFold and containsFold compare s with q (already lower case)
// ignoring case, without allocating for ASCII text: they run for every
// model of a list on every keystroke.
func hasPrefixFold(s, q string) bool {
	if !isASCII(s) {
		return strings.HasPrefix(strings.ToLower(s), q)
	}
	return len(s) >= len(q) && asciiPrefixFold(s, q)
}

func containsFold(s, q string) bool {
	if !isASCII(s) {
		return strings.Contains(strings.ToLower(s), q)
	}
	for i := 0; i+len(q) <= len(s); i++ {
		if asciiPrefixFold(s[i:], q) {
			return true
		}
	}
	return false
}

// asciiPrefixFold reports whether ASCII s (at least as long as q) starts
// with q, ignoring the case of s.
func asciiPrefixFold(s, q string) bool {
	for i := 0; i < len(q); i++ {
		if lowerASCII(s[i]) != q[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
