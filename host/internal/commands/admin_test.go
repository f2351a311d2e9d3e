package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/ratelimit"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

var owner = discordfake.User{ID: ownerID, Username: "boss"}

// usageAt records one usage row for the Discord user at a time.
func (e *env) usageAt(discordID, provider, model string, in, out int, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.UserByDiscordID(ctx, discordID)
	if err != nil {
		e.t.Fatal(err)
	}
	req := fmt.Sprintf("req-%s-%d", discordID, at.UnixNano())
	if _, err := e.store.InsertUsage(ctx, store.Usage{RequestID: req, UserID: u.ID, Provider: provider, Model: model,
		Kind: store.KindText, InputTokens: in, OutputTokens: out}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.Pool().Exec(ctx, `UPDATE usage_logs SET created_at = $1 WHERE request_id = $2`, at, req); err != nil {
		e.t.Fatal(err)
	}
}

func TestUsageShowsOnlyTheUsersOwnUsageWithAChart(t *testing.T) {
	e := newEnv(t)
	u, other := e.user(), e.user()
	mustSay(t, e.slash(u, "usage"), "You have used nothing in the last 7 days")

	e.usageAt(u.ID, "openai", "gpt-4o", 100, 50, e.now.Add(-49*time.Hour))
	e.usageAt(u.ID, "openai", "gpt-4o", 10, 5, e.now.Add(-time.Hour))
	e.usageAt(u.ID, "openrouter", "meta/llama", 1000, 2000, e.now.Add(-2*time.Hour))
	e.usageAt(u.ID, "openai", "gpt-4o", 7777, 7777, e.now.Add(-40*24*time.Hour)) // outside a week
	e.usageAt(other.ID, "openai", "secret-model", 5, 5, e.now.Add(-time.Hour))

	a := e.slash(u, "usage", str("period", "week"))
	mustSay(t, a, "the last 7 days", "**openrouter · meta/llama**: 1 requests, 1,000 tokens in, 2,000 out",
		"**openai · gpt-4o**: 2 requests, 110 tokens in, 55 out", "Total: 3 requests, 3,165 tokens.")
	for _, notMine := range []string{"secret-model", "7,777"} {
		if bytes.Contains([]byte(a.Content), []byte(notMine)) {
			t.Fatalf("someone else's or older usage is shown: %q", a.Content)
		}
	}
	if len(a.Files) != 1 || a.Files[0].Name != "usage.png" {
		t.Fatalf("want the chart as usage.png, got %+v", a.Files)
	}
	img, err := png.Decode(bytes.NewReader(a.Files[0].Data))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	// Bars are drawn in Discord's blurple; two days have usage.
	blurple := 0
	b := img.Bounds()
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == 88 && g>>8 == 101 && bl>>8 == 242 {
				blurple++
			}
		}
	}
	if blurple < 100 {
		t.Fatalf("the chart has no bars (%d bar pixels)", blurple)
	}

	day := e.slash(u, "usage", str("period", "day"))
	mustSay(t, day, "the last 24 hours", "Total: 2 requests")
	month := e.slash(u, "usage", str("period", "month"))
	mustSay(t, month, "Total: 3 requests")
}

func TestAdminIsForTheBotOwnersOnly(t *testing.T) {
	e := newEnv(t)
	stranger := e.user()
	for _, opts := range [][]discordfake.CommandOption{
		{sub("usage")},
		{group("plugins", sub("list"))},
		{group("plugins", sub("reload"))},
		{group("ratelimit", sub("show"))},
		{group("ratelimit", sub("set", integer("user_per_minute", 1000)))},
	} {
		before := e.snapshot()
		a := e.slash(stranger, "admin", opts...)
		mustSay(t, a, "Only the bot's owners can use `/admin`", "Nothing was changed")
		e.unchanged(before)
	}
	if e.reloads.Load() != 0 || e.limits.Settings() != ratelimit.DefaultSettings() {
		t.Fatal("a non-owner changed plugins or rate limits")
	}
}

func TestAdminUsagePluginsAndRateLimits(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	e.usageAt(alice.ID, "openai", "gpt-4o", 100, 100, e.now.Add(-time.Hour))
	e.usageAt(bob.ID, "openai", "gpt-4o", 1000, 1000, e.now.Add(-time.Hour))
	e.usageAt(bob.ID, "openrouter", "meta/llama", 10, 10, e.now.Add(-2*time.Hour))

	a := e.slash(owner, "admin", sub("usage", str("period", "day")))
	mustSay(t, a, "**openai**: 2 requests, 2,200 tokens", "**openrouter**: 1 requests, 20 tokens",
		"**openai · gpt-4o**: 2 requests, 2,200 tokens, at least 2 users",
		"<@"+bob.ID+">: 2 requests, 2,020 tokens\n- <@"+alice.ID+">: 1 requests, 200 tokens")

	a = e.slash(owner, "admin", group("plugins", sub("list")))
	mustSay(t, a, "**openai** v1.0.0", "grants: llm.chat, llm.validate_key", "key slot: openai", "127.0.0.1:")

	a = e.slash(owner, "admin", group("plugins", sub("reload")))
	mustSay(t, a, "Reloaded plugins.toml: 1 plugins loaded")
	if e.reloads.Load() != 1 {
		t.Fatal("reload was not called")
	}

	mustSay(t, e.slash(owner, "admin", group("ratelimit", sub("show"))), "per user: 10 replies a minute")
	a = e.slash(owner, "admin", group("ratelimit", sub("set", integer("user_per_minute", 3), integer("user_tokens_per_day", 50000))))
	mustSay(t, a, "per user: 3 replies a minute", "per server: 60 replies a minute", "tokens per user per day: 50,000 tokens", "tokens per server per day: no limit")
	want := ratelimit.Settings{UserPerMinute: 3, GuildPerMinute: 60, UserTokensPerDay: 50000}
	if got := e.limits.Settings(); got != want {
		t.Fatalf("settings = %+v, want %+v", got, want)
	}
	mustSay(t, e.slash(owner, "admin", group("ratelimit", sub("set"))), "at least one limit")
	if got := e.limits.Settings(); got != want {
		t.Fatal("an empty set changed the settings")
	}
}

// A provider plugin added to plugins.toml and reloaded appears in /wallet at
// once, with no code change; a reload that would refuse a plugin changes
// nothing.
func TestReloadedProviderAppearsInTheWallet(t *testing.T) {
	e := newEnv(t)
	e.editPlugins(fmt.Sprintf(`
[plugins.router]
path = %q
key_slot = "openrouter"
capabilities = ["llm.chat", "llm.validate_key"]
allowed_hosts = ["openrouter.ai:443"]
[plugins.router.config]
base_url = "https://openrouter.ai/api/v1"
`, openaiWasm))
	mustSay(t, e.slash(owner, "admin", group("plugins", sub("reload"))), "2 plugins loaded")
	in := e.spec(e.user())
	a := e.inject(in, discordfake.Autocomplete(in, "wallet", sub("set",
		discordfake.CommandOption{Name: "provider", Type: discordfake.OptionString, Value: "", Focused: true})))
	ch, _ := a.Data["choices"].([]any)
	if len(ch) != 2 || ch[0].(map[string]any)["value"] != "openai" || ch[1].(map[string]any)["value"] != "openrouter" {
		t.Fatalf("providers after reload = %v", a.Data["choices"])
	}
	mustSay(t, e.slash(owner, "admin", group("plugins", sub("list"))), "**router** v1.0.0", "key slot: openrouter")

	e.editPlugins(`
[plugins.broken]
path = "/nonexistent/plugin.wasm"
`)
	a = e.slash(owner, "admin", group("plugins", sub("reload")))
	mustSay(t, a, "The reload was refused and the running plugins stay as they were", "broken")
	if n := len(e.plugins.Status()); n != 2 {
		t.Fatalf("after a refused reload %d plugins are listed, want the 2 running ones", n)
	}
}
