package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// /memory: what personalities remember about the user, theirs to read,
// search and forget, and whether new memories are formed at all. A memory
// is the user's when it is about them (store: about_user_ids holds their
// id); nothing here reads or changes any other memory, and an id that is
// not the user's answers exactly like one that does not exist.

// memoryPage is how many memories one /memory list page shows (each line
// is cut so a full page stays under Discord's 2,000 characters).
const (
	memoryPage      = 10
	memoryLineRunes = 120
)

// memoryDefinitions adds /memory, /persona, /privacy and the knowledge
// subcommands of /personality to the command list.
func memoryDefinitions(defs []discord.ApplicationCommandCreate) []discord.ApplicationCommandCreate {
	contexts := []discord.InteractionContextType{discord.InteractionContextTypeGuild, discord.InteractionContextTypeBotDM}
	install := []discord.ApplicationIntegrationType{discord.ApplicationIntegrationTypeGuildInstall}
	optPersonality := func(desc string) discord.ApplicationCommandOptionString {
		return discord.ApplicationCommandOptionString{Name: "personality", Description: desc, Autocomplete: true, MaxLength: ptr(100)}
	}
	manage := discord.ApplicationCommandOptionString{Name: "personality",
		Description: "The personality (slug, name or alias)", Required: true, Autocomplete: true, MaxLength: ptr(100)}
	page := discord.ApplicationCommandOptionInt{Name: "page", Description: "Which page (default: 1)", MinValue: ptr(1)}

	for i, d := range defs {
		sc, ok := d.(discord.SlashCommandCreate)
		if !ok || sc.Name != "personality" {
			continue
		}
		sc.Options = append(sc.Options[:len(sc.Options):len(sc.Options)],
			discord.ApplicationCommandOptionSubCommandGroup{Name: "knowledge", Description: "What it knows: lore entries used in its replies (owners)",
				Options: []discord.ApplicationCommandOptionSubCommand{
					{Name: "add", Description: "Add an entry: used when a key comes up, always, or when it matches",
						Options: []discord.ApplicationCommandOption{
							manage,
							discord.ApplicationCommandOptionString{Name: "title", Description: "A short title, e.g. The Old Tower", Required: true, MaxLength: ptr(store.MaxKnowledgeTitleRunes)},
							discord.ApplicationCommandOptionString{Name: "content", Description: "What it knows", Required: true, MaxLength: ptr(store.MaxKnowledgeContentRunes)},
							discord.ApplicationCommandOptionString{Name: "keys", Description: "Words that bring it up, comma separated, e.g. tower, the old tower", MaxLength: ptr(2000)},
							discord.ApplicationCommandOptionBool{Name: "always_on", Description: "Use it in every reply (default: no)"},
							discord.ApplicationCommandOptionInt{Name: "priority", Description: "Higher comes first when space is short (-1000 to 1000, default 0)",
								MinValue: ptr(store.MinKnowledgePriority), MaxValue: ptr(store.MaxKnowledgePriority)},
						}},
					{Name: "list", Description: "List its entries with their ids",
						Options: []discord.ApplicationCommandOption{manage, page}},
					{Name: "remove", Description: "Delete an entry",
						Options: []discord.ApplicationCommandOption{manage,
							discord.ApplicationCommandOptionInt{Name: "id", Description: "The entry's id (#) from the list", Required: true, MinValue: ptr(1)}}},
				}},
		)
		defs[i] = sc
	}

	return append(defs,
		discord.SlashCommandCreate{
			Name: "memory", Description: "What personalities remember about you (only you see the replies)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "list", Description: "List the memories about you, newest first",
					Options: []discord.ApplicationCommandOption{optPersonality("Only this personality's memories"), page}},
				discord.ApplicationCommandOptionSubCommand{Name: "search", Description: "Find memories about you by words they contain",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "query", Description: "Words to look for", Required: true, MaxLength: ptr(store.MaxMemorySearchRunes)},
						optPersonality("Only this personality's memories"),
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "forget", Description: "Forget one memory about you, by its id",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionInt{Name: "id", Description: "The memory's id (#) from /memory list", Required: true, MinValue: ptr(1)},
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "forget-all", Description: "Forget every memory about you (asks first)",
					Options: []discord.ApplicationCommandOption{optPersonality("Only this personality's memories")}},
				discord.ApplicationCommandOptionSubCommand{Name: "formation", Description: "Whether personalities form new memories about you",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "state", Description: "on, off, or default (follow the broader setting)", Required: true,
							Choices: []discord.ApplicationCommandOptionChoiceString{{Name: "on", Value: "on"}, {Name: "off", Value: "off"}, {Name: "default", Value: "default"}}},
						optPersonality("Only for this personality (default: every personality)"),
					}},
			},
		},
		discord.SlashCommandCreate{
			Name: "persona", Description: "What personalities know about you, in your words (only you see the replies)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "set", Description: "Tell personalities about yourself (one, or all)",
					Options: []discord.ApplicationCommandOption{
						discord.ApplicationCommandOptionString{Name: "text", Description: "About you: name, pronouns, what to know", Required: true, MaxLength: ptr(store.MaxPersonaRunes)},
						optPersonality("Only for this personality (default: every personality)"),
					}},
				discord.ApplicationCommandOptionSubCommand{Name: "show", Description: "Show what personalities are told about you",
					Options: []discord.ApplicationCommandOption{optPersonality("What this personality is told")}},
				discord.ApplicationCommandOptionSubCommand{Name: "clear", Description: "Remove your persona (one personality's, or the global one)",
					Options: []discord.ApplicationCommandOption{optPersonality("This personality's (default: the global one)")}},
			},
		},
		discord.SlashCommandCreate{
			Name: "privacy", Description: "Your data kept by the bot (only you see the replies)",
			Contexts: contexts, IntegrationTypes: install,
			Options: []discord.ApplicationCommandOption{
				discord.ApplicationCommandOptionSubCommand{Name: "delete-my-data", Description: "Delete everything the bot keeps about you (asks first)"},
			},
		},
	)
}

// memoryRoutes registers /memory, /persona, /privacy, /personality
// knowledge and their buttons.
func (c *Commands) memoryRoutes(m *handler.Mux) {
	m.Route("/memory", func(r handler.Router) {
		r.Command("/list", c.command("memory list", c.memoryList))
		r.Command("/search", c.command("memory search", c.memorySearch))
		r.Command("/forget", c.command("memory forget", c.memoryForget))
		r.Command("/forget-all", c.command("memory forget-all", c.memoryForgetAll))
		r.Command("/formation", c.command("memory formation", c.memoryFormation))
		for _, s := range []string{"/list", "/search", "/forget-all", "/formation"} {
			r.Autocomplete(s, c.autocompleteTalkable)
		}
		r.Component("/forget-all/{user}/{personality}/{expires}", c.button("memory forget-all", "/memory forget-all", c.memoryForgetAllConfirmed))
	})
	m.Route("/persona", func(r handler.Router) {
		r.Command("/set", c.command("persona set", c.personaSet))
		r.Command("/show", c.command("persona show", c.personaShow))
		r.Command("/clear", c.command("persona clear", c.personaClear))
		for _, s := range []string{"/set", "/show", "/clear"} {
			r.Autocomplete(s, c.autocompleteTalkable)
		}
	})
	m.Route("/personality/knowledge", func(r handler.Router) {
		r.Command("/add", c.command("personality knowledge add", c.knowledgeAdd))
		r.Command("/list", c.command("personality knowledge list", c.knowledgeList))
		r.Command("/remove", c.command("personality knowledge remove", c.knowledgeRemove))
		for _, s := range []string{"/add", "/list", "/remove"} {
			r.Autocomplete(s, c.autocompletePersonality)
		}
	})
	m.Route("/privacy", func(r handler.Router) {
		r.Command("/delete-my-data", c.command("privacy delete-my-data", c.privacyDelete))
		r.Component("/delete/{user}/{expires}", c.button("privacy delete-my-data", "/privacy delete-my-data", c.privacyDeleteConfirmed))
	})
	m.Component(cancelID, c.confirmCancel)
}

// knownUser returns the caller's internal id and time zone without creating
// a user: someone the bot has never seen has no memories, persona or data.
func (c *Commands) knownUser(ctx context.Context, discordID string) (store.User, bool, error) {
	_, known, err := c.store.UserID(ctx, discordID)
	if err != nil || !known {
		return store.User{}, false, err
	}
	u, err := c.store.UserByDiscordID(ctx, discordID) // known: reads, writes nothing
	return u, err == nil, err
}

// optionalPersonality resolves the optional "personality" option: its id
// and name, or 0 when the option was not given.
func (c *Commands) optionalPersonality(ctx context.Context, e *handler.CommandEvent) (int64, string, error) {
	typed, ok := e.SlashCommandInteractionData().OptString("personality")
	if !ok || strings.TrimSpace(typed) == "" {
		return 0, "", nil
	}
	p, err := c.findPersonality(ctx, typed)
	if err != nil {
		return 0, "", err
	}
	return p.ID, p.Name, nil
}

// memoryLine is one memory as a list shows it: id, personality, date in the
// user's zone, and the start of its text on one line.
func memoryLine(m store.UserMemory, loc *time.Location, cut int) string {
	text := truncate(strings.Join(strings.Fields(m.Content), " "), cut)
	shared := ""
	if m.Shared {
		shared = " (shared)"
	}
	return fmt.Sprintf("`#%d` · **%s** · %s%s · %s", m.ID, truncate(m.PersonalityName, 40), m.At.In(loc).Format("2006-01-02"), shared, text)
}

func (c *Commands) memoryList(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	page := 1
	if v, ok := e.SlashCommandInteractionData().OptInt("page"); ok {
		page = v
	}
	if page < 1 {
		return sayf("Pages start at 1.")
	}
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	var list []store.UserMemory
	var total int64
	if known {
		list, total, err = c.store.MemoriesAbout(ctx, u.ID, pid, memoryPage, (page-1)*memoryPage)
		if err != nil {
			return err
		}
	}
	if total == 0 {
		if pid != 0 {
			return r.Send(fmt.Sprintf("**%s** remembers nothing about you.", pname))
		}
		return r.Send("No personality remembers anything about you.")
	}
	pages := int((total + memoryPage - 1) / memoryPage)
	if page > pages {
		return sayf("There %s only %d page%s of memories about you.", plural(pages, "is", "are"), pages, plural(pages, "", "s"))
	}
	var b strings.Builder
	who := "Memories about you"
	if pid != 0 {
		who = fmt.Sprintf("What **%s** remembers about you", pname)
	}
	fmt.Fprintf(&b, "%s: %d, newest first (page %d of %d).\n", who, total, page, pages)
	for _, m := range list {
		b.WriteString(memoryLine(m, u.Location, memoryLineRunes))
		b.WriteByte('\n')
	}
	if page < pages {
		fmt.Fprintf(&b, "More: `/memory list page:%d`. ", page+1)
	}
	b.WriteString("Forget one: `/memory forget id:<#>`.")
	return r.Send(b.String())
}

// plural picks one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (c *Commands) memorySearch(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	text := strings.TrimSpace(e.SlashCommandInteractionData().String("query"))
	if text == "" {
		return sayf("Type some words to look for.")
	}
	if n := len([]rune(text)); n > store.MaxMemorySearchRunes {
		return sayf("A search is at most %d characters (yours has %d).", store.MaxMemorySearchRunes, n)
	}
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	var list []store.UserMemory
	if known {
		if list, err = c.store.SearchMemoriesAbout(ctx, u.ID, pid, text, memoryPage); err != nil {
			return err
		}
	}
	quoted := truncate(text, 100)
	if len(list) == 0 {
		if pid != 0 {
			return r.Send(fmt.Sprintf("No memory **%s** has about you matches “%s”.", pname, quoted))
		}
		return r.Send(fmt.Sprintf("No memory about you matches “%s”.", quoted))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Memories about you matching “%s” (best first, at most %d):\n", quoted, memoryPage)
	for _, m := range list {
		b.WriteString(memoryLine(m, u.Location, memoryLineRunes))
		b.WriteByte('\n')
	}
	b.WriteString("Forget one: `/memory forget id:<#>`.")
	return r.Send(b.String())
}

func (c *Commands) memoryForget(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	id := int64(e.SlashCommandInteractionData().Int("id"))
	notFound := sayf("There is no memory `#%d` about you. `/memory list` shows yours.", id)
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if !known || id < 1 {
		return notFound
	}
	m, ok, err := c.store.ForgetMemory(ctx, u.ID, id)
	if err != nil {
		return err
	}
	if !ok {
		// The same words whether it does not exist or is someone else's.
		return notFound
	}
	msg := "Forgotten: " + memoryLine(m, u.Location, 200)
	if m.Shared {
		msg += "\nIt was about other people in that conversation too; it is gone for them as well."
	}
	return r.Send(msg)
}

func (c *Commands) memoryForgetAll(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	discordID := e.User().ID.String()
	u, known, err := c.knownUser(ctx, discordID)
	if err != nil {
		return err
	}
	var n int64
	if known {
		if n, err = c.store.CountMemoriesAbout(ctx, u.ID, pid); err != nil {
			return err
		}
	}
	if n == 0 {
		if pid != 0 {
			return r.Send(fmt.Sprintf("**%s** remembers nothing about you. Nothing to forget.", pname))
		}
		return r.Send("No personality remembers anything about you. Nothing to forget.")
	}
	scope := "by every personality"
	if pid != 0 {
		scope = fmt.Sprintf("by **%s**", pname)
	}
	msg := fmt.Sprintf("This forgets **%d** %s about you %s, for good (shared ones too: they go for the others in them as well). "+
		"It cannot be undone. New memories can still be formed; `/memory formation state:off` stops that.", n, plural(int(n), "memory", "memories"), scope)
	custom := fmt.Sprintf("/memory/forget-all/%s/%d/%s", discordID, pid, c.expiry())
	return r.SendConfirm(msg, confirmRow(fmt.Sprintf("Forget %d %s", n, plural(int(n), "memory", "memories")), custom))
}

func (c *Commands) memoryForgetAllConfirmed(ctx context.Context, e *handler.ComponentEvent, r *reply) error {
	pid, err := strconv.ParseInt(e.Vars["personality"], 10, 64)
	if err != nil || pid < 0 {
		return sayf("This button is not one the bot made. Nothing was changed.")
	}
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	var n int64
	if known {
		if n, err = c.store.ForgetAllMemories(ctx, u.ID, pid); err != nil {
			return err
		}
	}
	return r.Send(fmt.Sprintf("Forgot %d %s about you.", n, plural(int(n), "memory", "memories")))
}

func (c *Commands) memoryFormation(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	state := e.SlashCommandInteractionData().String("state")
	var on *bool
	switch state {
	case "on":
		on = ptr(true)
	case "off":
		on = ptr(false)
	case "default":
	default:
		return sayf("`state` is `on`, `off` or `default`.")
	}
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if err := c.store.SetMemoryFormation(ctx, u.ID, pid, on); err != nil {
		return err
	}
	f, err := c.store.MemoryFormationFor(ctx, u.ID, pid)
	if err != nil {
		return err
	}
	var msg string
	switch {
	case pid == 0 && on == nil:
		msg = "Personalities form new memories about you as each one's own setting says (on unless its owner turned it off), except where you chose otherwise for one."
	case pid == 0 && *on:
		msg = "Personalities form new memories about you again, except any you turned off one by one (and any whose owner turned memories off)."
	case pid == 0:
		msg = "No personality forms new memories about you any more, except any you turned on one by one. What they remember already stays: `/memory forget-all` removes it."
	case f.Allowed():
		msg = fmt.Sprintf("**%s** forms new memories about you.", pname)
		if on == nil {
			msg = fmt.Sprintf("**%s** follows your setting for every personality: it forms new memories about you.", pname)
		}
	default:
		msg = fmt.Sprintf("**%s** does not form new memories about you. What it remembers already stays: `/memory forget-all personality:%s` removes it.", pname, pname)
		if on == nil {
			msg = fmt.Sprintf("**%s** follows your setting for every personality: it does not form new memories about you.", pname)
		}
		if !f.Personality && (on == nil || *on) {
			msg = fmt.Sprintf("Saved. But **%s**'s owner has turned memory formation off for it, so it forms none for anyone for now.", pname)
		}
	}
	return r.Send(msg)
}

// autocompleteTalkable offers the personalities the user may talk to (the
// public ones and their own; every one for a bot owner).
func (c *Commands) autocompleteTalkable(e *handler.AutocompleteEvent) error {
	typed := strings.ToLower(strings.TrimSpace(e.Data.String(e.Data.Focused().Name)))
	discordID := e.User().ID.String()
	var list []store.PersonalitySummary
	var err error
	if c.isOwner(discordID) {
		list, err = c.store.ManageablePersonalities(e.Ctx, 0, typed, 25)
	} else {
		uid, _, uerr := c.store.UserID(e.Ctx, discordID)
		if uerr != nil {
			err = uerr
		} else {
			var all []store.PersonalitySummary
			all, err = c.store.ListPersonalities(e.Ctx, uid)
			for _, p := range all {
				if strings.Contains(strings.ToLower(p.Slug), typed) || strings.Contains(strings.ToLower(p.Name), typed) {
					list = append(list, p)
				}
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		c.log.WarnContext(e.Ctx, "autocomplete: personalities", "err", err)
	}
	names, values := make([]string, len(list)), make([]string, len(list))
	for i, p := range list {
		names[i], values[i] = fmt.Sprintf("%s (%s)", p.Name, p.Slug), p.Slug
	}
	return e.AutocompleteResult(choices(names, values))
}
