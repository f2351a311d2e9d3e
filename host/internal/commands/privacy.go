package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// /privacy delete-my-data: everything the bot keeps about the user goes, in
// one transaction (store.DeleteUserData), after a confirmation that lists
// it. docs/security.md ("Deleting your data") is the full list.

// dataLines lists what d counts, one line each, skipping what is zero.
func dataLines(d store.UserData) (gone, kept []string) {
	add := func(list *[]string, n int64, one, many string) {
		if n > 0 {
			*list = append(*list, fmt.Sprintf("- %d %s", n, plural(int(n), one, many)))
		}
	}
	add(&gone, d.Keys, "API key", "API keys")
	add(&gone, d.Memories, "memory about you", "memories about you (shared ones too)")
	add(&gone, d.Personas, "persona", "personas")
	add(&gone, d.Personalizations, "imported personalization", "imported personalizations")
	add(&gone, d.ModelOverrides, "model setting of yours", "model settings of yours")
	add(&gone, d.PersonalitySettings, "per-personality setting", "per-personality settings")
	add(&gone, d.Reasoning, "stored reasoning of a reply to you", "stored reasonings of replies to you")
	if d.Preferences > 0 {
		gone = append(gone, "- your preferences (time zone, voice, reasoning, memory formation)")
	} else if d.Known {
		gone = append(gone, "- your time zone")
	}
	if d.DMSession > 0 {
		gone = append(gone, "- which personality you last talked to in DMs")
	}
	add(&gone, d.RateLimitCounters, "rate-limit counter", "rate-limit counters")
	add(&gone, d.Jobs, "queued or recent reply job holding your message", "queued or recent reply jobs holding your messages (one still waiting is not answered)")
	add(&gone, d.PresentIn, "mention of you in other people's memories of a shared conversation (your id is taken out; their memory stays)",
		"mentions of you in other people's memories of shared conversations (your id is taken out; their memories stay)")
	add(&kept, d.UsageRows, "usage record (kept for the bot's accounting, without anything that says it was you)",
		"usage records (kept for the bot's accounting, without anything that says it was you)")
	add(&kept, d.Activations, "channel activation you made (kept for the channel, without your name)",
		"channel activations you made (kept for the channel, without your name)")
	add(&kept, d.RepliesAsked, "reply a personality posted to you (kept: it is in Discord; no longer linked to you)",
		"replies personalities posted to you (kept: they are in Discord; no longer linked to you)")
	add(&kept, d.OwnedPersonalities, "personality you own: it stays, with no owner (delete it first with `/personality delete` if it should go)",
		"personalities you own: they stay, with no owner (delete them first with `/personality delete` if they should go)")
	return gone, kept
}

func (c *Commands) privacyDelete(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	discordID := e.User().ID.String()
	d, err := c.store.UserDataSummary(ctx, discordID)
	if err != nil {
		return err
	}
	gone, kept := dataLines(d)
	if !d.Known && len(gone) == 0 {
		return r.Send("The bot keeps nothing about you. Nothing to delete.")
	}
	var b strings.Builder
	b.WriteString("**This deletes everything the bot keeps about you, for good.** It cannot be undone.\n")
	if len(gone) > 0 {
		b.WriteString("Deleted:\n" + strings.Join(gone, "\n") + "\n")
	}
	if len(kept) > 0 {
		b.WriteString("Kept without your identity:\n" + strings.Join(kept, "\n") + "\n")
	}
	b.WriteString("If you talk to a personality again afterwards, you start as a new user (you would need to add your keys again).")
	return r.SendConfirm(b.String(), confirmRow("Delete my data", fmt.Sprintf("/privacy/delete/%s/%s", discordID, c.expiry())))
}

func (c *Commands) privacyDeleteConfirmed(ctx context.Context, e *handler.ComponentEvent, r *reply) error {
	d, err := c.store.DeleteUserData(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	c.log.InfoContext(ctx, "user data deleted on request", "memories", d.Memories, "keys", d.Keys, "usage_rows_anonymised", d.UsageRows)
	gone, kept := dataLines(d)
	var b strings.Builder
	b.WriteString("Done: everything the bot kept about you is deleted.\n")
	if len(gone) > 0 {
		b.WriteString("Deleted:\n" + strings.Join(gone, "\n") + "\n")
	}
	if len(kept) > 0 {
		b.WriteString("Kept without your identity:\n" + strings.Join(kept, "\n"))
	}
	return r.Send(b.String())
}
