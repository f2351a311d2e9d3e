package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// /personality knowledge: a personality's lore, which its owner (or a bot
// owner) adds, lists and removes. manageable() is the permission check, as
// for every /personality subcommand that changes something; listing is
// limited the same way, since lore can hold what an owner keeps private.

const knowledgePage = 10

func (c *Commands) knowledgeAdd(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	d := e.SlashCommandInteractionData()
	entry := store.KnowledgeEntry{Title: strings.TrimSpace(d.String("title")), Content: strings.TrimSpace(d.String("content"))}
	if keys, ok := d.OptString("keys"); ok {
		if entry.Keys, err = store.ParseKnowledgeKeys(keys); err != nil {
			return sayf("That was refused: %s. Nothing was changed.", err.Error())
		}
	}
	entry.AlwaysOn, _ = d.OptBool("always_on")
	if v, ok := d.OptInt("priority"); ok {
		entry.Priority = v
	}
	if entry.Title == "" {
		return sayf("Give the entry a title. Nothing was changed.")
	}
	id, err := c.store.AddKnowledge(ctx, p.ID, entry)
	if errors.Is(err, store.ErrKnowledge) {
		return sayf("That was refused: %s. Nothing was changed.", err.Error())
	}
	if err != nil {
		return err
	}
	var when string
	switch {
	case entry.AlwaysOn:
		when = "It is used in every reply."
	case len(entry.Keys) > 0:
		when = fmt.Sprintf("It is used when the conversation mentions %s, or matches its text.", joinKeys(entry.Keys, 10))
	default:
		when = "It has no keys and is not always on, so it is used only when the conversation matches its text."
	}
	return r.Send(fmt.Sprintf("Added `#%d` **%s** to what **%s** knows (priority %d). %s",
		id, truncate(entry.Title, 100), p.Name, entry.Priority, when))
}

// joinKeys lists keys in backticks, at most n of them.
func joinKeys(keys []string, n int) string {
	var parts []string
	for i, k := range keys {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(keys)-n))
			break
		}
		parts = append(parts, "`"+strings.ReplaceAll(truncate(k, 40), "`", "'")+"`")
	}
	return strings.Join(parts, ", ")
}

func (c *Commands) knowledgeList(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
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
	list, total, err := c.store.ListKnowledge(ctx, p.ID, knowledgePage, (page-1)*knowledgePage)
	if err != nil {
		return err
	}
	if total == 0 {
		return r.Send(fmt.Sprintf("**%s** knows nothing yet. `/personality knowledge add` adds an entry.", p.Name))
	}
	pages := int((total + knowledgePage - 1) / knowledgePage)
	if page > pages {
		return sayf("**%s** has only %d page%s of knowledge.", p.Name, pages, plural(pages, "", "s"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "What **%s** knows: %d %s (page %d of %d; always-on first, then by priority).\n",
		p.Name, total, plural(int(total), "entry", "entries"), page, pages)
	for _, k := range list {
		title := k.Title
		if title == "" {
			title = "(untitled)"
		}
		fmt.Fprintf(&b, "`#%d` **%s**", k.ID, truncate(title, 60))
		if k.AlwaysOn {
			b.WriteString(" · always on")
		}
		if k.Priority != 0 {
			fmt.Fprintf(&b, " · priority %d", k.Priority)
		}
		if len(k.Keys) > 0 {
			b.WriteString(" · keys: " + joinKeys(k.Keys, 5))
		}
		if k.SourceSystem != store.KnowledgeSourceSystem {
			fmt.Fprintf(&b, " · imported (%s)", k.SourceSystem)
		}
		b.WriteString(" · " + truncate(strings.Join(strings.Fields(k.Content), " "), 60) + "\n")
	}
	if page < pages {
		fmt.Fprintf(&b, "More: `/personality knowledge list personality:%s page:%d`. ", p.Slug, page+1)
	}
	b.WriteString("Remove one: `/personality knowledge remove id:<#>`.")
	return r.Send(b.String())
}

func (c *Commands) knowledgeRemove(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	p, err := c.manageable(ctx, e)
	if err != nil {
		return err
	}
	id := int64(e.SlashCommandInteractionData().Int("id"))
	title, ok, err := c.store.RemoveKnowledge(ctx, p.ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return sayf("**%s** has no knowledge entry `#%d`. `/personality knowledge list` shows its entries. Nothing was changed.", p.Name, id)
	}
	if title == "" {
		title = "(untitled)"
	}
	return r.Send(fmt.Sprintf("Removed `#%d` **%s** from what **%s** knows.", id, truncate(title, 100), p.Name))
}
