package commands

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// "none" clears an optional text field (slash options cannot be empty).
const clearWord = "none"

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// findPersonality resolves what the user typed (autocomplete sends the
// slug; people also type a name or an alias).
func (c *Commands) findPersonality(ctx context.Context, typed string) (store.Personality, error) {
	typed = strings.TrimPrefix(strings.TrimSpace(typed), "@")
	if typed == "" {
		return store.Personality{}, sayf("Name a personality.")
	}
	p, err := c.store.PersonalityBySlug(ctx, strings.ToLower(typed), 0)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Personality{}, err
	}
	id := int64(0)
	if h, ok, err := c.store.AliasHolder(ctx, typed); err != nil {
		return store.Personality{}, err
	} else if ok {
		id = h.ID
	} else if h, ok, err := c.store.NameHolder(ctx, typed, 0); err != nil {
		return store.Personality{}, err
	} else if ok {
		id = h.ID
	}
	if id == 0 {
		return store.Personality{}, sayf("There is no personality called `%s`. Pick one from the list as you type.", truncate(typed, 100))
	}
	return c.store.PersonalityByID(ctx, id, 0)
}

// manageable loads the personality named in the "personality" option and
// checks that the user may change it: the bot's owners may change any, a
// user only the ones they own. The check reads without writing, so a
// refused user leaves no trace in the database.
func (c *Commands) manageable(ctx context.Context, e *handler.CommandEvent) (store.Personality, error) {
	p, err := c.findPersonality(ctx, e.SlashCommandInteractionData().String("personality"))
	if err != nil {
		return p, err
	}
	discordID := e.User().ID.String()
	if c.isOwner(discordID) {
		return p, nil
	}
	uid, known, err := c.store.UserID(ctx, discordID)
	if err != nil {
		return p, err
	}
	if !known || p.OwnerUserID == nil || *p.OwnerUserID != uid {
		return p, sayf("Only the owner of **%s** (or the bot's owners) can change it. Nothing was changed.", p.Name)
	}
	return p, nil
}

// reindex puts the strings that call the personality, as the database
// records them now (its handles: name, display name, slug and aliases), into
// the trigger's alias index, so the next message already sees the change.
// The index refuses a string another personality holds there; that clash is
// logged with both ids (the mention poll reloads the index from the database).
func (c *Commands) reindex(ctx context.Context, id int64) {
	if c.aliases == nil {
		return
	}
	c.aliases.DeletePersonality(id)
	handles, err := c.store.PersonalityHandles(ctx, id)
	if err != nil {
		c.log.ErrorContext(ctx, "alias index refresh failed; it catches up at the next reload", "personality_id", id, "err", err)
		return
	}
	for _, h := range handles {
		err := c.aliases.Upsert(trigger.Alias{Name: h, PersonalityID: id})
		var clash *trigger.ConflictError
		switch {
		case errors.As(err, &clash):
			c.log.ErrorContext(ctx, "mention index: a name is claimed by two personalities; the first keeps it (run `tzurot doctor names`)",
				"name", clash.Name, "holder_personality_id", clash.HolderID, "refused_personality_id", clash.ClaimantID)
		case err != nil:
			c.log.WarnContext(ctx, "alias not indexed", "personality_id", id, "err", err)
		}
	}
}

// cleanName trims a name or alias, drops a leading "@" and collapses runs
// of whitespace, the way mentions are read from messages.
func cleanName(s string) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(s), "@")), " ")
}

// nameFree refuses a string (a name, display name, slug or alias) that
// already calls another personality: every such string calls exactly one,
// private personalities included (docs/security.md). The refusal names the
// string; it names the personality holding it only when the user may see
// that personality anyway (public, theirs, or the user is a bot owner).
func (c *Commands) nameFree(ctx context.Context, e *handler.CommandEvent, selfID int64, what, typed string) error {
	h, taken, err := c.store.HandleHolder(ctx, typed)
	if err != nil {
		return err
	}
	if !taken || h.ID == selfID {
		return nil
	}
	who := "another personality"
	if c.maySee(ctx, e, h) {
		who = fmt.Sprintf("**%s** (`%s`)", h.Name, h.Slug)
	}
	return sayf("The %s `%s` is already taken: `@%s` calls %s. Every name, display name, slug and alias calls exactly one personality, whatever its case or spacing (private ones included). Pick another. Nothing was changed.",
		what, truncate(typed, 100), truncate(trigger.Key(typed), 100), who)
}

// maySee reports whether the user may learn which personality holds a
// string: a public one, their own, or any for a bot owner.
func (c *Commands) maySee(ctx context.Context, e *handler.CommandEvent, h store.PersonalitySummary) bool {
	discordID := e.User().ID.String()
	if h.IsPublic || c.isOwner(discordID) {
		return true
	}
	uid, known, err := c.store.UserID(ctx, discordID)
	return err == nil && known && h.OwnerUserID != nil && *h.OwnerUserID == uid
}

// nameRefused explains a write the database refused because one of its
// strings was taken in the meantime (after nameFree looked), naming which;
// other errors go to storeWords.
func (c *Commands) nameRefused(ctx context.Context, e *handler.CommandEvent, selfID int64, err error, strs ...[2]string) error {
	if !errors.Is(err, store.ErrNameTaken) {
		return storeWords(err)
	}
	for _, s := range strs {
		if ferr := c.nameFree(ctx, e, selfID, s[0], s[1]); ferr != nil {
			return ferr
		}
	}
	return sayf("One of those names was taken by another personality a moment ago. Nothing was changed.")
}

func checkNameLength(name, what string) error {
	if n := utf8.RuneCountInString(name); n < 1 || n > trigger.MaxAliasRunes {
		return sayf("A %s must be 1 to %d characters. Nothing was changed.", what, trigger.MaxAliasRunes)
	}
	return nil
}

// storeWords turns a store validation error into the user's words.
func storeWords(err error) error {
	if errors.Is(err, store.ErrInvalidInput) || errors.Is(err, store.ErrSlugTaken) || errors.Is(err, store.ErrAliasTaken) {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && !errors.Is(err, store.ErrAliasTaken) {
			msg = msg[i+2:]
		}
		return sayf("That was refused: %s. Nothing was changed.", msg)
	}
	return err
}

func (c *Commands) personalityCreate(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	d := e.SlashCommandInteractionData()
	slug := strings.ToLower(strings.TrimSpace(d.String("slug")))
	name := cleanName(d.String("name"))
	if !slugRE.MatchString(slug) {
		return sayf("`%s` cannot be a slug: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (at most 100). Nothing was created.", truncate(slug, 100))
	}
	if err := checkNameLength(name, "name"); err != nil {
		return err
	}
	if _, err := c.store.PersonalityBySlug(ctx, slug, 0); err == nil {
		return sayf("The slug `%s` is taken by another personality. Pick another. Nothing was created.", slug)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for _, s := range [][2]string{{"slug", slug}, {"name", name}} {
		if err := c.nameFree(ctx, e, 0, s[0], s[1]); err != nil {
			return err
		}
	}
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	public, _ := d.OptBool("public")
	id, err := c.store.CreatePersonality(ctx, store.NewPersonality{
		Slug: slug, Name: name, OwnerUserID: &u.ID, SystemPrompt: d.String("prompt"), IsPublic: public,
	})
	if err != nil {
		return c.nameRefused(ctx, e, 0, err, [2]string{"slug", slug}, [2]string{"name", name})
	}
	c.reindex(ctx, id)
	vis := "Only you can talk to it"
	if public {
		vis = "Everyone can talk to it"
	}
	return r.Send(fmt.Sprintf("Created **%s** (`%s`). %s: mention it with `@%s`. Set its model with `/personality llm`.", name, slug, vis, name))
}

// parseBirthday reads MM-DD or YYYY-MM-DD; "none" clears.
func parseBirthday(s string) (store.Birthday, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, clearWord) {
		return store.Birthday{}, nil
	}
	bad := sayf("`%s` is not a birthday: write MM-DD (e.g. 10-31) or YYYY-MM-DD (e.g. 1990-10-31), or `none` to clear it. Nothing was changed.", truncate(s, 20))
	var b store.Birthday
	switch len(s) {
	case 5:
		// A year that has 29 February, so that date is accepted without a year.
		t, err := time.Parse("2006-01-02", "2000-"+s)
		if err != nil {
			return b, bad
		}
		b.Month, b.Day = int(t.Month()), t.Day()
	case 10:
		t, err := time.Parse("2006-01-02", s)
		if err != nil || t.Year() < 1 {
			return b, bad
		}
		b.Month, b.Day, b.Year = int(t.Month()), t.Day(), t.Year()
	default:
		return b, bad
	}
	return b, nil
}

func (c *Commands) personalityEdit(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	var patch store.PersonalityPatch
	var changed []string
	var claims [][2]string // the strings that will call it, for a refusal
	if v, ok := d.OptString("name"); ok {
		name := cleanName(v)
		if err := checkNameLength(name, "name"); err != nil {
			return err
		}
		// The same name in another case or spacing is no new claim (it may
		// be one that lost a clash from before migration 5; see doctor).
		if trigger.Key(name) != trigger.Key(p.Name) {
			if err := c.nameFree(ctx, e, p.ID, "name", name); err != nil {
				return err
			}
		}
		patch.Name, changed = &name, append(changed, "name")
		claims = append(claims, [2]string{"name", name})
	}
	if v, ok := d.OptString("display_name"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) {
			v = ""
		}
		if v != "" && trigger.Key(v) != trigger.Key(p.DisplayName) {
			// A display name calls the personality too ("@Display Name").
			if err := c.nameFree(ctx, e, p.ID, "display name", v); err != nil {
				return err
			}
			claims = append(claims, [2]string{"display name", v})
		}
		patch.DisplayName, changed = &v, append(changed, "display name")
	}
	if v, ok := d.OptString("prompt"); ok {
		patch.SystemPrompt, changed = &v, append(changed, "prompt")
	}
	if v, ok := d.OptString("error_message"); ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, clearWord) {
			v = ""
		}
		patch.ErrorMessage, changed = &v, append(changed, "error message")
	}
	if v, ok := d.OptString("birthday"); ok {
		b, err := parseBirthday(v)
		if err != nil {
			return err
		}
		patch.Birthday, changed = &b, append(changed, "birthday")
	}
	if v, ok := d.OptBool("public"); ok {
		patch.IsPublic, changed = &v, append(changed, "visibility")
	}
	if v, ok := d.OptString("stream"); ok {
		choice, err := streamChoice(v)
		if err != nil {
			return err
		}
		patch.StreamReplies, changed = &choice, append(changed, "streaming")
	}
	if patch.Empty() {
		return sayf("Give at least one thing to change (name, display_name, prompt, error_message, birthday, public or stream).")
	}
	if err := c.store.UpdatePersonality(ctx, p.ID, patch); err != nil {
		return c.nameRefused(ctx, e, p.ID, err, claims...)
	}
	if patch.Name != nil || patch.DisplayName != nil {
		c.reindex(ctx, p.ID)
	}
	return r.Send(fmt.Sprintf("Updated the %s of **%s**.", strings.Join(changed, ", "), p.Name))
}

func (c *Commands) personalityAvatar(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	raw := strings.TrimSpace(e.SlashCommandInteractionData().String("url"))
	if strings.EqualFold(raw, clearWord) {
		raw = ""
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(raw) > 2048 {
			return sayf("The avatar must be an `https://` link to an image (at most 2048 characters). Nothing was changed.")
		}
	}
	if err := c.store.UpdatePersonality(ctx, p.ID, store.PersonalityPatch{AvatarURL: &raw}); err != nil {
		return storeWords(err)
	}
	if raw == "" {
		return r.Send(fmt.Sprintf("**%s** now posts with the default avatar.", p.Name))
	}
	return r.Send(fmt.Sprintf("**%s** now posts with this avatar: %s", p.Name, raw))
}

func (c *Commands) aliasAdd(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	alias := cleanName(e.SlashCommandInteractionData().String("alias"))
	if err := checkNameLength(alias, "alias"); err != nil {
		return err
	}
	if err := c.nameFree(ctx, e, p.ID, "alias", alias); err != nil {
		return err
	}
	if err := c.store.AddAlias(ctx, p.ID, alias); err != nil {
		return c.nameRefused(ctx, e, p.ID, err, [2]string{"alias", alias})
	}
	c.reindex(ctx, p.ID)
	return r.Send(fmt.Sprintf("**%s** now also answers to `@%s`.", p.Name, alias))
}

func (c *Commands) aliasRemove(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	alias := cleanName(e.SlashCommandInteractionData().String("alias"))
	removed, err := c.store.RemoveAlias(ctx, p.ID, alias)
	if err != nil {
		return err
	}
	if !removed {
		list := "it has none"
		if len(p.Aliases) > 0 {
			list = "its aliases are " + strings.Join(quoteAll(p.Aliases), ", ")
		}
		return sayf("**%s** has no alias `%s` (%s). Nothing was changed.", p.Name, truncate(alias, 100), list)
	}
	c.reindex(ctx, p.ID)
	return r.Send(fmt.Sprintf("Removed the alias `%s` from **%s**.", alias, p.Name))
}

// chatProvider returns the loaded plugin entry called name that is granted
// llm.chat.
func (c *Commands) chatProvider(name string) (plugin.PluginStatus, error) {
	var names []string
	for _, st := range c.loadedPlugins() {
		if !grants(st, abi.CapChat) {
			continue
		}
		if st.Name == name {
			return st, nil
		}
		names = append(names, "`"+st.Name+"`")
	}
	if len(names) == 0 {
		return plugin.PluginStatus{}, sayf("No chat provider plugin is loaded right now. Nothing was changed.")
	}
	return plugin.PluginStatus{}, sayf("`%s` is not a loaded chat provider. Pick one of: %s. Nothing was changed.", truncate(name, 63), strings.Join(names, ", "))
}

func (c *Commands) personalityLLM(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	st, err := c.chatProvider(strings.TrimSpace(d.String("provider")))
	if err != nil {
		return err
	}
	model := strings.TrimSpace(d.String("model"))
	if n := utf8.RuneCountInString(model); n < 1 || n > 200 || strings.ContainsAny(model, " \t\r\n") {
		return sayf("A model name is 1 to 200 characters without spaces (e.g. `gpt-4o-mini`). Nothing was changed.")
	}
	params, err := c.checkParameters(st, model, d.String("parameters"))
	if err != nil {
		return err
	}
	cfg := store.LLMConfig{Provider: st.Name, Model: model, AdvancedParameters: params}
	if p.LLM.ID != 0 && !p.LLM.UserOverride {
		cfg.MaxReferencedMessages, cfg.ContextWindowTokens = p.LLM.MaxReferencedMessages, p.LLM.ContextWindowTokens
	}
	if err := c.store.SetLLMConfig(ctx, p.ID, 0, cfg); err != nil {
		return storeWords(err)
	}
	warn := c.notListedWarning(ctx, st, e.User().ID.String(), model)
	return r.Send(fmt.Sprintf("**%s** now uses **%s** on `%s` with parameters `%s`.%s", p.Name, model, st.Name, truncate(string(params), 1500), warn))
}

// channelManager checks that the user may change what answers in this
// channel: a bot owner, or a member with Manage Channels.
func (c *Commands) channelManager(e *handler.CommandEvent) error {
	if e.GuildID() == nil {
		return sayf("Personalities are activated in server channels; in a DM with the bot, just talk to one by name. Nothing was changed.")
	}
	if c.isOwner(e.User().ID.String()) {
		return nil
	}
	if m := e.Member(); m != nil && m.Permissions.Has(discord.PermissionManageChannels) {
		return nil
	}
	return sayf("You need the Manage Channels permission in this server to change which personality answers here. Nothing was changed.")
}

func (c *Commands) personalityActivate(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	if err := c.channelManager(e); err != nil {
		return err
	}
	p, err := c.findPersonality(ctx, e.SlashCommandInteractionData().String("personality"))
	if err != nil {
		return err
	}
	discordID := e.User().ID.String()
	uid, known, err := c.store.UserID(ctx, discordID)
	if err != nil {
		return err
	}
	owns := known && p.OwnerUserID != nil && *p.OwnerUserID == uid
	if !p.IsPublic && !owns && !c.isOwner(discordID) {
		return sayf("**%s** is private: only its owner can activate it. Nothing was changed.", p.Name)
	}
	u, err := c.store.UserByDiscordID(ctx, discordID)
	if err != nil {
		return err
	}
	if err := c.store.ActivateChannel(ctx, e.Channel().ID().String(), p.ID, u.ID); err != nil {
		return storeWords(err)
	}
	return r.Send(fmt.Sprintf("**%s** now answers every message in <#%s>. Stop it with `/personality deactivate`.", p.Name, e.Channel().ID()))
}

func (c *Commands) personalityDeactivate(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	if err := c.channelManager(e); err != nil {
		return err
	}
	removed, err := c.store.DeactivateChannel(ctx, e.Channel().ID().String())
	if err != nil {
		return err
	}
	if !removed {
		return sayf("No personality is active in this channel. Nothing was changed.")
	}
	return r.Send("Done: no personality answers every message here any more (mentions and replies still work).")
}

func (c *Commands) personalityDelete(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	if confirm := strings.TrimSpace(e.SlashCommandInteractionData().String("confirm")); !strings.EqualFold(confirm, p.Slug) {
		return sayf("To delete **%s**, type its slug `%s` in `confirm`. Nothing was deleted.", p.Name, p.Slug)
	}
	deleted, err := c.store.DeletePersonality(ctx, p.ID)
	if err != nil {
		return err
	}
	if c.aliases != nil {
		c.aliases.DeletePersonality(p.ID)
	}
	if !deleted {
		return sayf("**%s** was already deleted.", p.Name)
	}
	return r.Send(fmt.Sprintf("Deleted **%s** (`%s`) with its aliases, model settings, voice settings and samples, and channel activations. Usage records keep their numbers.", p.Name, p.Slug))
}

// autocompletePersonality serves the personality, provider and model
// options of the /personality subcommands.
func (c *Commands) autocompletePersonality(e *handler.AutocompleteEvent) error {
	focused := e.Data.Focused()
	typed := strings.TrimSpace(e.Data.String(focused.Name))
	if focused.Name == "model" {
		return c.autocompleteModel(e, typed)
	}
	if focused.Name == "provider" {
		capability := abi.CapChat
		if e.Data.CommandPath() == "/personality/voice" {
			capability = abi.CapSpeak
		}
		var names []string
		for _, st := range c.loadedPlugins() {
			if grants(st, capability) && strings.Contains(st.Name, strings.ToLower(typed)) {
				names = append(names, st.Name)
			}
		}
		return e.AutocompleteResult(choices(names, names))
	}
	discordID := e.User().ID.String()
	var list []store.PersonalitySummary
	var err error
	switch {
	case c.isOwner(discordID):
		list, err = c.store.ManageablePersonalities(e.Ctx, 0, typed, 25)
	case e.Data.CommandPath() == "/personality/activate" || e.Data.CommandPath() == "/voice/status":
		// Any public personality can be activated (or asked about), and the
		// user's own.
		uid, _, uerr := c.store.UserID(e.Ctx, discordID)
		if uerr != nil {
			err = uerr
			break
		}
		all, lerr := c.store.ListPersonalities(e.Ctx, uid)
		err = lerr
		q := strings.ToLower(typed)
		for _, p := range all {
			if strings.Contains(strings.ToLower(p.Slug), q) || strings.Contains(strings.ToLower(p.Name), q) {
				list = append(list, p)
			}
		}
	default:
		uid, known, uerr := c.store.UserID(e.Ctx, discordID)
		if uerr != nil || !known {
			err = uerr
			break
		}
		list, err = c.store.ManageablePersonalities(e.Ctx, uid, typed, 25)
	}
	if err != nil {
		c.log.WarnContext(e.Ctx, "autocomplete: personalities", "err", err)
	}
	names, values := make([]string, len(list)), make([]string, len(list))
	for i, p := range list {
		names[i], values[i] = p.Name+" ("+p.Slug+")", p.Slug
	}
	return e.AutocompleteResult(choices(names, values))
}

// streamChoice reads the stream option: on, off, or default (the
// deployment's TZUROT_STREAM_REPLIES).
func streamChoice(v string) (store.StreamChoice, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on":
		return store.StreamOn, nil
	case "off":
		return store.StreamOff, nil
	case "default":
		return store.StreamDefault, nil
	}
	return 0, sayf("stream must be on, off or default, not %q.", v)
}
