package commands

//go:generate go run ./zonegen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// zoneKey is how autocomplete compares: lowercase, with '/' and '_' read as
// spaces, so "new y" finds America/New_York and "sao" finds America/Sao_Paulo.
func zoneKey(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("/", " ", "_", " ", "-", " ").Replace(strings.ToLower(s))), " ")
}

// zoneEntry is a zone name with its precomputed comparison keys.
type zoneEntry struct {
	name, key, city string
}

// zoneIndex is every canonical zone, keyed once at start so a keystroke
// only compares strings.
type zoneIndex []zoneEntry

func newZoneIndex() zoneIndex {
	idx := make(zoneIndex, len(zoneNames))
	for i, name := range zoneNames {
		city := name
		if j := strings.LastIndexByte(name, '/'); j >= 0 {
			city = name[j+1:]
		}
		idx[i] = zoneEntry{name: name, key: zoneKey(name), city: zoneKey(city)}
	}
	return idx
}

// match returns up to max zone names matching typed, best first: names
// whose city (or whole name) starts with what was typed, then names
// containing its words in order.
func (idx zoneIndex) match(typed string, max int) []string {
	q := zoneKey(typed)
	if q == "" {
		return []string{"UTC", "Europe/London", "America/New_York", "America/Chicago", "America/Los_Angeles",
			"Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"}[:min(8, max)]
	}
	words := strings.Fields(q)
	var first, rest []string
	for _, z := range idx {
		switch {
		case strings.HasPrefix(z.city, q) || strings.HasPrefix(z.key, q):
			first = append(first, z.name)
		case len(first) < max && containsInOrder(z.key, words):
			rest = append(rest, z.name)
		}
	}
	out := append(first, rest...)
	return out[:min(len(out), max)]
}

// containsInOrder reports whether every word appears in s, in order.
func containsInOrder(s string, words []string) bool {
	for _, w := range words {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}

func (c *Commands) autocompleteZones(e *handler.AutocompleteEvent) error {
	names := c.zones.match(e.Data.String("zone"), 25)
	return e.AutocompleteResult(choices(names, names))
}

func (c *Commands) timezoneSet(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	zone := strings.TrimSpace(e.SlashCommandInteractionData().String("zone"))
	// Accept the case people type ("europe/london") when it names one zone.
	if i := slices.IndexFunc(zoneNames[:], func(n string) bool { return strings.EqualFold(n, zone) }); i >= 0 {
		zone = zoneNames[i]
	}
	err := c.store.SetTimezone(ctx, e.User().ID.String(), zone)
	if errors.Is(err, store.ErrInvalidTimezone) {
		hint := ""
		if m := c.zones.match(zone, 3); len(m) > 0 {
			hint = " Did you mean " + strings.Join(quoteAll(m), " or ") + "?"
		}
		return sayf("`%s` is not a time zone. Pick one from the list as you type (for example `Europe/London` or `America/New_York`).%s Your time zone was not changed.", truncate(zone, 64), hint)
	}
	if err != nil {
		return err
	}
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	now := c.now().In(u.Location)
	return r.Send(fmt.Sprintf("Your time zone is now **%s**. It is %s there.", u.Timezone, now.Format("15:04 on Monday 2 January")))
}

func (c *Commands) timezoneGet(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	now := c.now().In(u.Location)
	name, offset := now.Zone()
	return r.Send(fmt.Sprintf("Your time zone is **%s** (%s, UTC%s). Your local time is **%s**.\nChange it with `/timezone set`.",
		u.Timezone, name, utcOffset(offset), now.Format("15:04 on Monday 2 January 2006")))
}

func utcOffset(seconds int) string {
	sign := "+"
	if seconds < 0 {
		sign, seconds = "-", -seconds
	}
	return fmt.Sprintf("%s%02d:%02d", sign, seconds/3600, seconds%3600/60)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = "`" + v + "`"
	}
	return out
}
