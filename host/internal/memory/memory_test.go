package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/memory"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
)

// fixture is a database with one personality and two users.
type fixture struct {
	pool         *pgxpool.Pool
	mem          *memory.Store
	pers         int64
	alice, bob   int64
	owner        int64
	ctx          context.Context
	guild, chan1 string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	f := &fixture{pool: pool, mem: memory.New(pool, nil), ctx: ctx, guild: "500000000000000001", chan1: "600000000000000001"}
	for _, u := range []struct {
		id *int64
		d  string
	}{{&f.alice, "100000000000000001"}, {&f.bob, "100000000000000002"}, {&f.owner, "100000000000000003"}} {
		if err := pool.QueryRow(ctx, `INSERT INTO users (discord_id) VALUES ($1) RETURNING id`, u.d).Scan(u.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := pool.QueryRow(ctx, `INSERT INTO personalities (slug, name, owner_user_id) VALUES ('mira', 'Mira', $1) RETURNING id`, f.owner).Scan(&f.pers); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) add(t *testing.T, m memory.NewMemory) int64 {
	t.Helper()
	if m.PersonalityID == 0 {
		m.PersonalityID = f.pers
	}
	id, err := f.mem.Add(f.ctx, m)
	if err != nil {
		t.Fatalf("add %q: %v", m.Content, err)
	}
	return id
}

func contents(ms []memory.Memory) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Content)
	}
	return out
}

func has(ms []memory.Memory, text string) bool {
	for _, m := range ms {
		if strings.Contains(m.Content, text) {
			return true
		}
	}
	return false
}

// TestMemoriesNeverCrossUsers is the privacy rule with two users and a
// shared channel (docs/security.md, "Memories").
func TestMemoriesNeverCrossUsers(t *testing.T) {
	f := newFixture(t)
	// Alice's DM with Mira.
	f.add(t, memory.NewMemory{Content: "Alice told Mira in private that she is afraid of thunderstorms.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	// Bob's DM with Mira.
	f.add(t, memory.NewMemory{Content: "Bob confided that his thunderstorm photos won a prize.", AboutUserIDs: []int64{f.bob}, IsDM: true})
	// The shared channel: about Alice, Bob was present.
	f.add(t, memory.NewMemory{Content: "In the guild, Alice said thunderstorms make her sing.", AboutUserIDs: []int64{f.alice},
		PresentUserIDs: []int64{f.alice, f.bob}, ChannelID: f.chan1, GuildID: f.guild})
	// Another guild: about Alice only, Bob not there.
	f.add(t, memory.NewMemory{Content: "Elsewhere Alice said thunderstorms remind her of home.", AboutUserIDs: []int64{f.alice},
		ChannelID: "600000000000000009", GuildID: "500000000000000009"})

	q := func(user int64, dm bool, guild string) []memory.Memory {
		b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: user, IsDM: dm, GuildID: guild,
			ChannelID: f.chan1, Text: "tell me about thunderstorms", Budget: 4000})
		if err != nil {
			t.Fatal(err)
		}
		return b.Memories
	}

	// Bob in the shared channel: only the memory formed there (he was
	// present); never Alice's DM, never the other guild's, and not his own
	// DM either (a DM never reaches a shared channel).
	got := q(f.bob, false, f.guild)
	if !has(got, "make her sing") || has(got, "afraid") || has(got, "remind her of home") || has(got, "won a prize") {
		t.Fatalf("bob in the shared channel got %q", contents(got))
	}
	// Bob in his DM: his own DM memory and the shared one he was present
	// for; nothing of Alice's DM or the guild he was not in.
	got = q(f.bob, true, "")
	if !has(got, "won a prize") || !has(got, "make her sing") || has(got, "afraid") || has(got, "remind her of home") {
		t.Fatalf("bob in DMs got %q", contents(got))
	}
	// Alice in her DM: all of hers, nothing of Bob's.
	got = q(f.alice, true, "")
	if !has(got, "afraid") || !has(got, "make her sing") || !has(got, "remind her of home") || has(got, "won a prize") {
		t.Fatalf("alice in DMs got %q", contents(got))
	}
	// Alice in the shared guild: that guild's memory only; her DM stays out.
	got = q(f.alice, false, f.guild)
	if !has(got, "make her sing") || has(got, "afraid") || has(got, "remind her of home") {
		t.Fatalf("alice in the shared channel got %q", contents(got))
	}
	// The owner, in the same guild, sees none of it.
	if got = q(f.owner, false, f.guild); len(got) != 0 {
		t.Fatalf("the owner got %q", contents(got))
	}
}

func TestImportedMemoriesBelongToTheOwner(t *testing.T) {
	f := newFixture(t)
	// As the importer writes them: source_id set, nothing about who.
	_, err := f.pool.Exec(f.ctx, `INSERT INTO personality_memories (personality_id, source_system, source_id, content, discord_channel_id, discord_guild_id)
		VALUES ($1, 'shapes', 'a', 'The owner keeps a lighthouse log.', NULL, NULL),
		       ($1, 'shapes', 'b', 'The owner sang in the guild choir.', $2, $3)`, f.pers, f.chan1, f.guild)
	if err != nil {
		t.Fatal(err)
	}
	var about, present []int64
	var dm bool
	var formed string
	if err := f.pool.QueryRow(f.ctx, `SELECT about_user_ids, present_user_ids, is_dm, formed_by FROM personality_memories WHERE source_id = 'a'`).
		Scan(&about, &present, &dm, &formed); err != nil {
		t.Fatal(err)
	}
	if len(about) != 1 || about[0] != f.owner || len(present) != 1 || !dm || formed != "import" {
		t.Fatalf("imported row: about %v present %v dm %v formed %q", about, present, dm, formed)
	}
	b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.owner, IsDM: true, Text: "lighthouse choir", Budget: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if !has(b.Memories, "lighthouse log") || !has(b.Memories, "guild choir") {
		t.Fatalf("owner in DMs got %q", contents(b.Memories))
	}
	b, _ = f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "lighthouse choir", Budget: 2000})
	if len(b.Memories) != 0 {
		t.Fatalf("another user got the owner's imported memories: %q", contents(b.Memories))
	}

	// An ownerless import gets its owner later: the memories follow.
	var p2 int64
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO personalities (slug, name) VALUES ('solo', 'Solo') RETURNING id`).Scan(&p2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO personality_memories (personality_id, source_system, source_id, content) VALUES ($1, 'shapes', 'c', 'Solo remembers the harbour.')`, p2); err != nil {
		t.Fatal(err)
	}
	b, _ = f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: p2, UserID: f.alice, IsDM: true, Text: "harbour", Budget: 2000})
	if len(b.Memories) != 0 {
		t.Fatalf("an ownerless import's memory was shown: %q", contents(b.Memories))
	}
	if _, err := f.pool.Exec(f.ctx, `UPDATE personalities SET owner_user_id = $1 WHERE id = $2`, f.alice, p2); err != nil {
		t.Fatal(err)
	}
	b, _ = f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: p2, UserID: f.alice, IsDM: true, Text: "harbour", Budget: 2000})
	if !has(b.Memories, "harbour") {
		t.Fatalf("the new owner does not get the import's memories: %q", contents(b.Memories))
	}
	// Handing the personality on does not hand on the memories.
	if _, err := f.pool.Exec(f.ctx, `UPDATE personalities SET owner_user_id = $1 WHERE id = $2`, f.bob, p2); err != nil {
		t.Fatal(err)
	}
	b, _ = f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: p2, UserID: f.bob, IsDM: true, Text: "harbour", Budget: 2000})
	if len(b.Memories) != 0 {
		t.Fatalf("a new owner got the previous owner's memories: %q", contents(b.Memories))
	}
}

func TestAOneMegabyteMemoryIsRefusedWithAReason(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("remember this ", 1<<20/14)
	_, err := f.mem.Add(f.ctx, memory.NewMemory{PersonalityID: f.pers, Content: big, AboutUserIDs: []int64{f.alice}})
	var tl *memory.TooLongError
	if !errors.As(err, &tl) || !errors.Is(err, memory.ErrTooLong) {
		t.Fatalf("a 1 MB memory: got %v, want a TooLongError", err)
	}
	if !strings.Contains(err.Error(), "at most 16000 characters") {
		t.Fatalf("the message does not say the limit: %q", err)
	}
	// The database refuses it too, whoever writes.
	_, err = f.pool.Exec(f.ctx, `INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, is_dm, formed_by)
		VALUES ($1, 'tzurot', $2, ARRAY[$3::bigint], true, 'summary')`, f.pers, big, f.alice)
	if err == nil || !strings.Contains(err.Error(), "personality_memories_content_length") {
		t.Fatalf("the database took a 1 MB memory: %v", err)
	}
	var n int
	_ = f.pool.QueryRow(f.ctx, `SELECT count(*) FROM personality_memories`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows written", n)
	}
	// The longest allowed one is stored and found.
	edge := strings.Repeat("x", memory.MaxContentRunes-len(" comet")) + " comet"
	f.add(t, memory.NewMemory{Content: edge, AboutUserIDs: []int64{f.alice}, IsDM: true})
	b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "comet", Budget: 32000})
	if err != nil || len(b.Memories) != 1 {
		t.Fatalf("the longest memory: %v, %d found", err, len(b.Memories))
	}
}

// TestSearchTextIsJustWords: tsquery syntax and SQL in what a user types
// never reaches the query as anything but words.
func TestSearchTextIsJustWords(t *testing.T) {
	f := newFixture(t)
	f.add(t, memory.NewMemory{Content: "Alice drinks her tea with honey.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	f.add(t, memory.NewMemory{Content: "Alice's cat is called Pickle.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	for _, text := range []string{
		"tea & | ! ( ) : * <-> <2>",
		"'; DROP TABLE personality_memories; -- tea",
		"honey:* & !(tea | cat)",
		`tea') OR 1=1 --`,
		"\\x00 tea \u0000 \"tea",
		"-tea or or OR",
		strings.Repeat("(", 5000) + " tea",
		"",
	} {
		b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: text, Budget: 2000})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(b.Memories) != 2 {
			t.Fatalf("%q: %d memories (matches and the latest ones should be there)", text, len(b.Memories))
		}
		if strings.Contains(text, "tea") && !strings.Contains(b.Memories[0].Content, "tea") {
			t.Fatalf("%q: the tea memory is not first: %q", text, contents(b.Memories))
		}
	}
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM personality_memories`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("table after the hostile searches: %d rows, %v", n, err)
	}
	if got := memory.SearchWords("a&b|c!(d):*e or f -g", 10); got != "g or f or e or d or c or b or a" {
		t.Fatalf("SearchWords = %q", got)
	}
}

// TestLanguagesWithoutAStemmer: Hebrew and Japanese memories of an English
// personality are indexed with 'simple' and found by their words.
func TestLanguagesWithoutAStemmer(t *testing.T) {
	f := newFixture(t)
	he := f.add(t, memory.NewMemory{Content: "אליס אוהבת תה עם נענע", AboutUserIDs: []int64{f.alice}, IsDM: true})
	ja := f.add(t, memory.NewMemory{Content: "アリスは 緑茶 が好き", AboutUserIDs: []int64{f.alice}, IsDM: true})
	en := f.add(t, memory.NewMemory{Content: "Alice is running a marathon.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	for id, want := range map[int64]string{he: "simple", ja: "simple", en: "english"} {
		var lang string
		if err := f.pool.QueryRow(f.ctx, `SELECT language::text FROM personality_memories WHERE id = $1`, id).Scan(&lang); err != nil || lang != want {
			t.Fatalf("memory %d indexed as %q (%v), want %q", id, lang, err, want)
		}
	}
	for text, want := range map[string]string{"מה עם נענע?": "נענע", "緑茶 は?": "緑茶", "she runs": "marathon"} {
		b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: text, Budget: 2000})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Memories) == 0 || !strings.Contains(b.Memories[0].Content, want) || b.Memories[0].Score == 0 {
			t.Fatalf("%q: got %q first, want the one with %q as a match", text, contents(b.Memories), want)
		}
	}
}

func TestRankingUsesImportanceAndRecency(t *testing.T) {
	f := newFixture(t)
	old := time.Now().AddDate(-3, 0, 0)
	f.add(t, memory.NewMemory{Content: "Alice likes sailing boats.", AboutUserIDs: []int64{f.alice}, IsDM: true, RememberedAt: old})
	f.add(t, memory.NewMemory{Content: "Alice bought new sailing boats.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	f.add(t, memory.NewMemory{Content: "Alice once capsized sailing boats.", AboutUserIDs: []int64{f.alice}, IsDM: true, Importance: 1, RememberedAt: old})
	b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "sailing boats", Budget: 2000})
	if err != nil {
		t.Fatal(err)
	}
	got := contents(b.Memories)
	if len(got) != 3 || !strings.Contains(got[0], "bought") || !strings.Contains(got[2], "likes") {
		t.Fatalf("order %q: want the recent one, the important old one, then the unimportant old one", got)
	}
}

func TestBudgetCutsInOrder(t *testing.T) {
	f := newFixture(t)
	if err := f.mem.SetPersona(f.ctx, f.alice, 0, "I am Alice, a beekeeper. "+strings.Repeat("I like bees. ", 200)); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		f.add(t, memory.NewMemory{Content: fmt.Sprintf("Memory %02d: Alice talked about bees and honey for a while. %s", i, strings.Repeat("Buzz. ", 20)), AboutUserIDs: []int64{f.alice}, IsDM: true})
	}
	for _, budget := range []int{0, 50, 200, 1000} {
		b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "bees", Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		if budget == 0 {
			// 0 means the personality's own budget (default 1000).
			if b.Budget != memory.DefaultBudgetTokens {
				t.Fatalf("default budget %d", b.Budget)
			}
		} else if b.Used > budget {
			t.Fatalf("budget %d: used %d", budget, b.Used)
		}
		if b.Persona == nil || !strings.HasPrefix(b.Persona.Content, "I am Alice") {
			t.Fatalf("budget %d: persona %v", budget, b.Persona)
		}
		if memory.Tokens(b.Persona.Content) > b.Budget/4 {
			t.Fatalf("budget %d: the persona took %d tokens", b.Budget, memory.Tokens(b.Persona.Content))
		}
	}
	b, _ := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "bees", Budget: 1000})
	if len(b.Memories) == 0 || len(b.Memories) == 30 {
		t.Fatalf("budget 1000: %d memories; want some, cut", len(b.Memories))
	}
}

func TestPersonaPrecedence(t *testing.T) {
	f := newFixture(t)
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO personality_user_personalizations (personality_id, user_id, source_system, source_id, preferred_name, pronouns, backstory)
		VALUES ($1, $2, 'shapes', 'backup-owner', 'Sam', 'they/them', 'A night-shift nurse.')`, f.pers, f.alice); err != nil {
		t.Fatal(err)
	}
	get := func() *memory.Persona {
		b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Budget: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return b.Persona
	}
	if p := get(); p == nil || p.Source != "import" || p.Content != "Name: Sam\nPronouns: they/them\nA night-shift nurse." {
		t.Fatalf("imported personalization: %+v", p)
	}
	if err := f.mem.SetPersona(f.ctx, f.alice, 0, "Global Alice."); err != nil {
		t.Fatal(err)
	}
	if p := get(); p == nil || p.Content != "Global Alice." {
		t.Fatalf("global persona: %+v", p)
	}
	if err := f.mem.SetPersona(f.ctx, f.alice, f.pers, "Mira's Alice."); err != nil {
		t.Fatal(err)
	}
	if err := f.mem.SetPersona(f.ctx, f.alice, f.pers, "Mira's Alice, again."); err != nil {
		t.Fatal(err)
	}
	if p := get(); p == nil || p.Content != "Mira's Alice, again." || p.Source != "personality" {
		t.Fatalf("personality persona: %+v", p)
	}
	if ok, err := f.mem.ClearPersona(f.ctx, f.alice, f.pers); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	if p := get(); p == nil || p.Content != "Global Alice." {
		t.Fatalf("after clear: %+v", p)
	}
	if err := f.mem.SetPersona(f.ctx, f.alice, 0, strings.Repeat("x", 4001)); !errors.Is(err, memory.ErrPersonaInvalid) {
		t.Fatalf("a 4001-character persona: %v", err)
	}
}

func TestKnowledgeKeysAlwaysOnAndMatches(t *testing.T) {
	f := newFixture(t)
	_, err := f.pool.Exec(f.ctx, `INSERT INTO personality_stories (personality_id, source_system, source_id, title, content, keys, always_on, priority) VALUES
		($1, 'tzurot', '1', 'The Vault', 'The vault under the harbour holds the old charts.', '{Vault}', false, 5),
		($1, 'tzurot', '2', 'Rules', 'Mira never lies about the tide.', '{}', true, 0),
		($1, 'tzurot', '3', 'Lanterns', 'Green lanterns mean a ship is leaving.', '{}', false, 9),
		($1, 'tzurot', '4', 'Unrelated', 'The bakery opens at six.', '{bread}', false, 100)`, f.pers)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "what is in the VAULT? and the lanterns?", Budget: 2000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range b.Knowledge {
		got = append(got, k.Title+"/"+k.Why)
	}
	if strings.Join(got, ",") != "Rules/always,The Vault/key,Lanterns/match" {
		t.Fatalf("knowledge %q", got)
	}
}

// TestForgetWhileAReplyIsBuilt: a memory deleted while retrieval runs is
// either in that one reply or not, never an error, and never in the next.
func TestForgetWhileAReplyIsBuilt(t *testing.T) {
	f := newFixture(t)
	var ids []int64
	for i := range 200 {
		ids = append(ids, f.add(t, memory.NewMemory{Content: fmt.Sprintf("Alice's secret number %d is about kites.", i), AboutUserIDs: []int64{f.alice}, IsDM: true}))
	}
	done := make(chan error)
	go func() {
		for _, id := range ids {
			if err := f.mem.Forget(f.ctx, f.alice, id); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 20 {
		if _, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "kites", Budget: 1000}); err != nil {
			t.Fatalf("retrieve while forgetting: %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "kites", Budget: 1000})
	if err != nil || len(b.Memories) != 0 {
		t.Fatalf("after forgetting: %q, %v", contents(b.Memories), err)
	}
	kept := f.add(t, memory.NewMemory{Content: "Alice flies kites on Sundays.", AboutUserIDs: []int64{f.alice}, IsDM: true})
	if err := f.mem.Forget(f.ctx, f.bob, kept); !errors.Is(err, memory.ErrNotFound) {
		t.Fatalf("bob forgetting a memory about alice: %v", err)
	}
	b, _ = f.mem.Retrieve(f.ctx, memory.Query{PersonalityID: f.pers, UserID: f.alice, IsDM: true, Text: "kites", Budget: 1000})
	if len(b.Memories) != 1 {
		t.Fatalf("bob's forget removed alice's memory: %q", contents(b.Memories))
	}
}
