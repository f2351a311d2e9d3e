package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/gateway"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

// internalID returns the host's id of a Discord user, creating them.
func (e *env) internalID(u discordfake.User) int64 {
	e.t.Helper()
	got, err := e.store.UserByDiscordID(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got.ID
}

// personalityOf creates a public personality owned by u (by a slash
// command, as a user would) and returns its id.
func (e *env) personalityOf(u discordfake.User, slug, name string) int64 {
	e.t.Helper()
	a := e.slash(u, "personality", sub("create", str("slug", slug), str("name", name), boolean("public", true)))
	mustSay(e.t, a, "Created")
	p, err := e.store.PersonalityBySlug(context.Background(), slug, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// remember stores a memory about the given users, formed at the given time.
func (e *env) remember(personalityID int64, content string, at time.Time, about ...int64) int64 {
	e.t.Helper()
	var id int64
	err := e.store.Pool().QueryRow(context.Background(), `
INSERT INTO personality_memories (personality_id, source_system, content, formed_by, is_dm, about_user_ids, present_user_ids,
                                  discord_guild_id, remembered_at)
VALUES ($1, 'tzurot', $2, 'summary', false, $3, $3, '700000000000000001', $4) RETURNING id`,
		personalityID, content, about, at).Scan(&id)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// memoryCount counts the memories in the database.
func (e *env) memoryCount() int {
	e.t.Helper()
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM personality_memories`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// buttons returns the custom ids of the buttons on an answer, by label.
func buttons(t testing.TB, a answer) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows, _ := a.Data["components"].([]any)
	for _, r := range rows {
		comps, _ := r.(map[string]any)["components"].([]any)
		for _, c := range comps {
			m := c.(map[string]any)
			label, _ := m["label"].(string)
			id, _ := m["custom_id"].(string)
			out[label] = id
		}
	}
	return out
}

// click presses the button customID, on an ephemeral answer of the bot, as
// u, and returns what replaced the message.
func (e *env) click(u discordfake.User, customID string) answer {
	e.t.Helper()
	in := e.spec(u)
	msg := discordfake.MessageSpec{ID: e.discord.NewID(), ChannelID: e.channel, GuildID: e.guildID,
		Author: discordfake.User{ID: discordfake.DefaultAppID, Username: "tzurot", Bot: true}, Content: "the question"}
	discordfake.Inject(e.t, e.client, gateway.EventTypeInteractionCreate, discordfake.ButtonClick(in, customID, msg))
	e.cmds.Wait()
	var got []discordfake.InteractionResponse
	for _, r := range e.discord.InteractionResponses() {
		if r.Token == in.Token {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		e.t.Fatalf("want one response to the click, got %+v", got)
	}
	a := answer{Type: got[0].Type, Content: got[0].Content}
	_ = json.Unmarshal([]byte(got[0].Data), &a.Data)
	if a.Type != 7 {
		e.t.Fatalf("the click was answered with type %d, want 7 (update the message): %+v", a.Type, got[0])
	}
	if comps, ok := a.Data["components"].([]any); !ok || len(comps) != 0 {
		e.t.Errorf("the answered question keeps its buttons: %v", a.Data["components"])
	}
	return a
}

var memoryIDRe = regexp.MustCompile("`#([0-9]+)`")

func TestMemoryCommands(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, carol := e.user(), e.user(), e.user()
	aid, bid := e.internalID(alice), e.internalID(bob)
	nyx := e.personalityOf(bob, "nyx", "Nyx")
	lil := e.personalityOf(bob, "lilith", "Lilith")
	base := e.now.Add(-30 * 24 * time.Hour)
	var aliceIDs []int64
	for i := range 11 {
		aliceIDs = append(aliceIDs, e.remember(nyx, fmt.Sprintf("Alice note %02d: she drinks tea with milk", i), base.Add(time.Duration(i)*time.Hour), aid))
	}
	cello := e.remember(lil, "Alice is learning the cello\nand practises at night", base.Add(48*time.Hour), aid)
	shared := e.remember(nyx, "Alice and Bob planned a trip to Lisbon", base.Add(72*time.Hour), aid, bid)
	bobs := e.remember(nyx, "Bob secretly collects stamps", base.Add(96*time.Hour), bid)

	t.Run("list pages", func(t *testing.T) {
		e := e.in(t)
		a := e.slash(alice, "memory", sub("list"))
		mustSay(t, a, "Memories about you: 13, newest first (page 1 of 2)", fmt.Sprintf("`#%d`", shared), "(shared)",
			"Lisbon", "**Lilith**", "cello and practises", "/memory list page:2")
		if strings.Contains(a.Content, "stamps") {
			t.Errorf("Bob's memory is listed for Alice: %s", a.Content)
		}
		if got := len(memoryIDRe.FindAllString(a.Content, -1)); got != 10 {
			t.Errorf("page 1 shows %d memories, want 10", got)
		}
		a = e.slash(alice, "memory", sub("list", integer("page", 2)))
		mustSay(t, a, "page 2 of 2", fmt.Sprintf("`#%d`", aliceIDs[0]), "Alice note 00")
		if got := len(memoryIDRe.FindAllString(a.Content, -1)); got != 3 {
			t.Errorf("page 2 shows %d memories, want 3: %s", got, a.Content)
		}
		mustSay(t, e.slash(alice, "memory", sub("list", integer("page", 5))), "only 2 pages")
		a = e.slash(alice, "memory", sub("list", str("personality", "lilith")))
		mustSay(t, a, "What **Lilith** remembers about you: 1", fmt.Sprintf("`#%d`", cello))
		mustSay(t, e.slash(carol, "memory", sub("list")), "No personality remembers anything about you.")
	})

	t.Run("search is words only", func(t *testing.T) {
		e := e.in(t)
		before := e.snapshot()
		n := e.memoryCount()
		a := e.slash(alice, "memory", sub("search", str("query", "cello & !night):*")))
		mustSay(t, a, fmt.Sprintf("`#%d`", cello), "matching “cello & !night):*”")
		a = e.slash(alice, "memory", sub("search", str("query", "stamps'); DELETE FROM personality_memories; --")))
		mustSay(t, a, "No memory about you matches")
		a = e.slash(alice, "memory", sub("search", str("query", "stamps")))
		mustSay(t, a, "No memory about you matches “stamps”") // Bob's, never Alice's
		a = e.slash(alice, "memory", sub("search", str("query", "Lisbon"), str("personality", "lilith")))
		mustSay(t, a, "No memory **Lilith** has about you matches")
		e.unchanged(before)
		if e.memoryCount() != n {
			t.Error("a search changed the memories")
		}
	})

	t.Run("forget", func(t *testing.T) {
		e := e.in(t)
		n := e.memoryCount()
		other := e.slash(alice, "memory", sub("forget", integer("id", int(bobs))))
		missing := e.slash(alice, "memory", sub("forget", integer("id", int(bobs+1000))))
		mustSay(t, other, fmt.Sprintf("There is no memory `#%d` about you.", bobs))
		// Someone else's memory and one that does not exist read the same.
		if strings.ReplaceAll(other.Content, fmt.Sprint(bobs), "N") != strings.ReplaceAll(missing.Content, fmt.Sprint(bobs+1000), "N") {
			t.Errorf("someone else's memory is told apart:\n%s\n%s", other.Content, missing.Content)
		}
		if e.memoryCount() != n {
			t.Fatal("a refused forget deleted something")
		}
		a := e.slash(alice, "memory", sub("forget", integer("id", int(cello))))
		mustSay(t, a, "Forgotten:", fmt.Sprintf("`#%d`", cello), "**Lilith**")
		a = e.slash(alice, "memory", sub("forget", integer("id", int(cello))))
		mustSay(t, a, "There is no memory")
		if e.memoryCount() != n-1 {
			t.Errorf("%d memories, want %d", e.memoryCount(), n-1)
		}
	})

	t.Run("forget-all asks first", func(t *testing.T) {
		e := e.in(t)
		n := e.memoryCount()
		a := e.slash(alice, "memory", sub("forget-all", str("personality", "nyx")))
		mustSay(t, a, "This forgets **12** memories about you by **Nyx**", "cannot be undone")
		btn := buttons(t, a)
		id := btn["Forget 12 memories"]
		if id == "" || btn["Cancel"] == "" {
			t.Fatalf("buttons: %v", btn)
		}
		if e.memoryCount() != n {
			t.Fatal("asking deleted something")
		}
		// Bob pressing Alice's button, Cancel, and an expired button: nothing.
		if got := e.click(bob, id); !strings.Contains(got.Content, "someone else's") {
			t.Errorf("Bob's click: %q", got.Content)
		}
		if got := e.click(alice, btn["Cancel"]); !strings.Contains(got.Content, "Cancelled. Nothing was changed.") {
			t.Errorf("cancel: %q", got.Content)
		}
		e.now = e.now.Add(11 * time.Minute)
		if got := e.click(alice, id); !strings.Contains(got.Content, "expired") {
			t.Errorf("an old button: %q", got.Content)
		}
		if e.memoryCount() != n {
			t.Fatal("a refused click deleted something")
		}
		a = e.slash(alice, "memory", sub("forget-all", str("personality", "nyx")))
		got := e.click(alice, buttons(t, a)["Forget 12 memories"])
		if !strings.Contains(got.Content, "Forgot 12 memories about you.") {
			t.Errorf("confirmed: %q", got.Content)
		}
		if e.memoryCount() != n-12 {
			t.Errorf("%d memories left, want %d (Bob's own)", e.memoryCount(), n-12)
		}
		var left string
		if err := e.store.Pool().QueryRow(ctx, `SELECT content FROM personality_memories`).Scan(&left); err != nil || left != "Bob secretly collects stamps" {
			t.Errorf("what is left: %q, %v", left, err)
		}
		mustSay(t, e.slash(alice, "memory", sub("forget-all")), "Nothing to forget")
	})

	t.Run("formation", func(t *testing.T) {
		e := e.in(t)
		a := e.slash(alice, "memory", sub("formation", str("state", "off")))
		mustSay(t, a, "No personality forms new memories about you")
		if ok, _ := e.store.MemoryFormationAllowed(ctx, aid, nyx); ok {
			t.Error("formation still allowed after off")
		}
		a = e.slash(alice, "memory", sub("formation", str("state", "on"), str("personality", "nyx")))
		mustSay(t, a, "**Nyx** forms new memories about you.")
		if ok, _ := e.store.MemoryFormationAllowed(ctx, aid, nyx); !ok {
			t.Error("on for nyx did not win over off for all")
		}
		if ok, _ := e.store.MemoryFormationAllowed(ctx, aid, lil); ok {
			t.Error("on for nyx turned lilith on")
		}
		if _, err := e.store.Pool().Exec(ctx, `UPDATE personalities SET memory_formation_enabled = false WHERE id = $1`, nyx); err != nil {
			t.Fatal(err)
		}
		a = e.slash(alice, "memory", sub("formation", str("state", "on"), str("personality", "nyx")))
		mustSay(t, a, "owner has turned memory formation off")
	})
	e.discord.AssertMentionsSafe(t)
}

func TestPersonaCommands(t *testing.T) {
	e := newEnv(t)
	alice, owner := e.user(), e.user()
	e.personalityOf(owner, "nyx", "Nyx")
	e.personalityOf(owner, "lilith", "Lilith")

	mustSay(t, e.slash(alice, "persona", sub("show")), "You have no persona.")
	mustSay(t, e.slash(alice, "persona", sub("set", str("text", "I am Alice, she/her. @everyone loves tea."))),
		"Every personality is told this about you", "> I am Alice, she/her. @everyone loves tea.")
	mustSay(t, e.slash(alice, "persona", sub("set", str("text", "Call me Captain."), str("personality", "nyx"))),
		"**Nyx** is told this about you")
	mustSay(t, e.slash(alice, "persona", sub("show", str("personality", "nyx"))), "your persona for it", "> Call me Captain.")
	mustSay(t, e.slash(alice, "persona", sub("show", str("personality", "lilith"))), "your global persona", "> I am Alice")
	mustSay(t, e.slash(alice, "persona", sub("show")), "**Every personality** (global):", "**Nyx** only:", "Call me Captain.")

	before := e.snapshot()
	a := e.slash(alice, "persona", sub("set", str("text", strings.Repeat("ab", 2001))))
	mustSay(t, a, "A persona is at most 4000 characters; yours has 4002", "Nothing was changed.")
	e.unchanged(before)
	mustSay(t, e.slash(alice, "persona", sub("set", str("text", "   "))), "Write something about yourself")
	mustSay(t, e.slash(alice, "persona", sub("set", str("text", "x"), str("personality", "nobody-here"))), "There is no personality called `nobody-here`")
	e.unchanged(before)

	mustSay(t, e.slash(alice, "persona", sub("clear", str("personality", "nyx"))), "Your persona for **Nyx** is removed")
	mustSay(t, e.slash(alice, "persona", sub("clear", str("personality", "nyx"))), "no persona for **Nyx** alone. Nothing was changed.")
	mustSay(t, e.slash(alice, "persona", sub("show", str("personality", "nyx"))), "your global persona")
	mustSay(t, e.slash(alice, "persona", sub("clear")), "Your global persona is removed.")
	mustSay(t, e.slash(alice, "persona", sub("show", str("personality", "nyx"))), "**Nyx** is told nothing about you.")
	e.discord.AssertMentionsSafe(t)
}

func TestKnowledgeCommands(t *testing.T) {
	e := newEnv(t)
	owner, stranger := e.user(), e.user()
	nyx := e.personalityOf(owner, "nyx", "Nyx")
	e.personalityOf(stranger, "other", "Other")

	before := e.snapshot()
	a := e.slash(stranger, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", "Secret"), str("content", "x"))))
	mustSay(t, a, "Only the owner of **Nyx** (or the bot's owners) can change it. Nothing was changed.")
	mustSay(t, e.slash(stranger, "personality", group("knowledge", sub("list", str("personality", "nyx")))), "Only the owner of **Nyx**")
	e.unchanged(before)

	a = e.slash(owner, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", "The Old Tower"),
		str("content", "A tower on the hill whose bell has not rung in a hundred years."), str("keys", "tower, the old tower ,bell,,Tower"),
		integer("priority", 7))))
	mustSay(t, a, "Added `#", "**The Old Tower**", "**Nyx**", "priority 7", "`tower`, `the old tower`, `bell`")
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", "Rule"),
		str("content", "Never lie."), boolean("always_on", true)))), "used in every reply")
	for i := range 10 {
		e.slash(ownerOrBot(i, owner), "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", fmt.Sprintf("Fact %d", i)),
			str("content", fmt.Sprintf("Fact number %d.", i)))))
	}
	var entries int
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM personality_stories WHERE personality_id = $1`, nyx).Scan(&entries); err != nil || entries != 12 {
		t.Fatalf("%d entries, %v", entries, err)
	}
	a = e.slash(owner, "personality", group("knowledge", sub("list", str("personality", "nyx"))))
	mustSay(t, a, "What **Nyx** knows: 12 entries (page 1 of 2", "**Rule** · always on", "**The Old Tower** · priority 7 · keys: `tower`",
		"/personality knowledge list personality:nyx page:2")
	if strings.Index(a.Content, "**Rule**") > strings.Index(a.Content, "**The Old Tower**") {
		t.Error("the always-on entry is not listed first")
	}
	a = e.slash(owner, "personality", group("knowledge", sub("list", str("personality", "nyx"), integer("page", 2))))
	mustSay(t, a, "page 2 of 2")

	// Refusals, with nothing changed.
	before = e.snapshot()
	var stories int
	_ = e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM personality_stories`).Scan(&stories)
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", "t"),
		str("content", strings.Repeat("z", store.MaxKnowledgeContentRunes+1))))), "the content is at most 6000 characters", "Nothing was changed.")
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("k%d", i)
	}
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", "t"),
		str("content", "c"), str("keys", strings.Join(many, ","))))), "at most 50 keys per entry (there are 51)")
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("add", str("personality", "nyx"), str("title", " "),
		str("content", "c")))), "Give the entry a title")
	// An entry of another personality is not found through this one.
	var otherEntry int64
	if err := e.store.Pool().QueryRow(context.Background(), `
INSERT INTO personality_stories (personality_id, source_system, source_id, title, content)
SELECT id, 'shapes.inc', 's-1', 'Imported', 'lore' FROM personalities WHERE slug = 'other' RETURNING id`).Scan(&otherEntry); err != nil {
		t.Fatal(err)
	}
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("remove", str("personality", "nyx"), integer("id", int(otherEntry))))),
		fmt.Sprintf("**Nyx** has no knowledge entry `#%d`", otherEntry))
	var after int
	_ = e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM personality_stories`).Scan(&after)
	if after != stories+1 {
		t.Errorf("%d stories, want %d (only the inserted one added)", after, stories+1)
	}
	e.unchanged(before)
	mustSay(t, e.slash(stranger, "personality", group("knowledge", sub("list", str("personality", "other")))), "imported (shapes.inc)")

	id := memoryIDRe.FindStringSubmatch(e.slash(owner, "personality", group("knowledge", sub("list", str("personality", "nyx")))).Content)[1]
	var n int
	fmt.Sscan(id, &n)
	mustSay(t, e.slash(owner, "personality", group("knowledge", sub("remove", str("personality", "nyx"), integer("id", n)))), "Removed `#"+id+"`")
	e.discord.AssertMentionsSafe(t)
}

// ownerOrBot alternates between the personality's owner and the bot's
// owner, who may manage any personality.
func ownerOrBot(i int, owner discordfake.User) discordfake.User {
	if i%2 == 0 {
		return owner
	}
	return discordfake.User{ID: ownerID, Username: "botowner"}
}

func TestPrivacyDeleteMyData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.user(), e.user()
	aid, bid := e.internalID(alice), e.internalID(bob)
	nyx := e.personalityOf(bob, "nyx", "Nyx")
	mine := e.personalityOf(alice, "alices", "Alices")
	for _, u := range []discordfake.User{alice, bob} {
		if err := e.store.SetAPIKey(ctx, u.ID, "openai", keyGood); err != nil {
			t.Fatal(err)
		}
	}
	e.remember(nyx, "Alice likes tea", e.now, aid)
	e.remember(nyx, "Alice and Bob planned a trip", e.now, aid, bid)
	e.remember(nyx, "Bob likes coffee", e.now, bid)
	mustSay(t, e.slash(alice, "persona", sub("set", str("text", "I am Alice"))), "Saved")
	mustSay(t, e.slash(bob, "persona", sub("set", str("text", "I am Bob"))), "Saved")
	if _, err := e.store.Pool().Exec(ctx, `INSERT INTO usage_logs (request_id, user_id, personality_id, provider, model, kind, input_tokens)
VALUES ('r1', $1, $2, 'openai', 'gpt-4o', 'text', 500), ('r2', $3, $2, 'openai', 'gpt-4o', 'text', 70)`, aid, nyx, bid); err != nil {
		t.Fatal(err)
	}

	before := e.snapshot()
	a := e.slash(alice, "privacy", sub("delete-my-data"))
	mustSay(t, a, "This deletes everything the bot keeps about you", "- 1 API key", "- 2 memories about you", "- 1 persona",
		"- 1 usage record (kept for the bot's accounting", "- 1 personality you own: it stays, with no owner")
	btn := buttons(t, a)
	if btn["Delete my data"] == "" || btn["Cancel"] == "" {
		t.Fatalf("buttons: %v", btn)
	}
	e.unchanged(before) // asking deletes nothing
	if got := e.click(bob, btn["Delete my data"]); !strings.Contains(got.Content, "someone else's") {
		t.Errorf("Bob pressing Alice's button: %q", got.Content)
	}
	if got := e.click(alice, btn["Cancel"]); !strings.Contains(got.Content, "Nothing was changed") {
		t.Errorf("cancel: %q", got.Content)
	}
	e.unchanged(before)

	got := e.click(alice, btn["Delete my data"])
	if !strings.Contains(got.Content, "Done: everything the bot kept about you is deleted.") || !strings.Contains(got.Content, "- 1 API key") {
		t.Errorf("confirmed: %q", got.Content)
	}
	if _, known, _ := e.store.UserID(ctx, alice.ID); known {
		t.Error("Alice is still a user")
	}
	var bobMemories, aliceRefs, usage, anonymous, bobKeys int
	if err := e.store.Pool().QueryRow(ctx, `
SELECT (SELECT count(*) FROM personality_memories WHERE about_user_ids @> ARRAY[$2::bigint]),
       (SELECT count(*) FROM personality_memories WHERE about_user_ids @> ARRAY[$1::bigint] OR present_user_ids @> ARRAY[$1::bigint]),
       (SELECT sum(input_tokens) FROM usage_logs), (SELECT count(*) FROM usage_logs WHERE user_id IS NULL),
       (SELECT count(*) FROM user_api_keys WHERE user_id = $2)`, aid, bid).Scan(&bobMemories, &aliceRefs, &usage, &anonymous, &bobKeys); err != nil {
		t.Fatal(err)
	}
	if bobMemories != 1 || aliceRefs != 0 || usage != 570 || anonymous != 1 || bobKeys != 1 {
		t.Errorf("after: Bob's memories %d (want 1), Alice's %d (0), usage tokens %d (570), anonymous rows %d (1), Bob's keys %d (1)",
			bobMemories, aliceRefs, usage, anonymous, bobKeys)
	}
	if p, err := e.store.PersonalityByID(ctx, mine, 0); err != nil || p.OwnerUserID != nil {
		t.Errorf("Alice's personality: %+v, %v (want kept, ownerless)", p.OwnerUserID, err)
	}
	mustSay(t, e.slash(bob, "persona", sub("show")), "I am Bob")

	// Pressing again (a second tab), or asking again: there is nothing left.
	if got := e.click(alice, btn["Delete my data"]); !strings.Contains(got.Content, "Done") {
		t.Errorf("second press: %q", got.Content)
	}
	mustSay(t, e.slash(alice, "privacy", sub("delete-my-data")), "The bot keeps nothing about you.")
	e.discord.AssertMentionsSafe(t)
}
