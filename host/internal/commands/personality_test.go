package commands_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// create makes a personality owned by u through /personality create.
func (e *env) create(u discordfake.User, slug, name string) int64 {
	e.t.Helper()
	a := e.slash(u, "personality", sub("create", str("slug", slug), str("name", name), str("prompt", "You are "+name+".")))
	mustSay(e.t, a, "Created **"+name+"**")
	p, err := e.store.PersonalityBySlug(context.Background(), slug, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func TestPersonalityCreateEditAndAliases(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	id := e.create(u, "lilith", "Lilith")
	if got, ok := e.aliases.Lookup("@lilith"); !ok || got != id {
		t.Fatal("the new personality's name is not in the alias index")
	}

	a := e.slash(u, "personality", sub("edit", str("personality", "lilith"),
		str("error_message", "I tripped over my own thoughts."), str("birthday", "02-29"), boolean("public", true)))
	mustSay(t, a, "error message, birthday, visibility")
	p, _ := e.store.PersonalityByID(context.Background(), id, 0)
	if p.ErrorMessage == nil || *p.ErrorMessage != "I tripped over my own thoughts." || *p.BirthMonth != 2 || *p.BirthDay != 29 ||
		p.BirthYear != nil || !p.IsPublic {
		t.Fatalf("after edit: %+v", p.Personality)
	}
	mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "Lilith"), str("birthday", "1990-10-31"))), "birthday")
	p, _ = e.store.PersonalityByID(context.Background(), id, 0)
	if *p.BirthYear != 1990 || *p.BirthMonth != 10 || *p.BirthDay != 31 {
		t.Fatalf("birthday = %v-%v-%v", *p.BirthYear, *p.BirthMonth, *p.BirthDay)
	}

	mustSay(t, e.slash(u, "personality", group("alias", sub("add", str("personality", "lilith"), str("alias", "@Lily")))), "`@Lily`")
	if got, ok := e.aliases.Lookup("lily"); !ok || got != id {
		t.Fatal("the alias is not in the index")
	}
	// Renaming moves the name in the index (the slug "lilith" still calls
	// it: slugs are mentions too).
	mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "lily"), str("name", "Lilith Prime"))), "name")
	mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "lily"), str("name", "Queen of the Night"))), "name")
	if _, ok := e.aliases.Lookup("lilith prime"); ok {
		t.Fatal("the old name still triggers")
	}
	if got, ok := e.aliases.Lookup("lilith"); !ok || got != id {
		t.Fatal("the slug does not trigger")
	}
	mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "lily"), str("name", "Lilith Prime"))), "name")
	if got, ok := e.aliases.Lookup("lilith prime"); !ok || got != id {
		t.Fatal("the new name does not trigger")
	}
	mustSay(t, e.slash(u, "personality", group("alias", sub("remove", str("personality", "lilith"), str("alias", "LILY")))), "Removed the alias")
	if _, ok := e.aliases.Lookup("lily"); ok {
		t.Fatal("a removed alias still triggers")
	}
	mustSay(t, e.slash(u, "personality", sub("avatar", str("personality", "lilith"), str("url", "https://cdn.example.com/lilith.png"))), "now posts with this avatar")
	p, _ = e.store.PersonalityByID(context.Background(), id, 0)
	if p.AvatarURL != "https://cdn.example.com/lilith.png" {
		t.Fatalf("avatar = %q", p.AvatarURL)
	}
}

func TestPersonalityBadEditsChangeNothing(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	e.create(u, "lilith", "Lilith")
	for _, tc := range []struct {
		name string
		opts []discordfake.CommandOption
		want string
	}{
		{"birthday 02-30", []discordfake.CommandOption{str("birthday", "02-30")}, "is not a birthday"},
		{"birthday words", []discordfake.CommandOption{str("birthday", "October 31")}, "MM-DD"},
		{"nothing to change", nil, "at least one thing"},
		{"stream sometimes", []discordfake.CommandOption{str("stream", "sometimes")}, "stream must be on, off or default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t) // failures belong to this case
			before := e.snapshot()
			opts := append([]discordfake.CommandOption{str("personality", "lilith")}, tc.opts...)
			mustSay(t, e.slash(u, "personality", sub("edit", opts...)), tc.want)
			e.unchanged(before)
		})
	}
	before := e.snapshot()
	mustSay(t, e.slash(u, "personality", sub("avatar", str("personality", "lilith"), str("url", "javascript:alert(1)"))), "https://")
	mustSay(t, e.slash(u, "personality", sub("create", str("slug", "Bad Slug!"), str("name", "X"))), "cannot be a slug")
	mustSay(t, e.slash(u, "personality", sub("create", str("slug", "lilith"), str("name", "Other"))), "slug `lilith` is taken")
	mustSay(t, e.slash(u, "personality", sub("create", str("slug", "lilith2"), str("name", "LILITH"))), "already taken", "calls **Lilith** (`lilith`)")
	mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "nobody"), str("name", "X"))), "no personality called `nobody`")
	e.unchanged(before)
}

// TestPersonalityStreamSetting: the owner turns streamed replies on or off
// for a personality, or back to the deployment's default (NULL).
func TestPersonalityStreamSetting(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	id := e.create(u, "lilith", "Lilith")
	on, off := true, false
	for _, tc := range []struct {
		value string
		want  *bool
	}{{"on", &on}, {"off", &off}, {"default", nil}} {
		mustSay(t, e.slash(u, "personality", sub("edit", str("personality", "lilith"), str("stream", tc.value))), "Updated the streaming of **Lilith**")
		p, err := e.store.PersonalityByID(context.Background(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if (p.StreamReplies == nil) != (tc.want == nil) || (p.StreamReplies != nil && *p.StreamReplies != *tc.want) {
			t.Fatalf("stream %s: stream_replies = %v", tc.value, p.StreamReplies)
		}
	}
}

func TestAliasAlreadyTakenNamesTheHolder(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	e.create(u, "lilith", "Lilith")
	e.create(u, "bambi", "Bambi")
	mustSay(t, e.slash(u, "personality", group("alias", sub("add", str("personality", "lilith"), str("alias", "Lily")))), "`@Lily`")

	for _, alias := range []string{"lily", "  LILY ", "@Lily", "LILITH"} {
		before := e.snapshot()
		a := e.slash(u, "personality", group("alias", sub("add", str("personality", "bambi"), str("alias", alias))))
		mustSay(t, a, "already taken", "Nothing was changed")
		mustSay(t, a, "calls **Lilith** (`lilith`)")
		e.unchanged(before)
	}
	if got, _ := e.aliases.Lookup("lily"); got == 0 {
		t.Fatal("the holder lost its alias in the index")
	}
	before := e.snapshot()
	mustSay(t, e.slash(u, "personality", group("alias", sub("remove", str("personality", "bambi"), str("alias", "nope")))), "has no alias `nope`")
	e.unchanged(before)
}

func TestPersonalityLLMValidatesParametersAgainstThePluginSchema(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	id := e.create(u, "lilith", "Lilith")
	a := e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "openai"),
		str("model", "gpt-4o-mini"), str("parameters", `{"temperature": 0.8, "thinking": "high"}`)))
	mustSay(t, a, "now uses **gpt-4o-mini** on `openai`")
	p, _ := e.store.PersonalityByID(context.Background(), id, 0)
	var params map[string]any
	_ = json.Unmarshal(p.LLM.AdvancedParameters, &params)
	if p.LLM.Provider != "openai" || p.LLM.Model != "gpt-4o-mini" || params["temperature"] != 0.8 || params["thinking"] != "high" {
		t.Fatalf("llm config = %+v %s", p.LLM, p.LLM.AdvancedParameters)
	}

	for _, tc := range []struct {
		name, params string
		want         []string
	}{
		{"temperature 7", `{"temperature": 7}`, []string{"`temperature`: must be at most 2, but it is 7"}},
		{"thinking the schema forbids", `{"thinking": "extreme"}`, []string{"`thinking`: must be one of", `"high"`, `not "extreme"`}},
		{"reasoning effort the schema forbids", `{"reasoning": {"effort": "ludicrous"}}`, []string{"`reasoning.effort`: must be one of", `"xhigh"`}},
		{"unknown field", `{"temprature": 1}`, []string{"`temprature` is not a parameter this provider takes"}},
		{"not JSON", `{temperature: 1}`, []string{"not valid JSON"}},
		{"not an object", `[1, 2]`, []string{"JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t) // failures belong to this case
			before := e.snapshot()
			a := e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "openai"),
				str("model", "gpt-4o"), str("parameters", tc.params)))
			mustSay(t, a, append(tc.want, "Nothing was changed")...)
			e.unchanged(before)
		})
	}
	before := e.snapshot()
	mustSay(t, e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "nope"), str("model", "m"))),
		"`nope` is not a loaded chat provider", "`openai`")
	e.unchanged(before)
}

func TestNonOwnersCannotManageSomeoneElsesPersonality(t *testing.T) {
	e := newEnv(t)
	owner, stranger := e.user(), e.user()
	e.create(owner, "lilith", "Lilith")
	for _, opts := range [][]discordfake.CommandOption{
		{sub("edit", str("personality", "lilith"), str("name", "Mine now"))},
		{sub("avatar", str("personality", "lilith"), str("url", "https://evil.example/x.png"))},
		{group("alias", sub("add", str("personality", "lilith"), str("alias", "stolen")))},
		{sub("llm", str("personality", "lilith"), str("provider", "openai"), str("model", "gpt-4o"))},
		{sub("delete", str("personality", "lilith"), str("confirm", "lilith"))},
	} {
		before := e.snapshot()
		mustSay(t, e.slash(stranger, "personality", opts...), "Only the owner of **Lilith**", "Nothing was changed")
		e.unchanged(before)
	}
	// A private personality cannot be activated by someone else either.
	before := e.snapshot()
	mustSay(t, e.slash(stranger, "personality", sub("activate", str("personality", "lilith"))), "is private")
	e.unchanged(before)
	// The bot's owner may.
	mustSay(t, e.slash(discordfake.User{ID: ownerID, Username: "boss"}, "personality",
		sub("edit", str("personality", "lilith"), str("display_name", "Lady Lilith"))), "display name")
}

func TestActivateDeactivateAndDelete(t *testing.T) {
	e := newEnv(t)
	u := e.user()
	id := e.create(u, "lilith", "Lilith")
	mustSay(t, e.slash(u, "personality", group("alias", sub("add", str("personality", "lilith"), str("alias", "lily")))), "lily")
	mustSay(t, e.slash(u, "personality", sub("llm", str("personality", "lilith"), str("provider", "openai"), str("model", "gpt-4o"))), "now uses")

	mustSay(t, e.slash(u, "personality", sub("activate", str("personality", "lilith"))), "now answers every message in <#"+e.channel+">")
	if got, ok, _ := e.store.ActivatedPersonality(context.Background(), e.channel); !ok || got != id {
		t.Fatal("channel not activated")
	}
	mustSay(t, e.slash(u, "personality", sub("deactivate")), "no personality answers every message here")
	before := e.snapshot()
	mustSay(t, e.slash(u, "personality", sub("deactivate")), "No personality is active")
	e.unchanged(before)
	mustSay(t, e.slash(u, "personality", sub("activate", str("personality", "lilith"))), "now answers")

	before = e.snapshot()
	mustSay(t, e.slash(u, "personality", sub("delete", str("personality", "lilith"), str("confirm", "lily"))), "type its slug `lilith`")
	e.unchanged(before)

	mustSay(t, e.slash(u, "personality", sub("delete", str("personality", "lilith"), str("confirm", "lilith"))), "Deleted **Lilith**")
	var n int
	_ = e.store.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM personalities) + (SELECT count(*) FROM personality_aliases) +
		(SELECT count(*) FROM llm_configs) + (SELECT count(*) FROM channel_activations)`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows of the deleted personality remain", n)
	}
	if e.aliases.Len() != 0 {
		t.Fatalf("the index still holds %d aliases", e.aliases.Len())
	}
}

func TestPersonalityAutocompleteOffersOnlyWhatTheUserManages(t *testing.T) {
	e := newEnv(t)
	u, other := e.user(), e.user()
	e.create(u, "lilith", "Lilith")
	e.create(other, "lucifer", "Lucifer")
	in := e.spec(u)
	a := e.inject(in, discordfake.Autocomplete(in, "personality", sub("edit",
		discordfake.CommandOption{Name: "personality", Type: discordfake.OptionString, Value: "l", Focused: true})))
	ch, _ := a.Data["choices"].([]any)
	if len(ch) != 1 || ch[0].(map[string]any)["value"] != "lilith" {
		t.Fatalf("choices = %v, want only lilith", a.Data["choices"])
	}
	in = e.spec(discordfake.User{ID: ownerID, Username: "boss"})
	a = e.inject(in, discordfake.Autocomplete(in, "personality", sub("edit",
		discordfake.CommandOption{Name: "personality", Type: discordfake.OptionString, Value: "l", Focused: true})))
	if ch, _ := a.Data["choices"].([]any); len(ch) != 2 {
		t.Fatalf("the bot owner should see both: %v", a.Data["choices"])
	}
}

func TestActivateAutocompleteOffersPublicPersonalities(t *testing.T) {
	e := newEnv(t)
	u, other := e.user(), e.user()
	e.create(u, "lilith", "Lilith")
	e.create(other, "lucifer", "Lucifer")
	e.create(other, "lumen", "Lumen")
	mustSay(t, e.slash(other, "personality", sub("edit", str("personality", "lucifer"), boolean("public", true))), "visibility")
	in := e.spec(u)
	a := e.inject(in, discordfake.Autocomplete(in, "personality", sub("activate",
		discordfake.CommandOption{Name: "personality", Type: discordfake.OptionString, Value: "L", Focused: true})))
	ch, _ := a.Data["choices"].([]any)
	var got []string
	for _, c := range ch {
		got = append(got, c.(map[string]any)["value"].(string))
	}
	if len(got) != 2 || got[0] != "lilith" || got[1] != "lucifer" {
		t.Fatalf("activate offers %v, want lilith (own) and lucifer (public), not the private lumen", got)
	}
	mustSay(t, e.slash(u, "personality", sub("activate", str("personality", "lucifer"))), "**Lucifer** now answers")
}
