package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// /persona: what the user tells personalities about themselves, for one
// personality or for all (global). A reply uses the persona for its
// personality, else the global one, else what an import brought (the same
// order as retrieval).

// quoted shows text as a Discord block quote, cut to n characters.
func quoted(text string, n int) string {
	lines := strings.Split(truncate(strings.TrimSpace(text), n), "\n")
	return "> " + strings.Join(lines, "\n> ")
}

func (c *Commands) personaSet(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	text := strings.TrimSpace(e.SlashCommandInteractionData().String("text"))
	if text == "" {
		return sayf("Write something about yourself in `text`. To remove your persona, use `/persona clear`.")
	}
	if n := utf8.RuneCountInString(text); n > store.MaxPersonaRunes {
		return sayf("A persona is at most %d characters; yours has %d. Shorten it and try again. Nothing was changed.", store.MaxPersonaRunes, n)
	}
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if err := c.store.SetUserPersona(ctx, u.ID, pid, text); err != nil {
		if errors.Is(err, store.ErrPersonaTooLong) || errors.Is(err, store.ErrInvalidInput) {
			return storeWords(err)
		}
		return err
	}
	if pid == 0 {
		return r.Send("Saved. Every personality is told this about you (except one you gave its own with `/persona set personality:`):\n" + quoted(text, 1700))
	}
	return r.Send(fmt.Sprintf("Saved. **%s** is told this about you (instead of your global persona):\n%s", pname, quoted(text, 1700)))
}

func (c *Commands) personaShow(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	if pid != 0 {
		return c.personaShowFor(ctx, r, u, known, pid, pname)
	}
	var list []store.NamedPersona
	if known {
		if list, err = c.store.UserPersonas(ctx, u.ID); err != nil {
			return err
		}
	}
	if len(list) == 0 {
		return r.Send("You have no persona. `/persona set text:…` tells every personality about you; add `personality:` for one.")
	}
	// Each shown in full when there is room, else cut evenly.
	each := max(120, 1800/len(list))
	var b strings.Builder
	for _, p := range list {
		if p.PersonalityID == 0 {
			b.WriteString("**Every personality** (global):\n")
		} else {
			fmt.Fprintf(&b, "**%s** only:\n", p.PersonalityName)
		}
		b.WriteString(quoted(p.Content, each))
		b.WriteString("\n")
	}
	return r.Send(b.String())
}

// personaShowFor says what one personality is told about the user, and where
// it comes from.
func (c *Commands) personaShowFor(ctx context.Context, r *reply, u store.User, known bool, pid int64, pname string) error {
	none := fmt.Sprintf("**%s** is told nothing about you. `/persona set personality:%s text:…` changes that.", pname, pname)
	if !known {
		return r.Send(none)
	}
	if p, ok, err := c.store.UserPersonaFor(ctx, u.ID, pid); err != nil {
		return err
	} else if ok {
		return r.Send(fmt.Sprintf("**%s** is told this about you (your persona for it):\n%s", pname, quoted(p.Content, 1800)))
	}
	if p, ok, err := c.store.UserPersonaFor(ctx, u.ID, 0); err != nil {
		return err
	} else if ok {
		return r.Send(fmt.Sprintf("**%s** is told your global persona (you have none for it alone):\n%s", pname, quoted(p.Content, 1800)))
	}
	if p, ok, err := c.store.ImportedPersonalizationFor(ctx, u.ID, pid); err != nil {
		return err
	} else if ok {
		var parts []string
		if p.PreferredName != "" {
			parts = append(parts, "Name: "+p.PreferredName)
		}
		if p.Pronouns != "" {
			parts = append(parts, "Pronouns: "+p.Pronouns)
		}
		if p.Backstory != "" {
			parts = append(parts, p.Backstory)
		}
		return r.Send(fmt.Sprintf("**%s** is told what was imported about you (`/persona set` replaces it):\n%s", pname, quoted(strings.Join(parts, "\n"), 1800)))
	}
	return r.Send(none)
}

func (c *Commands) personaClear(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	pid, pname, err := c.optionalPersonality(ctx, e)
	if err != nil {
		return err
	}
	u, known, err := c.knownUser(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	ok := false
	if known {
		if ok, err = c.store.ClearUserPersona(ctx, u.ID, pid); err != nil {
			return err
		}
	}
	switch {
	case !ok && pid == 0:
		return r.Send("You have no global persona. Nothing was changed.")
	case !ok:
		return r.Send(fmt.Sprintf("You have no persona for **%s** alone. Nothing was changed.", pname))
	case pid == 0:
		return r.Send("Your global persona is removed.")
	}
	return r.Send(fmt.Sprintf("Your persona for **%s** is removed; it is told your global persona, if you have one.", pname))
}
