package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// TestCommandRepliesPingNobody: text a user controls ends up in replies (a
// provider name typed as an option, a model name in /usage). Immediate and
// deferred replies alike must ping nobody, whatever that text says; a
// deferred answer once went out with disgo's default (everyone, roles and
// users) and pinged the whole server.
func TestCommandRepliesPingNobody(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	const loud = "@everyone <@&700000000000000099> <@800000000000000077>"

	// Immediate: the typed provider is quoted back.
	in := e.spec(u)
	a := e.inject(in, discordfake.SlashCommand(in, "wallet", sub("remove", str("provider", loud))))
	mustSay(t, a, "@everyone")
	e.pingsNobody(in.Token, "immediate reply")

	// Deferred (the chart takes a moment): the model name is quoted back.
	e.slash(u, "usage") // creates the user
	e.usageAt(u.ID, "openai", loud, 10, 5, e.now.Add(-time.Hour))
	in = e.spec(u)
	a = e.inject(in, discordfake.SlashCommand(in, "usage", str("period", "week")))
	if a.Type != 5 || !strings.Contains(a.Content, "@everyone") {
		t.Fatalf("want a deferred /usage answer quoting the model name, got type %d %q", a.Type, a.Content)
	}
	e.pingsNobody(in.Token, "deferred /usage answer")

	for _, b := range e.discord.MessageBodies() {
		if b.AllowedMentions == "" || b.Allows != (discordfake.Mentions{}) {
			t.Errorf("%s (%s) allows %s, want nothing: %s", b.Route, b.Kind, b.Allows, b.AllowedMentions)
		}
	}
}

// pingsNobody fails unless the interaction's answer, as Discord delivered
// it, pinged no one.
func (e *env) pingsNobody(token, what string) {
	e.t.Helper()
	m, ok := e.discord.Original(token)
	if !ok {
		e.t.Fatalf("%s: no answer", what)
	}
	if m.MentionEveryone || len(m.MentionRoles) > 0 || len(m.MentionUsers) > 0 {
		e.t.Errorf("%s pinged everyone=%v roles=%v users=%v; a command reply must ping nobody (allowed_mentions %s)",
			what, m.MentionEveryone, m.MentionRoles, m.MentionUsers, m.AllowedMentions)
	}
}
