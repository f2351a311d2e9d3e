package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/disgoorg/disgo/handler"

	"github.com/tzurot-go/tzurot/host/internal/plugin"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

func (c *Commands) adminUsage(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	label, span, _, err := periodSpan(e.SlashCommandInteractionData().String("period"))
	if err != nil {
		return err
	}
	since := c.now().Add(-span)
	totals, err := c.store.UsageGlobal(ctx, since)
	if err != nil {
		return err
	}
	if len(totals) == 0 {
		return r.Send(fmt.Sprintf("Nobody used anything in %s.", label))
	}
	top, err := c.store.TopUsers(ctx, since, 10)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Usage in %s**\n", label)

	type agg struct {
		name          string
		req, tok, usr int64
	}
	group := func(key func(store.UsageTotal) string) []agg {
		m := map[string]*agg{}
		for _, t := range totals {
			k := key(t)
			a := m[k]
			if a == nil {
				a = &agg{name: k}
				m[k] = a
			}
			a.req += t.Requests
			a.tok += t.InputTokens + t.OutputTokens
			a.usr = max(a.usr, t.Users) // a lower bound: users may overlap across models
		}
		out := make([]agg, 0, len(m))
		for _, a := range m {
			out = append(out, *a)
		}
		slices.SortFunc(out, func(x, y agg) int { return cmp.Or(cmp.Compare(y.tok, x.tok), strings.Compare(x.name, y.name)) })
		return out
	}
	b.WriteString("__Providers__\n")
	for _, a := range group(func(t store.UsageTotal) string { return t.Provider }) {
		fmt.Fprintf(&b, "- **%s**: %s requests, %s tokens\n", a.name, count(a.req), count(a.tok))
	}
	b.WriteString("__Models__\n")
	for i, a := range group(func(t store.UsageTotal) string { return t.Provider + " · " + t.Model }) {
		if i == 10 {
			break
		}
		fmt.Fprintf(&b, "- **%s**: %s requests, %s tokens, at least %d users\n", a.name, count(a.req), count(a.tok), a.usr)
	}
	b.WriteString("__Top users__\n")
	for _, u := range top {
		fmt.Fprintf(&b, "- <@%s>: %s requests, %s tokens\n", u.DiscordID, count(u.Requests), count(u.InputTokens+u.OutputTokens))
	}
	return r.Send(b.String())
}

func (c *Commands) adminPluginsList(_ context.Context, _ *handler.CommandEvent, r *reply) error {
	all := c.plugins.Status()
	if len(all) == 0 {
		return r.Send("plugins.toml lists no plugins.")
	}
	var b strings.Builder
	b.WriteString("**Plugins**\n")
	for _, st := range all {
		switch st.State {
		case plugin.StateLoaded:
			version := ""
			if st.Description != nil {
				version = " v" + st.Description.Version
			}
			health := "healthy"
			if st.Errors > 0 {
				health = fmt.Sprintf("%d of %d calls failed", st.Errors, st.Calls)
			}
			fmt.Fprintf(&b, "- ✅ **%s**%s: %s; %d calls\n", st.Name, version, health, st.Calls)
			slot := st.KeySlot
			if slot == "" {
				slot = "none"
			}
			hosts := strings.Join(st.AllowedHosts, ", ")
			if hosts == "" {
				hosts = "none"
			}
			fmt.Fprintf(&b, "  grants: %s · key slot: %s · hosts: %s\n", strings.Join(st.Capabilities, ", "), slot, hosts)
		case plugin.StateRefused:
			fmt.Fprintf(&b, "- ❌ **%s** refused: %s\n", st.Name, truncate(st.Reason, 200))
		default:
			fmt.Fprintf(&b, "- ⏸️ **%s** disabled\n", st.Name)
		}
	}
	return r.Send(b.String())
}

func (c *Commands) adminPluginsReload(ctx context.Context, _ *handler.CommandEvent, r *reply) error {
	if c.reload == nil {
		return sayf("Reloading is not available in this deployment: restart the bot to pick up plugins.toml changes.")
	}
	// Compiling plugins can take seconds: acknowledge first.
	if err := r.Defer(); err != nil {
		return err
	}
	if err := c.reload(ctx); err != nil {
		c.log.WarnContext(ctx, "plugin reload refused", "err", err)
		return sayf("The reload was refused and the running plugins stay as they were: %s", truncate(err.Error(), 1500))
	}
	if c.catalog != nil {
		c.catalog.Reset() // an entry may list another server's models now
	}
	loaded := 0
	for _, st := range c.plugins.Status() {
		if st.State == plugin.StateLoaded {
			loaded++
		}
	}
	return r.Send(fmt.Sprintf("Reloaded plugins.toml: %d plugins loaded. `/admin plugins list` shows them.", loaded))
}

func describeLimits(s ratelimit.Settings) string {
	f := func(n int64, unit string) string {
		if n == 0 {
			return "no limit"
		}
		return count(n) + " " + unit
	}
	return fmt.Sprintf("- per user: %s\n- per server: %s\n- tokens per user per day: %s\n- tokens per server per day: %s",
		f(s.UserPerMinute, "replies a minute"), f(s.GuildPerMinute, "replies a minute"),
		f(s.UserTokensPerDay, "tokens"), f(s.GuildTokensPerDay, "tokens"))
}

func (c *Commands) adminRateLimitShow(_ context.Context, _ *handler.CommandEvent, r *reply) error {
	if c.limits == nil {
		return sayf("This deployment runs without rate limits.")
	}
	return r.Send("**Rate limits in force**\n" + describeLimits(c.limits.Settings()))
}

func (c *Commands) adminRateLimitSet(_ context.Context, e *handler.CommandEvent, r *reply) error {
	if c.limits == nil {
		return sayf("This deployment runs without rate limits, so there is nothing to change.")
	}
	d := e.SlashCommandInteractionData()
	s := c.limits.Settings()
	changed := false
	for _, o := range []struct {
		name string
		dst  *int64
	}{
		{"user_per_minute", &s.UserPerMinute}, {"guild_per_minute", &s.GuildPerMinute},
		{"user_tokens_per_day", &s.UserTokensPerDay}, {"guild_tokens_per_day", &s.GuildTokensPerDay},
	} {
		if v, ok := d.OptInt(o.name); ok {
			if v < 0 {
				return sayf("`%s` cannot be negative (0 means no limit). Nothing was changed.", o.name)
			}
			*o.dst, changed = int64(v), true
		}
	}
	if !changed {
		return sayf("Give at least one limit to change (0 means no limit). Nothing was changed.")
	}
	c.limits.SetSettings(s)
	return r.Send("**Rate limits changed** (until the next restart; set `TZUROT_RATE_*` to keep them)\n" + describeLimits(s))
}
